"""What anyone, without a token, may see of a host's event types: the booking pages' data.

A host's active event types that are not secret are listed; a secret one is found only by its exact
slug; an inactive one, or an unknown host, is not found at all (the same 404, so nothing tells them
apart).

Anyone may book such an event type (``book``: the same checks and the same booking as the host's own
``POST /bookings``, plus the invitee's manage token, ``booking_manage``) or leave their details as a lead
(``capture_lead``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.config import Settings
from caldee_dav.errors import InvalidInput, NotFound, Problem
from caldee_dav.models import Booking, EventType, User
from caldee_dav.scheduling import booking_manage, bookings, leads

# Longer than any user's or event type's slug (their columns hold 64 and 100 characters).
MAX_SLUG_LENGTH = 100


@dataclass(frozen=True)
class PublicBooking:
    """A booking made by anyone, and the secret of its manage link (shown once, stored hashed)."""

    booking: Booking
    manage_token: str


@dataclass(frozen=True)
class PublicEventType:
    """An event type with the host who owns it (their slug, name and time zone)."""

    event_type: EventType
    host: User


def _never_a_slug(text: str) -> bool:
    """Text no slug can be (PostgreSQL refuses a NUL in a parameter: it was a 500, not the 404)."""
    return "\x00" in text or len(text) > MAX_SLUG_LENGTH


def public_host(session: Session, user_slug: str) -> User:
    if _never_a_slug(user_slug):
        raise NotFound(f"No booking page {user_slug[:MAX_SLUG_LENGTH]!r}.")
    user = session.scalars(select(User).where(User.slug == user_slug)).first()
    if user is None:
        raise NotFound(f"No booking page {user_slug!r}.")
    return user


def listed_event_types(session: Session, user_slug: str) -> tuple[User, list[EventType]]:
    """The host and their active, non-secret event types, oldest first."""
    host = public_host(session, user_slug)
    query = select(EventType).where(
        EventType.user_id == host.id, EventType.active.is_(True), EventType.secret.is_(False)
    )
    return host, list(session.scalars(query.order_by(EventType.created_at, EventType.id)))


def public_event_type(session: Session, user_slug: str, event_slug: str) -> PublicEventType:
    """The host's active event type with exactly this slug, secret or not."""
    host = public_host(session, user_slug)
    if _never_a_slug(event_slug):
        raise NotFound(f"No booking page {user_slug!r}/{event_slug[:MAX_SLUG_LENGTH]!r}.")
    event_type = session.scalars(
        select(EventType).where(EventType.user_id == host.id, EventType.slug == event_slug)
    ).first()
    if event_type is None or not event_type.active:
        raise NotFound(f"No booking page {user_slug!r}/{event_slug!r}.")
    return PublicEventType(event_type, host)


def book(
    session: Session, settings: Settings, found: PublicEventType, request: bookings.NewBooking, now: datetime
) -> PublicBooking:
    """Book the public event type ``found`` as its host's token would, and give the booking a manage
    token. The request names no event type (the page does), or names this one."""
    if request.event_type_id and request.event_type_id != found.event_type.id:
        message = "must be this event type's id, or left out (the URL names the event type)"
        raise InvalidInput.about([Problem(("event_type_id",), message, "event_type_mismatch")])
    booking = bookings.book_event_type(session, settings, found.event_type, request, now)
    token = booking_manage.issue_token(booking)
    # Written now, not by the commit's flush after the caller has shown the booking: that flush stamps
    # updated_at again, and the 201's updatedAt was a second behind the stored one when the clock
    # turned a second in between (tests/test_public_booking.py failed on it once).
    session.flush()
    return PublicBooking(booking, token)


def capture_lead(
    session: Session, found: PublicEventType, given: leads.LeadInput, now: datetime
) -> leads.Captured:
    """Create or update the lead of ``given.email`` on the public event type ``found``."""
    return leads.capture_lead(session, found.event_type, found.host, given, now)
