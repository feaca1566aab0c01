"""Request parsing at the edge: JSON bodies and query strings into pydantic models.

Every problem of one request is reported at once: pydantic's own (types, unknown fields) and, for a body
whose values the domain checks further, the domain's pure checks of the fields pydantic accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from caldee_dav.errors import FieldPath, InvalidInput, Problem

M = TypeVar("M", bound=BaseModel)
# The domain's pure checks of a body pydantic accepted: its problems, in the domain's field names.
DomainCheck = Callable[[M], Sequence[Problem]]

# Pydantic names the member of a union that failed ("str", "int", "list[str]", "function-after[...]")
# in an error's location; a client knows only its own fields.
_UNION_TAG = re.compile(r"^(?:str|int|float|bool|none|[a-z-]+\[.*\])$")


def pydantic_problems(exc: ValidationError) -> list[Problem]:
    """One problem per field pydantic refused (a union's alternatives merged), path in snake_case so that
    ``api.errors`` names it in JSON as it names the domain's problems."""
    merged: dict[FieldPath, Problem] = {}
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        path = tuple(
            part if isinstance(part, int) else _python_name(part)
            for part in error["loc"]
            if not (isinstance(part, str) and _UNION_TAG.match(part))
        )
        message = str(error["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        earlier = merged.get(path)
        if earlier is None:
            merged[path] = Problem(path, message, error["type"])
        elif message not in str(earlier.message):
            merged[path] = Problem(
                path, f"{earlier.message}, or {message[0].lower()}{message[1:]}", earlier.code
            )
    return list(merged.values())


def _python_name(part: str) -> str:
    # "from" stays "from" (api.errors maps "from_" back); camelCase becomes snake_case.
    return to_snake(part) if any(c.isupper() for c in part) else part


def invalid(problems: Sequence[Problem]) -> InvalidInput:
    """One 400 telling every problem; its message tells the first."""
    if len(problems) == 1 and not problems[0].path:
        return InvalidInput(problems[0].message, problems=problems)
    return InvalidInput.about(problems)


def _top_level(path: FieldPath) -> str | None:
    return str(path[0]) if path else None


def request_json() -> Any:
    """The request body as JSON, or None when it is not JSON. Nesting too deep for the parser (a
    hundred thousand ``[``) counts as not JSON: json raises RecursionError there, not a ValueError."""
    try:
        return request.get_json(silent=True, force=True)
    except RecursionError:
        return None


def json_body(model: type[M], check: DomainCheck[M] | None = None) -> M:
    """The request body as ``model``; every problem with it is a 400 listing them all.

    ``check``, when given, runs the domain's pure checks on the fields pydantic accepted when pydantic
    refuses others, so that a client fixing one field does not discover the next problem only then.
    """
    data = request_json()
    if not isinstance(data, dict):
        raise invalid([Problem((), "The request body must be a JSON object.", "invalid_json")])
    nul_problems = [nul_problem(path) for path in paths_with_nul(data)]
    if nul_problems:
        raise invalid(nul_problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = pydantic_problems(exc)
    if check is not None:
        refused = {_top_level(p.path) for p in problems}
        rest = {key: value for key, value in data.items() if _python_name(key) not in refused}
        try:
            partial = model.model_validate(rest)
        except ValidationError:
            partial = None  # a required field is missing: the domain cannot look further
        if partial is not None:
            problems += [p for p in check(partial) if _top_level(p.path) not in refused]
    raise invalid(problems)


# How many NUL characters a request is searched for at most before it is refused for them.
MAX_NUL_REPORTS = 20


def paths_with_nul(data: Any) -> list[FieldPath]:
    """Where ``data`` (parsed JSON) holds a string with a NUL character, key or value. PostgreSQL text
    cannot store one (a 500 until refused here), and no calendar text may hold it (RFC 5545). Walked
    with a stack, not recursion: the body may nest as deep as the JSON parser allowed."""
    found: list[FieldPath] = []
    stack: list[tuple[FieldPath, Any]] = [((), data)]
    while stack and len(found) < MAX_NUL_REPORTS:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    found.append(path)
                stack.append(((*path, _python_name(key)), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
    return sorted(found, key=str)


def nul_problem(path: FieldPath) -> Problem:
    return Problem(path, "must not contain the NUL character (U+0000)", "nul_character")


def query_args(model: type[M]) -> M:
    """The query string as ``model`` (repeated keys become lists only where the model wants a list);
    every malformed parameter is a 400 naming it."""
    values: dict[str, Any] = {}
    nul_problems = [
        nul_problem((key,)) for key in request.args if "\x00" in "".join(request.args.getlist(key))
    ]
    if nul_problems:
        raise invalid(nul_problems)
    for key in request.args:
        items = request.args.getlist(key)
        field = model.model_fields.get(key)
        wants_list = field is not None and "list" in str(field.annotation)
        values[key] = items if wants_list else items[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid(pydantic_problems(exc)) from None


def rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time with its offset (``2027-03-29T09:00:00+02:00``, ``...Z``); ValueError for
    anything else (a bare number such as ``0.5`` is not read as seconds since 1970)."""
    text = value.strip()
    if " " in text and "T" in text:
        text = text.replace(" ", "+")  # an unencoded "+02:00" arrives as " 02:00"
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", text):
        raise ValueError("must be an RFC 3339 date-time such as 2027-03-29T09:00:00+02:00")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time such as 2027-03-29T09:00:00+02:00") from None
    if instant.tzinfo is None:
        raise ValueError("must have a UTC offset or Z, such as 2027-03-29T09:00:00+02:00")
    return instant


__all__ = ["json_body", "query_args", "invalid", "pydantic_problems", "rfc3339", "ValidationError"]
