"""Request parsing at the edge: JSON bodies and query strings into pydantic models."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from caldee_dav.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> M:
    """The request body as ``model``; a non-JSON body is a 400, and so is each validation issue."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise InvalidInput("The request body must be a JSON object.")
    return model.model_validate(data)


def query_args(model: type[M]) -> M:
    """The query string as ``model`` (repeated keys become lists only where the model wants a list)."""
    values: dict[str, Any] = {}
    for key in request.args:
        items = request.args.getlist(key)
        field = model.model_fields.get(key)
        wants_list = field is not None and "list" in str(field.annotation)
        values[key] = items if wants_list else items[-1]
    return model.model_validate(values)


__all__ = ["json_body", "query_args", "ValidationError"]
