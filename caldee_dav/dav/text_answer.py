"""A short plain-text answer, for the WSGI layers in front of Radicale (refusals, throttling)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def text_answer(
    start_response: Callable[..., Any], status: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers])
    return [body]
