"""``/api/v2/event-types``: the contract's list plus create, read, update and delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from flask import Blueprint, Response

from api.auth import require_scopes
from api.body import json_body
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.common import json_response, list_response, no_content
from api.schemas.event_types import EventTypeIn, EventTypeOut
from caldee_dav.errors import Problem
from caldee_dav.scheduling import event_types
from caldee_dav.scheduling.editing import given_fields
from caldee_dav.scheduling.event_type_fields import field_problems

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from caldee_dav.models import EventType

bp = Blueprint("event_types", __name__)


def _out(session: Session, event_type: EventType) -> EventTypeOut:
    return EventTypeOut.from_view(
        event_types.describe_event_type(session, event_type), caledee().settings.public_url
    )


def _field_problems(*, creating: bool) -> Callable[[EventTypeIn], Sequence[Problem]]:
    """The domain's checks of the fields pydantic accepted, reported with pydantic's own problems."""

    def check(body: EventTypeIn) -> Sequence[Problem]:
        return field_problems(given_fields(body.changes()), creating)

    return check


@bp.get("/event-types")
@require_scopes("read:event-types")
def list_event_types() -> Response:
    public_url = caledee().settings.public_url
    with read_unit() as session:
        views = event_types.describe_event_types(
            session, event_types.list_event_types(session, current_user_id())
        )
        return list_response([EventTypeOut.from_view(view, public_url) for view in views])


@bp.post("/event-types")
@require_scopes("write:event-types")
def create_event_type() -> Response:
    changes = json_body(EventTypeIn, _field_problems(creating=True)).changes()
    with write_unit() as session:
        out = _out(session, event_types.create_event_type(session, current_user_id(), changes))
    return json_response(out, 201, location=f"/api/v2/event-types/{out.id}")


@bp.get("/event-types/<event_type_id>")
@require_scopes("read:event-types")
def get_event_type(event_type_id: str) -> Response:
    with read_unit() as session:
        return json_response(
            _out(session, event_types.get_event_type(session, current_user_id(), event_type_id))
        )


@bp.patch("/event-types/<event_type_id>")
@require_scopes("write:event-types")
def update_event_type(event_type_id: str) -> Response:
    changes = json_body(EventTypeIn, _field_problems(creating=False)).changes()
    with write_unit() as session:
        out = _out(session, event_types.update_event_type(session, current_user_id(), event_type_id, changes))
    return json_response(out)


@bp.delete("/event-types/<event_type_id>")
@require_scopes("write:event-types")
def delete_event_type(event_type_id: str) -> Response:
    with write_unit() as session:
        event_types.delete_event_type(session, current_user_id(), event_type_id, now=caledee().now())
    return no_content()
