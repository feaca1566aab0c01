"""What a fast-path handler returns, and how it says "let Radicale answer this"."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class NotHandled(Exception):  # noqa: N818 - a signal, not an error
    """The request is outside what the fast path answers: Radicale answers it."""


# Marks answers given by the fast path (for operators and tests comparing it with Radicale's).
ANSWERED_BY = ("X-Caledee-Answered-By", "store")
# Answers are compressed at level 1: for iCalendar text it is several times faster than zlib's
# default and still shrinks a calendar about fourfold.
GZIP_LEVEL = 1


@dataclass
class DavAnswer:
    status: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def send(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = self.body
        headers = [*self.headers, ANSWERED_BY]
        if body and "gzip" in _accept_encodings(environ):
            compressor = zlib.compressobj(GZIP_LEVEL, wbits=16 + zlib.MAX_WBITS)
            body = compressor.compress(body) + compressor.flush()
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response(self.status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def xml_answer(body: str) -> DavAnswer:
    return DavAnswer("207 Multi-Status", body.encode(), [("Content-Type", "text/xml; charset=utf-8")])


def _accept_encodings(environ: dict[str, Any]) -> list[str]:
    return [part.split(";")[0].strip() for part in environ.get("HTTP_ACCEPT_ENCODING", "").split(",")]
