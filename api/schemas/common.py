"""Pydantic pieces every REST resource shares: camelCase JSON, RFC 3339 UTC times, list envelopes.

Request bodies subclass ``RequestModel`` (unknown fields are a 400, so typos do not pass silently);
responses subclass ``ResponseModel`` and go out through ``json_response`` / ``list_response``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

from flask import Response, jsonify
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel


def rfc3339(value: datetime) -> str:
    """``2027-01-04T09:30:00Z``: UTC, whole seconds, a 'Z' rather than '+00:00'."""
    if value.tzinfo is None:
        raise ValueError("naive datetime cannot be serialised")
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# Output: any aware datetime, written as RFC 3339 UTC with 'Z' (and so documented in the served contract).
UtcDateTime = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

# Times that can be scheduled. Slot and booking arithmetic (buffers, the days around a range) must
# stay clear of datetime's own limits: a booking at 9999-12-31T23:59:59Z was a 500.
EARLIEST_SCHEDULABLE = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_SCHEDULABLE = datetime(9000, 1, 1, tzinfo=UTC)


def check_schedulable(value: datetime) -> datetime:
    """``value`` when it can be scheduled; ValueError naming the range otherwise."""
    if not EARLIEST_SCHEDULABLE <= value < LATEST_SCHEDULABLE:
        raise ValueError("must be a time between the years 1970 and 9000")
    return value


# Input: an aware time that can be scheduled (a booking's start).
SchedulableDateTime = Annotated[AwareDatetime, AfterValidator(check_schedulable)]


class ApiModel(BaseModel):
    """camelCase in JSON, snake_case in Python; either is accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RequestModel(ApiModel):
    """A request body. Use Strict* types where JSON types matter ("5" is not 5, 1 is not true)."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(ApiModel):
    """A JSON document the API sends."""


def to_json(model: BaseModel) -> dict[str, object]:
    return model.model_dump(mode="json", by_alias=True)


def json_response(model: BaseModel, status: int = 200, *, location: str | None = None) -> Response:
    response = jsonify(to_json(model))
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return response


def list_response(items: Iterable[BaseModel]) -> Response:
    """The contract's list envelope ``{"data": [...]}``."""
    return jsonify({"data": [to_json(item) for item in items]})


def no_content() -> Response:
    return Response(status=204)
