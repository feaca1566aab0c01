"""``/api/v2/calendars/{calendarId}/events`` (create, list, get, patch, delete, respond),
``/upcoming`` and ``/view``: a calendar's events as plain fields (see
``caldee_dav.scheduling.calendar_events``).

GET, POST, PATCH and respond answer with the object's ``ETag``; PATCH and DELETE honour ``If-Match``
with it (412 when the event changed since, by any client).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api.auth import require_scopes
from api.body import json_body, query_args
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.common import json_response, no_content, to_json
from api.schemas.events import (
    DeleteQuery,
    EventIn,
    EventListQuery,
    EventOut,
    RespondIn,
    UpcomingQuery,
    ViewQuery,
)
from caldee_dav.scheduling import calendar_events
from caldee_dav.scheduling.calendar_events import EventView

bp = Blueprint("events", __name__)


def _event_response(view: EventView, status: int = 200) -> Response:
    location = f"/api/v2/calendars/{view.calendar_id}/events/{view.id}" if status == 201 else None
    response = json_response(EventOut.from_view(view), status, location=location)
    response.headers["ETag"] = view.etag
    return response


def _if_match() -> str | None:
    value = request.headers.get("If-Match")
    return value.strip() if value and value.strip() else None


@bp.post("/calendars/<calendar_id>/events")
@require_scopes("write:calendars")
def create_event(calendar_id: str) -> Response:
    fields = json_body(EventIn).fields()
    ctx = caledee()
    with write_unit() as session:
        view = calendar_events.create_event(
            session, ctx.settings, current_user_id(), calendar_id, fields, ctx.now()
        )
    return _event_response(view, 201)


@bp.get("/calendars/<calendar_id>/events")
@require_scopes("read:calendars")
def list_events(calendar_id: str) -> Response:
    args = query_args(EventListQuery)
    window = calendar_events.default_window(args.start, args.end, caledee().now())
    with read_unit() as session:
        page = calendar_events.list_events(
            session,
            current_user_id(),
            calendar_id,
            window,
            status=args.status,
            limit=args.limit,
            cursor=args.cursor,
            offset=args.offset,
        )
    return jsonify(
        {"data": [to_json(EventOut.from_view(v)) for v in page.events], "nextCursor": page.next_cursor}
    )


@bp.get("/calendars/<calendar_id>/events/<event_id>")
@require_scopes("read:calendars")
def get_event(calendar_id: str, event_id: str) -> Response:
    with read_unit() as session:
        view = calendar_events.get_event(session, current_user_id(), calendar_id, event_id)
    return _event_response(view)


@bp.patch("/calendars/<calendar_id>/events/<event_id>")
@require_scopes("write:calendars")
def update_event(calendar_id: str, event_id: str) -> Response:
    fields = json_body(EventIn).fields()
    ctx = caledee()
    with write_unit() as session:
        view = calendar_events.update_event(
            session,
            ctx.settings,
            current_user_id(),
            calendar_id,
            event_id,
            fields,
            ctx.now(),
            if_match=_if_match(),
        )
    return _event_response(view)


@bp.delete("/calendars/<calendar_id>/events/<event_id>")
@require_scopes("write:calendars")
def delete_event(calendar_id: str, event_id: str) -> Response:
    args = query_args(DeleteQuery)
    ctx = caledee()
    with write_unit() as session:
        calendar_events.delete_event(
            session,
            ctx.settings,
            current_user_id(),
            calendar_id,
            event_id,
            args.mode,
            ctx.now(),
            if_match=_if_match(),
        )
    return no_content()


@bp.post("/calendars/<calendar_id>/events/<event_id>/respond")
@require_scopes("write:calendars")
def respond(calendar_id: str, event_id: str) -> Response:
    body = json_body(RespondIn)
    ctx = caledee()
    with write_unit() as session:
        view = calendar_events.respond(
            session, ctx.settings, current_user_id(), calendar_id, event_id, body.response, ctx.now()
        )
    return _event_response(view)


@bp.get("/calendars/<calendar_id>/upcoming")
@require_scopes("read:calendars")
def upcoming(calendar_id: str) -> Response:
    args = query_args(UpcomingQuery)
    with read_unit() as session:
        views, starts_in = calendar_events.upcoming(
            session, current_user_id(), calendar_id, args.limit, caledee().now()
        )
    return jsonify(
        {
            "data": [to_json(EventOut.from_view(v)) for v in views],
            "nextEventStartsIn": calendar_events.iso_duration(starts_in) if starts_in is not None else None,
        }
    )


@bp.get("/calendars/<calendar_id>/view")
@require_scopes("read:calendars")
def view(calendar_id: str) -> Response:
    args = query_args(ViewQuery)
    with read_unit() as session:
        text = calendar_events.view_text(session, current_user_id(), calendar_id, args.limit, caledee().now())
    return Response(text, mimetype="text/plain", content_type="text/plain; charset=utf-8")
