"""Domain exceptions. They carry fields; each edge (REST, Radicale, SMTP, CLI) translates them once."""

from __future__ import annotations

from typing import Any


class CaledeeError(Exception):
    """Base of every domain error."""

    title = "Error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(CaledeeError):
    title = "Not Found"


class AlreadyExists(CaledeeError):
    title = "Already Exists"


class InvalidInput(CaledeeError):
    title = "Invalid Argument"


class PreconditionFailed(CaledeeError):
    title = "Precondition Failed"

    def __init__(self, href: str, expected: str | None, actual: str | None) -> None:
        super().__init__(f"{href}: expected ETag {expected!r}, found {actual!r}")
        self.href, self.expected, self.actual = href, expected, actual


class Conflict(CaledeeError):
    """The request is well formed but the current state refuses it (slot taken, inactive type...)."""

    title = "Conflict"


class Unauthorized(CaledeeError):
    title = "Unauthorized"


class Forbidden(CaledeeError):
    title = "Forbidden"
