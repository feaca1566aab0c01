"""The public side, without a token (``bp``, mounted under /api/v2): a host's bookable event types and
their slots, what the booking pages (``api.pages``) call.

Anyone may book (``POST .../bookings``: the body, checks, answer and ``Idempotency-Key`` of the host's
own ``POST /bookings``; the keys are kept with the host's, in a ``public:`` scope per event type) and
leave their details as a lead (``POST .../leads``). A public booking's answer carries its manage link in
the ``Caledee-Manage-Url`` header: the invitee's ``/booking/{id}?token=...``, whose token opens
``/public/booking/{id}`` (see it, ``/cancel``, ``/reschedule``, ``/slots``) in the header
``X-Booking-Token`` or the ``token`` query parameter.

Requests are limited per client address (``api.rate_limits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from api.availability import duration_problem, parse_slot_query, slots_response
from api.body import invalid, json_body, request_json
from api.bookings import PUBLIC_SCOPE, booking_json, run_once
from api.context import caledee, read_unit, write_unit
from api.schemas.bookings import ReasonIn, RescheduleIn
from api.schemas.common import json_response, to_json
from api.schemas.event_types import PublicEventTypeOut, PublicHostOut
from api.schemas.leads import PublicBookingIn, PublicLeadIn, PublicLeadOut
from caldee_dav.errors import Problem
from caldee_dav.scheduling import booking_manage, offers, public

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

bp = Blueprint("public", __name__)

MANAGE_URL_HEADER = "Caledee-Manage-Url"
MANAGE_TOKEN_HEADER = "X-Booking-Token"


def manage_url(booking_id: str, token: str) -> str:
    """The invitee's manage page: ``{public_url}/booking/{id}?token=...``."""
    return f"{caledee().settings.public_url}/booking/{quote(booking_id)}?token={quote(token)}"


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
    return public_event_type_response(user_slug, event_slug)


def public_event_type_response(user_slug: str, event_slug: str) -> Response:
    """The event type as the public sees it (also the booking page's answer to a client asking JSON)."""
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
    """``POST /bookings`` for anyone, on the event type the URL names; the manage link in a header.

    The link's token is never stored in clear, not even in the Idempotency-Key's stored answer (the
    body): a replayed answer gets a fresh token, which replaces the one the first answer carried."""
    new_booking = json_body(PublicBookingIn).new_booking()
    ctx = caledee()
    issued: list[tuple[str, str]] = []  # (booking id, token) of the booking this request made

    def key_owner(session: Session) -> tuple[str, str]:
        # Found before the key is claimed: an unknown page is a 404 that stores nothing.
        found = public.public_event_type(session, user_slug, event_slug)
        return found.host.id, f"{PUBLIC_SCOPE}POST /public/{found.event_type.id}/bookings"

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        found = public.public_event_type(session, user_slug, event_slug)
        made = public.book(session, ctx.settings, found, new_booking, ctx.now())
        issued.append((made.booking.id, made.manage_token))
        return 201, booking_json(session, made.booking)

    response = run_once(action, request_json(), key_owner)
    if response.status_code == 201:
        if not issued:  # replayed
            booking_id = str((response.get_json() or {})["id"])
            with write_unit() as session:
                issued.append((booking_id, booking_manage.reissue_token(session, booking_id)))
        response.headers[MANAGE_URL_HEADER] = manage_url(*issued[-1])
    return response


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


# --- the invitee's manage link: /public/booking/{id}, opened by its token ------------------------------


def _manage_token() -> str | None:
    return request.headers.get(MANAGE_TOKEN_HEADER) or request.args.get("token")


@bp.get("/public/booking/<booking_id>")
def get_managed_booking(booking_id: str) -> Response:
    """The booking, as ``GET /bookings/{id}`` answers it, for the holder of its manage token."""
    with read_unit() as session:
        booking = booking_manage.booking_by_token(session, booking_id, _manage_token())
        return jsonify(booking_json(session, booking))


@bp.post("/public/booking/<booking_id>/cancel")
def cancel_managed_booking(booking_id: str) -> Response:
    """Cancel as the invitee (``canceledBy``: their email), with an optional reason."""
    body = json_body(ReasonIn) if request.get_data() else ReasonIn()
    ctx = caledee()
    with write_unit() as session:
        booking = booking_manage.cancel(
            session, ctx.settings, booking_id, _manage_token(), reason=body.reason or None, now=ctx.now()
        )
        return jsonify(booking_json(session, booking))


@bp.post("/public/booking/<booking_id>/reschedule")
def reschedule_managed_booking(booking_id: str) -> Response:
    """Move the booking to another free start, as ``POST /bookings/{id}/reschedule`` does."""
    body = json_body(RescheduleIn)
    ctx = caledee()
    with write_unit() as session:
        booking = booking_manage.reschedule(
            session,
            ctx.settings,
            booking_id,
            _manage_token(),
            start=body.start,
            duration_min=body.duration_min,
            now=ctx.now(),
        )
        return jsonify(booking_json(session, booking))


@bp.get("/public/booking/<booking_id>/slots")
def get_managed_booking_slots(booking_id: str) -> Response:
    """The starts the booking may move to (its own time free), in ``tz`` (default: the invitee's)."""
    problems: list[Problem] = []
    with read_unit() as session:
        booking = booking_manage.booking_by_token(session, booking_id, _manage_token())
        query = parse_slot_query(problems, lambda: booking.invitee_timezone)
        if problems or query is None:
            raise invalid(problems)
        try:
            offer = booking_manage.reschedule_offer(
                session, booking, query.start, query.end, query.duration, caledee().now()
            )
        except offers.DurationNotOffered as exc:
            raise duration_problem(exc) from exc
    return slots_response(offer, query.zone)
