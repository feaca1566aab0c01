"""The rows behind webhook events' ``data``, looked up by the id ``webhook_events.emit`` was given: the
REST edge's renderers (``api.webhook_payloads``) turn them into JSON the way its views do."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.errors import NotFound
from caldee_dav.models import Booking, Collection, EventType, InboundMessage, Lead
from caldee_dav.scheduling import bookings, calendar_events
from caldee_dav.scheduling.calendar_events import EventView
from caldee_dav.scheduling.inbound_mail import LoggedMessage
from caldee_dav.scheduling.leads import LeadView


def booking(session: Session, booking_id: str) -> tuple[Booking, EventType]:
    row = session.get(Booking, booking_id)
    if row is None:
        raise NotFound(f"No booking {booking_id!r}.")
    return row, bookings.event_type_of(session, row)


def lead(session: Session, lead_id: str) -> LeadView:
    row = session.get(Lead, lead_id)
    event_type = session.get(EventType, row.event_type_id) if row is not None else None
    if row is None or event_type is None:
        raise NotFound(f"No lead {lead_id!r}.")
    return LeadView(row, event_type)


def split_event_ident(ident: str) -> tuple[str, str]:
    """``{calendarId}/{eventId}`` (``webhook_events.event_resource``) as its two ids."""
    calendar_id, _, event_ref = ident.partition("/")
    return calendar_id, event_ref


def event(session: Session, ident: str) -> EventView:
    """The event or occurrence as ``GET /calendars/{calendarId}/events/{eventId}`` reads it."""
    calendar_id, event_ref = split_event_ident(ident)
    owner_id = session.scalars(select(Collection.owner_id).where(Collection.public_id == calendar_id)).first()
    if owner_id is None:
        raise NotFound(f"No calendar {calendar_id!r}.")
    return calendar_events.get_event(session, owner_id, calendar_id, event_ref)


def inbound_message(session: Session, message_id: str) -> LoggedMessage:
    row = session.get(InboundMessage, message_id)
    calendar = session.get(Collection, row.collection_id) if row is not None else None
    if row is None or calendar is None:
        raise NotFound(f"No inbound message {message_id!r}.")
    return LoggedMessage(row, calendar.public_id)
