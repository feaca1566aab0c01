"""What anyone, without a token, may see of a host's event types: the booking pages' data.

A host's active event types that are not secret are listed; a secret one is found only by its exact
slug; an inactive one, or an unknown host, is not found at all (the same 404, so nothing tells them
apart).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.errors import NotFound
from caldee_dav.models import EventType, User


@dataclass(frozen=True)
class PublicEventType:
    """An event type with the host who owns it (their slug, name and time zone)."""

    event_type: EventType
    host: User


def public_host(session: Session, user_slug: str) -> User:
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
    event_type = session.scalars(
        select(EventType).where(EventType.user_id == host.id, EventType.slug == event_slug)
    ).first()
    if event_type is None or not event_type.active:
        raise NotFound(f"No booking page {user_slug!r}/{event_slug!r}.")
    return PublicEventType(event_type, host)
