"""The public side, without a token: a host's bookable event types and their slots, and the booking
page address ``/{userSlug}/{eventSlug}`` (the event type's ``url``).

``bp`` is mounted under /api/v2 (``/public/...``); ``pages`` at the root. Until the booking pages
arrive, a page answers with the same JSON as ``GET /api/v2/public/{userSlug}/{eventSlug}``, which
points at the slots. Rate limiting of these endpoints is not done here yet.

Anyone may book (``POST .../bookings``: the body, checks, answer and ``Idempotency-Key`` of the host's
own ``POST /bookings``; the keys are kept with the host's, in a ``public:`` scope per event type) and
leave their details as a lead (``POST .../leads``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify

from api.availability import duration_problem, parse_slot_query, slots_response
from api.body import invalid, json_body, request_json
from api.bookings import PUBLIC_SCOPE, booking_json, run_once
from api.context import caledee, read_unit, write_unit
from api.schemas.common import json_response, to_json
from api.schemas.event_types import PublicEventTypeOut, PublicHostOut
from api.schemas.leads import PublicBookingIn, PublicLeadIn, PublicLeadOut
from caldee_dav.errors import Problem
from caldee_dav.scheduling import offers, public

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

bp = Blueprint("public", __name__)
pages = Blueprint("pages", __name__)


@bp.get("/public/<user_slug>")
def list_public_event_types(user_slug: str) -> Response:
    public_url = caledee().settings.public_url
    with read_unit() as session:
        host, event_types = public.listed_event_types(session, user_slug)
        return jsonify(
            {
                "host": to_json(
                    PublicHostOut(slug=host.slug, name=host.display_name, timezone=host.timezone)
                ),
                "data": [to_json(PublicEventTypeOut.from_row(et, host, public_url)) for et in event_types],
            }
        )


@bp.get("/public/<user_slug>/<event_slug>")
def get_public_event_type(user_slug: str, event_slug: str) -> Response:
    return _public_event_type(user_slug, event_slug)


@pages.get("/<user_slug>/<event_slug>")
def booking_page(user_slug: str, event_slug: str) -> Response:
    return _public_event_type(user_slug, event_slug)


def _public_event_type(user_slug: str, event_slug: str) -> Response:
    with read_unit() as session:
        found = public.public_event_type(session, user_slug, event_slug)
        return json_response(
            PublicEventTypeOut.from_row(found.event_type, found.host, caledee().settings.public_url)
        )


@bp.get("/public/<user_slug>/<event_slug>/slots")
def get_public_slots(user_slug: str, event_slug: str) -> Response:
    """The same slots GET /availability gives the host (the same service), in ``tz`` (default: the
    host's time zone)."""
    problems: list[Problem] = []
    with read_unit() as session:
        found = public.public_event_type(session, user_slug, event_slug)
        query = parse_slot_query(problems, lambda: found.host.timezone)
        if problems or query is None:
            raise invalid(problems)
        try:
            offer = offers.offer(
                session, found.event_type, query.start, query.end, query.duration, caledee().now()
            )
        except offers.DurationNotOffered as exc:
            raise duration_problem(exc) from exc
    return slots_response(offer, query.zone)


@bp.post("/public/<user_slug>/<event_slug>/bookings")
def create_public_booking(user_slug: str, event_slug: str) -> Response:
    """``POST /bookings`` for anyone, on the event type the URL names."""
    new_booking = json_body(PublicBookingIn).new_booking()
    ctx = caledee()

    def key_owner(session: Session) -> tuple[str, str]:
        # Found before the key is claimed: an unknown page is a 404 that stores nothing.
        found = public.public_event_type(session, user_slug, event_slug)
        return found.host.id, f"{PUBLIC_SCOPE}POST /public/{found.event_type.id}/bookings"

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        found = public.public_event_type(session, user_slug, event_slug)
        booking = public.book(session, ctx.settings, found, new_booking, ctx.now())
        return 201, booking_json(session, booking)

    return run_once(action, request_json(), key_owner)


@bp.post("/public/<user_slug>/<event_slug>/leads")
def capture_public_lead(user_slug: str, event_slug: str) -> Response:
    """Create (201) or update (200) the lead of this email on the event type; the answer echoes what
    was sent (see ``PublicLeadOut``)."""
    body = json_body(PublicLeadIn)
    with write_unit() as session:
        found = public.public_event_type(session, user_slug, event_slug)
        captured = public.capture_lead(session, found, body.lead_input(), caledee().now())
        out = PublicLeadOut.from_captured(captured, body.email.strip())
    return json_response(out, 201 if captured.created else 200)
