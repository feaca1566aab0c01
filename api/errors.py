"""One place maps every failure to the contract's error body ``{title, message, details}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from werkzeug.exceptions import HTTPException

from caldee_dav.errors import (
    AlreadyExists,
    CaledeeError,
    Conflict,
    FieldPath,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Problem,
    Text,
    TooManyRequests,
    Unauthorized,
    render,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[CaledeeError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    PreconditionFailed: 412,
    TooManyRequests: 429,
}


# The domain names fields as Python does (``weekly_rules``); the JSON name is their camelCase, as the
# schemas' alias generator makes it, except for these (explicit aliases in api/schemas).
JSON_NAMES = {"from_": "from"}


def json_path(path: FieldPath) -> list[str]:
    """A domain field path as the API's JSON names it: ``["weeklyRules", "0", "day"]``."""
    return [JSON_NAMES.get(part, to_camel(part)) if isinstance(part, str) else str(part) for part in path]


def json_text(text: Text) -> str:
    """A domain message with the fields it names in JSON names: ``weeklyRules.0.day``."""
    return render(text, lambda path: ".".join(json_path(path)))


def problem_details(problems: list[Problem]) -> list[dict[str, Any]]:
    """The error body's ``details``: one ``{path, message, code}`` per problem (no code when it has none)."""
    details = []
    for problem in problems:
        detail: dict[str, Any] = {"path": json_path(problem.path), "message": json_text(problem.message)}
        if problem.code is not None:
            detail["code"] = problem.code
        details.append(detail)
    return details


def error_response(
    status: int, title: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    body: dict[str, Any] = {"title": title, "message": message}
    if details is not None:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": [str(p) for p in e["loc"]], "message": e["msg"], "code": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CaledeeError)
    def _domain(exc: CaledeeError) -> Response:
        status = next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
        details = problem_details(exc.problems) if exc.problems else None
        response = error_response(status, exc.title, json_text(exc.text), details)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="caledee"'
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        details = validation_details(exc)
        first = details[0] if details else {"path": [], "message": "invalid request"}
        where = ".".join(first["path"]) or "body"
        return error_response(400, "Invalid Argument", f"`{where}`: {first['message']}", details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.name, exc.description or exc.name)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "Internal Error", "The server failed to answer; the error is logged.")
