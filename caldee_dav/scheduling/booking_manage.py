"""The invitee's manage link (``/booking/{id}?token=...``): a secret per booking, stored hashed.

A booking made on a public page gets a token (``issue_token``) that is shown once, in the link; only
its SHA-256 is kept (``bookings.manage_token_hash``). Whoever holds the link may see the booking,
download its VEVENT, cancel it or move it to another free slot, through the same domain functions as
the host's REST endpoints (``bookings.cancel_booking``, ``bookings.reschedule_booking``).

A wrong or missing token and an unknown booking are the same ``NotFound``: nothing tells them apart.
The stored hash is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import icalendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.config import Settings
from caldee_dav.errors import NotFound
from caldee_dav.models import Booking, EventType, User
from caldee_dav.scheduling import booking_calendar, booking_ical, bookings, offers
from caldee_dav.scheduling.slots import COLLECTIVE, offered_slots

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100
MAX_ID_LENGTH = 40  # the ids' column


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(booking: Booking) -> str:
    """A new secret for ``booking`` (any earlier one stops working); the caller shows it once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    booking.manage_token_hash = token_hash(token)
    return token


def _not_found(booking_id: str) -> NotFound:
    return NotFound(f"No booking {booking_id[:MAX_ID_LENGTH]!r} for this link.")


def booking_by_token(session: Session, booking_id: str, token: str | None) -> Booking:
    """The booking ``booking_id`` when ``token`` is its manage token; else NotFound, whatever was wrong."""
    if not token or len(token) > MAX_TOKEN_LENGTH or len(booking_id) > MAX_ID_LENGTH or "\x00" in booking_id:
        raise _not_found(booking_id)
    booking = session.scalars(select(Booking).where(Booking.id == booking_id)).first()
    stored = booking.manage_token_hash if booking is not None else None
    # Compared even without a booking, so that the answer takes as long either way.
    matches = hmac.compare_digest(token_hash(token), stored or "0" * 64)
    if booking is None or stored is None or not matches:
        raise _not_found(booking_id)
    return booking


def reissue_token(session: Session, booking_id: str) -> str:
    """A fresh token for a booking whose answer is replayed (an Idempotency-Key retry): the first token
    was never kept in clear, so it cannot be told again; the new one replaces it."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise _not_found(booking_id)
    return issue_token(booking)


def event_type_of(session: Session, booking: Booking) -> EventType:
    return bookings.event_type_of(session, booking)


def host_of(session: Session, booking: Booking) -> User:
    host = session.get(User, booking.host_user_id)
    assert host is not None  # the foreign key guarantees it
    return host


def cancel(
    session: Session,
    settings: Settings,
    booking_id: str,
    token: str | None,
    *,
    reason: str | None,
    now: datetime,
) -> Booking:
    """Cancel as the invitee (``canceled_by`` is their email); idempotent, as the host's cancel is."""
    booking = booking_by_token(session, booking_id, token)
    return bookings.cancel_booking(
        session,
        settings,
        booking.owner_id,
        booking.id,
        reason=reason,
        canceled_by=booking.invitee_email,
        now=now,
    )


def reschedule(
    session: Session,
    settings: Settings,
    booking_id: str,
    token: str | None,
    *,
    start: datetime,
    duration_min: int | None,
    now: datetime,
) -> Booking:
    """Move the booking to ``start`` as the invitee: the host's reschedule (same checks, SEQUENCE bump)."""
    booking = booking_by_token(session, booking_id, token)
    return bookings.reschedule_booking(
        session,
        settings,
        booking.owner_id,
        booking.id,
        start=start,
        duration_min=duration_min,
        now=now,
    )


def reschedule_offer(
    session: Session,
    booking: Booking,
    start: datetime,
    end: datetime,
    duration_min: int | None,
    now: datetime,
) -> offers.Offer:
    """The starts in [start, end) that ``booking`` may move to: its event type's slots with the same hosts,
    its own time not counted against it (what ``bookings.reschedule_booking`` will accept)."""
    offers.check_range(start, end)
    event_type = event_type_of(session, booking)
    offers.require_active(event_type)
    duration = offers.choose_duration(event_type, duration_min or booking.duration_min)
    reason = offers.empty_reason(event_type, start, end, now)
    if reason is not None:
        return offers.Offer([], reason)
    host_ids = [str(h) for h in booking.host_ids or [booking.host_user_id]]
    context = offers.load_context(session, event_type)
    context = offers.EventTypeContext(
        context.event_type, context.owner, [h for h in context.hosts if h.user.id in host_ids]
    )
    if not context.hosts:
        return offers.Offer([])
    rules = offers.slot_rules(event_type, duration)
    times = offers.host_times(session, context, rules, start, end, exclude_booking=booking)
    kind = COLLECTIVE if len(host_ids) > 1 else context.kind
    return offers.Offer(offered_slots(kind, times, rules, start, end, now))


def calendar_file(session: Session, booking: Booking, now: datetime) -> str:
    """The booking's VEVENT for the invitee's own calendar: the hosts' copy with METHOD:PUBLISH (an
    event to add, not an invitation to answer)."""
    event = booking_calendar.build_event(session, booking, event_type_of(session, booking), now)
    calendar = icalendar.Calendar.from_ical(booking_ical.booking_text(event))
    calendar.add("method", "PUBLISH")
    return calendar.to_ical().decode()
