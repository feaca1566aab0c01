"""One place maps every failure to the contract's error body ``{title, message, details}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from werkzeug.exceptions import HTTPException

from api.body import invalid, pydantic_problems
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
    WorkLimitExceeded,
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
    WorkLimitExceeded: 422,
}


# The domain names fields as Python does (``weekly_rules``); the JSON name is their camelCase, as the
# schemas' alias generator makes it, except for these (explicit aliases in api/schemas).
JSON_NAMES = {"from_": "from"}


def json_path(path: FieldPath) -> list[str]:
    """A domain field path as the API's JSON names it: ``["weeklyRules", "0", "day"]``."""
    return [_json_name(part) if isinstance(part, str) else str(part) for part in path]


def _json_name(part: str) -> str:
    # A header (``Idempotency-Key``) is named as sent; only snake_case field names become camelCase.
    return part if "-" in part else JSON_NAMES.get(part, to_camel(part))


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


def bad_request_details(message: str) -> list[dict[str, Any]]:
    """``details`` of a 400 about the request as a whole (no field to name): the path is empty."""
    return [{"path": [], "message": message, "code": "invalid"}]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CaledeeError)
    def _domain(exc: CaledeeError) -> Response:
        status = next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
        message = json_text(exc.text)
        details = problem_details(exc.problems) if exc.problems else None
        if status == 400 and details is None:  # every 400 says where, even when it is the whole request
            details = bad_request_details(message)
        response = error_response(status, exc.title, message, details)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="caledee"'
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        return _domain(invalid(pydantic_problems(exc)))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        message = exc.description or exc.name
        details = bad_request_details(message) if exc.code == 400 else None
        response = error_response(exc.code or 500, exc.name, message, details)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "Internal Error", "The server failed to answer; the error is logged.")
