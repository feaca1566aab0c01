"""Listing the bookings a user sees: filters and keyset (cursor) pagination.

A user sees the bookings of their own event types, those they host (every host of a collective
booking, the chosen host of a round robin one) and those of the teams they own or administer.

Order is by start, then id, so pages stay stable while bookings are added; the cursor is the
(start, id) of the last booking of a page, opaque to clients (base64 of JSON).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from caldee_dav.errors import InvalidInput, Problem
from caldee_dav.models import Booking, BookingHost, EventType
from caldee_dav.scheduling import cursors, teams

# A status filter of the API and the stored statuses it covers.
STATUS_FILTERS = {
    "active": ("active",),
    "pending": ("pending",),
    "canceled": ("canceled", "declined"),
    "declined": ("declined",),
}


def visible_to(user_id: str) -> ColumnElement[bool]:
    """Bookings the user sees and may act on: owner, host, or owner/admin of the event type's team."""
    return or_(
        Booking.owner_id == user_id,
        Booking.id.in_(select(BookingHost.booking_id).where(BookingHost.user_id == user_id)),
        Booking.event_type_id.in_(
            select(EventType.id).where(EventType.team_id.in_(teams.managed_team_ids(user_id)))
        ),
    )


def list_bookings(
    session: Session,
    owner_id: str,
    *,
    status: str | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Booking], str | None]:
    """One page of the bookings the user sees and the cursor of the next page (None on the last)."""
    query = select(Booking).where(visible_to(owner_id))
    if status is not None:
        if status not in STATUS_FILTERS:
            message = f"must be one of {', '.join(STATUS_FILTERS)}"
            raise InvalidInput.about([Problem(("status",), message, "invalid_status")])
        query = query.where(Booking.status.in_(STATUS_FILTERS[status]))
    if start_from is not None:
        query = query.where(Booking.start_at >= start_from)
    if start_to is not None:
        query = query.where(Booking.start_at <= start_to)
    if cursor:
        after_start, after_id = cursors.decode_cursor(cursor)
        query = query.where(
            or_(Booking.start_at > after_start, and_(Booking.start_at == after_start, Booking.id > after_id))
        )
    rows = list(session.scalars(query.order_by(Booking.start_at, Booking.id).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], cursors.encode_cursor(rows[limit - 1].start_at, rows[limit - 1].id)
    return rows, None
