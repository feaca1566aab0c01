"""A user's bookings as one .ics feed (``/feeds/bookings/{userId}.ics?token=``).

Which bookings: those the user attends, as the organizer's event type owner or as a host (every host
of a collective booking, the chosen host of a round robin one); not those of teams the user only
manages. Active and pending ones (CONFIRMED, TENTATIVE) ending at most ``HISTORY_DAYS`` ago or
later, and canceled or declined ones ending at most ``CANCELED_DAYS`` ago or later, marked
STATUS:CANCELLED so that a subscribed calendar removes them; at most ``MAX_BOOKINGS``, the latest
first. Each is the same VEVENT (same UID) the hosts' calendars hold, built from the booking row, its
DTSTAMP the booking's last change so that the text (and its ETag) changes only with the bookings.

Bookings have no revision: the feed is small (bounded above), so it is rendered on each request and
its ETag is the hash of its text; a conditional request still saves the transfer.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from caldee_dav.calendars import feeds
from caldee_dav.calendars.feed_tokens import user_for_bookings_feed
from caldee_dav.ical import feed as ical_feed
from caldee_dav.models import Booking, BookingHost, EventType
from caldee_dav.scheduling import booking_calendar, booking_ical

HISTORY_DAYS = 90
CANCELED_DAYS = 30
MAX_BOOKINGS = 2000
LIVE_STATUSES = ("active", "pending")
CANCELED_STATUSES = ("canceled", "declined")


def bookings_feed(
    session: Session, user_id: str, token: str | None, settings: feeds.FeedSettings, now: datetime
) -> feeds.RenderedFeed:
    """The user's bookings feed when ``token`` is its token; FeedNotFound otherwise (one answer for
    every reason)."""
    token = feeds.plausible_token(token)
    if token is None or not feeds.plausible_id(user_id):
        raise feeds.FeedNotFound()
    user = user_for_bookings_feed(session, user_id, token)
    if user is None:
        raise feeds.FeedNotFound()
    bookings = feed_bookings(session, user.id, now)
    header = ical_feed.FeedHeader(
        name=f"Bookings of {user.display_name or user.slug}",
        timezone=user.timezone or "UTC",
        description=None,
        refresh_minutes=settings.refresh_minutes,
        year=now.year,
    )
    texts = [_booking_text(session, booking) for booking in bookings]
    body = ical_feed.render_feed(header, texts)
    last_change = max((b.updated_at for b in bookings), default=user.created_at)
    etag = hashlib.sha256(body).hexdigest()[:32]
    return feeds.RenderedFeed(body, feeds.FeedVersion(etag=etag, last_modified=last_change))


def feed_bookings(session: Session, user_id: str, now: datetime) -> list[Booking]:
    """The bookings of the feed (see the module's docstring), by start."""
    attends = or_(
        Booking.owner_id == user_id,
        Booking.id.in_(select(BookingHost.booking_id).where(BookingHost.user_id == user_id)),
    )
    shown = or_(
        and_(Booking.status.in_(LIVE_STATUSES), Booking.end_at >= now - timedelta(days=HISTORY_DAYS)),
        and_(Booking.status.in_(CANCELED_STATUSES), Booking.end_at >= now - timedelta(days=CANCELED_DAYS)),
    )
    query = (
        select(Booking)
        .where(attends, shown)
        .order_by(Booking.start_at.desc(), Booking.id)
        .limit(MAX_BOOKINGS)
    )
    return sorted(session.scalars(query), key=lambda b: (b.start_at, b.id))


def _booking_text(session: Session, booking: Booking) -> str:
    event_type = session.get(EventType, booking.event_type_id)
    assert event_type is not None  # a booking's event type is deleted with it (ON DELETE CASCADE)
    event = booking_calendar.build_event(session, booking, event_type, booking.updated_at)
    # DTSTAMP is the booking's last change, not now: the same bookings give the same text.
    event = dataclasses.replace(event, stamp=booking.updated_at)
    return booking_ical.booking_text(event)
