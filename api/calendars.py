"""``/api/v2/calendars``: a user's calendars (the same ones CalDAV clients see), the rotation of their
feed and inbound tokens, and ``/api/v2/me/bookings-feed-token``."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response

from api.auth import require_scopes
from api.body import json_body
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.calendars import (
    BookingsFeedOut,
    CalendarIn,
    CalendarOut,
    CalendarUpdateIn,
    CalendarWithFeedsOut,
)
from api.schemas.common import json_response, list_response, no_content
from caldee_dav.errors import Problem
from caldee_dav.scheduling import calendars_admin

bp = Blueprint("calendars", __name__)


# The domain's checks of the fields pydantic accepted, reported with pydantic's own problems.
def _create_problems(body: CalendarIn) -> Sequence[Problem]:
    return calendars_admin.field_problems(body.changes(), creating=True)


def _update_problems(body: CalendarUpdateIn) -> Sequence[Problem]:
    return calendars_admin.field_problems(body.changes(), creating=False)


@bp.get("/calendars")
@require_scopes("read:calendars")
def list_calendars() -> Response:
    settings = caledee().settings
    with read_unit() as session:
        views = calendars_admin.list_calendars(session, current_user_id())
        return list_response([CalendarOut.from_view(view, settings) for view in views])


@bp.post("/calendars")
@require_scopes("write:calendars")
def create_calendar() -> Response:
    changes = json_body(CalendarIn, _create_problems).changes()
    with write_unit() as session:
        view = calendars_admin.create_calendar(session, current_user_id(), changes)
        out = CalendarWithFeedsOut.from_view(view, caledee().settings)
    return json_response(out, 201, location=f"/api/v2/calendars/{out.id}")


@bp.get("/calendars/<calendar_id>")
@require_scopes("read:calendars")
def get_calendar(calendar_id: str) -> Response:
    with read_unit() as session:
        view = calendars_admin.get_calendar(session, current_user_id(), calendar_id)
        return json_response(CalendarOut.from_view(view, caledee().settings))


@bp.patch("/calendars/<calendar_id>")
@require_scopes("write:calendars")
def update_calendar(calendar_id: str) -> Response:
    changes = json_body(CalendarUpdateIn, _update_problems).changes()
    with write_unit() as session:
        view = calendars_admin.update_calendar(session, current_user_id(), calendar_id, changes)
        out = CalendarOut.from_view(view, caledee().settings)
    return json_response(out)


@bp.delete("/calendars/<calendar_id>")
@require_scopes("write:calendars")
def delete_calendar(calendar_id: str) -> Response:
    context = caledee()
    with write_unit() as session:
        calendars_admin.delete_calendar(
            session, context.settings, current_user_id(), calendar_id, context.now()
        )
    return no_content()


@bp.post("/calendars/<calendar_id>/feed-token")
@require_scopes("write:calendars")
def rotate_feed_token(calendar_id: str) -> Response:
    with write_unit() as session:
        view = calendars_admin.rotate_feed_tokens(session, current_user_id(), calendar_id)
        out = CalendarWithFeedsOut.from_view(view, caledee().settings)
    return json_response(out)


@bp.post("/calendars/<calendar_id>/inbound-token")
@require_scopes("write:calendars")
def rotate_inbound_token(calendar_id: str) -> Response:
    with write_unit() as session:
        view = calendars_admin.rotate_inbound_token(session, current_user_id(), calendar_id)
        out = CalendarOut.from_view(view, caledee().settings)
    return json_response(out)


@bp.post("/me/bookings-feed-token")
@require_scopes("write:bookings")
def issue_bookings_feed_token() -> Response:
    user_id = current_user_id()
    with write_unit() as session:
        token = calendars_admin.issue_bookings_feed_token(session, user_id)
    return json_response(BookingsFeedOut.of(user_id, token, caledee().settings))
