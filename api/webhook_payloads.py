"""The ``data`` of webhook events: each resource as the REST API shows it, rendered by the same models
the views answer with. The domain (``scheduling.webhook_events``) may not import the edge, so the
composition roots call ``install`` to register these renderers there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.schemas.bookings import BookingOut
from api.schemas.common import to_json
from api.schemas.events import EventOut
from api.schemas.inbound import InboundMessageOut
from api.schemas.leads import LeadDetailOut
from caldee_dav.scheduling import webhook_events, webhook_resources

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def booking_data(session: Session, booking_id: str) -> dict[str, Any]:
    """As ``GET /bookings/{id}``."""
    return to_json(BookingOut.from_row(*webhook_resources.booking(session, booking_id)))


def lead_data(session: Session, lead_id: str) -> dict[str, Any]:
    """As ``GET /leads/{id}``."""
    return to_json(LeadDetailOut.from_view(webhook_resources.lead(session, lead_id)))


def event_data(session: Session, ident: str) -> dict[str, Any]:
    """As ``GET /calendars/{calendarId}/events/{eventId}`` (an occurrence's id gives the occurrence)."""
    return to_json(EventOut.from_view(webhook_resources.event(session, ident)))


def deleted_event_data(session: Session, ident: str) -> dict[str, Any]:
    calendar_id, event_id = webhook_resources.split_event_ident(ident)
    return {"id": event_id, "calendarId": calendar_id, "deleted": True}


def inbound_message_data(session: Session, message_id: str) -> dict[str, Any]:
    """As an entry of ``GET /calendars/{id}/inbound-messages``."""
    return to_json(InboundMessageOut.from_logged(webhook_resources.inbound_message(session, message_id)))


def ping_data(session: Session, webhook_id: str) -> dict[str, Any]:
    return {"webhookId": webhook_id, "message": "A test event sent with POST /webhooks/{id}/test."}


def install() -> None:
    webhook_events.register_renderer(webhook_events.BOOKING, booking_data)
    webhook_events.register_renderer(webhook_events.LEAD, lead_data)
    webhook_events.register_renderer(webhook_events.EVENT, event_data)
    webhook_events.register_renderer(webhook_events.DELETED_EVENT, deleted_event_data)
    webhook_events.register_renderer(webhook_events.INBOUND_MESSAGE, inbound_message_data)
    webhook_events.register_renderer(webhook_events.PING, ping_data)
