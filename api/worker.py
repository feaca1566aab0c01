"""The gunicorn worker of ``caledee serve``: gunicorn's threaded worker, whose own answers to requests
it cannot parse (a request line over its limit: 414, too many or too large headers: 431, a malformed
request: 400) go out in the API's error shape ``{title, message, details}`` instead of HTML.

gunicorn decides the status, logs and writes the access log as usual; only the bytes it would send are
replaced.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# Why gunicorn refused the request, told in a sentence; the status is gunicorn's.
MESSAGES = {
    400: "The request could not be parsed: {error}",
    414: "The request line (method, path and query) is longer than this server accepts.",
    431: "The request has too many header fields, or one too large, for this server.",
    500: "The server failed to answer; the error is logged.",
}
CODES = {400: "bad_request", 414: "request_line_too_long", 431: "headers_too_large"}


class _CapturedSocket:
    """A socket whose ``sendall`` keeps what gunicorn would send; everything else is the real socket's."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sent = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def gettimeout(self) -> float:
        return 0.0  # util.write_nonblock then leaves the real socket's blocking mode alone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def json_error(status: int, reason: str, error: BaseException) -> bytes:
    """The whole HTTP answer: the status gunicorn chose, our error body."""
    message = MESSAGES.get(status, "{error}").format(error=error)
    body: dict[str, Any] = {"title": reason, "message": message}
    if 400 <= status < 500:
        body["details"] = [{"path": [], "message": message, "code": CODES.get(status, "bad_request")}]
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode("latin-1") + payload


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        captured = _CapturedSocket(client)
        super().handle_error(req, captured, addr, exc)
        status_line = bytes(captured.sent).split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 3 or not parts[1].isdigit():
            return  # gunicorn sent nothing (it could not): neither do we
        try:
            util.write_nonblock(client, json_error(int(parts[1]), parts[2], exc))
        except Exception:
            self.log.debug("Failed to send error message.")
