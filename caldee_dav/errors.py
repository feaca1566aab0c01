"""Domain exceptions. They carry fields; each edge (REST, Radicale, SMTP, CLI) translates them once.

A message may name fields of the caller's input (``Field``): the domain names them in its own words
(Python field names and list indexes, ``weekly_rules.0.day``), and each edge names them its own way
(the REST API in camelCase JSON, ``weeklyRules.0.day``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, init=False)
class Field:
    """A field of the caller's input, named in a message by its path: ``Field("weekly_rules", 0, "day")``."""

    path: FieldPath

    def __init__(self, *path: str | int) -> None:
        object.__setattr__(self, "path", path)


# A message: plain text, or text and the fields it names.
Text = str | tuple[str | Field, ...]


def dotted(path: FieldPath) -> str:
    """A field as the domain names it: ``weekly_rules.0.day``."""
    return ".".join(str(part) for part in path)


def render(text: Text, name: Callable[[FieldPath], str] = dotted) -> str:
    """``text`` with each field it names written by ``name``."""
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else name(part.path) for part in text)


@dataclass(frozen=True)
class Problem:
    """One problem with one field of the input (a validation error lists them all)."""

    path: FieldPath
    message: Text
    code: str | None = None


class CaledeeError(Exception):
    """Base of every domain error. ``message`` is in the domain's words; ``text`` keeps the fields it
    names, for an edge to name them its own way."""

    title = "Error"

    def __init__(self, message: Text, *, problems: Sequence[Problem] = ()) -> None:
        self.text = message
        self.message = render(message)
        super().__init__(self.message)
        self.problems = list(problems)

    @classmethod
    def about(cls, problems: Sequence[Problem]) -> Self:
        """An error about fields, told by its first problem: ``"`path`: message"``."""
        first = problems[0]
        message = first.message if isinstance(first.message, tuple) else (first.message,)
        return cls(("`", Field(*first.path), "`: ", *message), problems=problems)


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


class TooManyRequests(CaledeeError):
    """The caller is refused for a while (too many failed logins); ``retry_after`` is in seconds."""

    title = "Too Many Requests"

    def __init__(self, message: Text, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkLimitExceeded(CaledeeError):
    """Answering would take more work than a request may do (a stored series too costly to expand)."""

    title = "Too Costly"
