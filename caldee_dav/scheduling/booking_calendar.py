"""Keeps a booking's VEVENT in its hosts' calendars in step with the booking row.

The primary host's copy lives where ``booking.collection_id``/``object_href`` say (the event type's
booking calendar, or the host's first calendar). Co-hosts of a collective booking get the same VEVENT
(same UID) in their own first calendar, so every host's CalDAV client shows it. Callers run this in the
transaction that changes the booking: row and calendars change together or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars import accounts, objects
from caldee_dav.config import Settings
from caldee_dav.ical.events import Person
from caldee_dav.models import Booking, Collection, EventType, User
from caldee_dav.scheduling import booking_ical
from caldee_dav.scheduling.booking_ical import BookingEvent

VEVENT_STATUS = {
    "active": booking_ical.CONFIRMED,
    "pending": booking_ical.TENTATIVE,
    "canceled": booking_ical.CANCELLED,
    "declined": booking_ical.CANCELLED,
}


UID_SUFFIX = "@caledee"


def ical_uid(booking_id: str) -> str:
    return f"{booking_id}{UID_SUFFIX}"


def booking_id_of(uid: str) -> str | None:
    """The id of the booking whose VEVENT has ``uid`` (the inverse of ``ical_uid``); None for a UID
    no booking can have."""
    booking_id, at, domain = uid.rpartition("@")
    return booking_id if at and "@" + domain == UID_SUFFIX and booking_id else None


def object_href(uid: str) -> str:
    return f"{uid}.ics"


def booking_collection(session: Session, event_type: EventType, host: User) -> Collection | None:
    """Where a new booking of ``host`` is written: the event type's booking calendar when it belongs to
    this host, else the host's first calendar; None when the host has no calendar at all."""
    if event_type.booking_collection_id and host.id == event_type.user_id:
        chosen = store.get_collection_by_id(session, event_type.booking_collection_id)
        if chosen is not None and chosen.owner_id == host.id and chosen.tag == "VCALENDAR":
            return chosen
    calendars = accounts.user_calendars(session, host)
    return calendars[0] if calendars else None


def _person(user: User) -> Person:
    return Person(user.email, user.display_name or user.slug)


def _location_text(location: dict | None) -> str | None:
    if not location:
        return None
    return str(location.get("value") or location.get("kind") or "") or None


def build_event(session: Session, booking: Booking, event_type: EventType, now: datetime) -> BookingEvent:
    hosts = {u.id: u for u in (session.get(User, h) for h in booking.host_ids or [booking.host_user_id]) if u}
    organizer = hosts.get(booking.host_user_id) or session.get(User, booking.host_user_id)
    assert organizer is not None
    answers = [(str(a.get("label") or a.get("questionId")), str(a.get("value", ""))) for a in booking.answers]
    return BookingEvent(
        uid=booking.ical_uid,
        booking_id=booking.id,
        sequence=booking.sequence,
        status=VEVENT_STATUS[booking.status],
        start=booking.start_at,
        end=booking.end_at,
        summary=f"{event_type.name} with {booking.invitee_name}",
        organizer=_person(organizer),
        invitees=[Person(booking.invitee_email, booking.invitee_name)]
        + [Person(str(g)) for g in booking.guests or []],
        cohosts=[_person(u) for uid, u in hosts.items() if uid != booking.host_user_id],
        description=booking_ical.describe(booking.notes, answers, [str(g) for g in booking.guests or []]),
        location=_location_text(booking.location),
        stamp=now,
        created=booking.created_at,
        partstats={str(k): str(v) for k, v in (booking.attendee_partstats or {}).items()},
    )


def _put(
    session: Session, settings: Settings, collection: Collection, href: str, text: str, now: datetime
) -> None:
    prepared = objects.prepare_object(text, objects.WriteLimits.from_settings(settings), now)
    objects.put_object(session, collection, href, prepared)


def write_new(
    session: Session, settings: Settings, booking: Booking, event_type: EventType, now: datetime
) -> None:
    """Write the VEVENT of a new booking into every host's calendar."""
    text = booking_ical.booking_text(build_event(session, booking, event_type, now))
    href = object_href(booking.ical_uid)
    for host_id in booking.host_ids or [booking.host_user_id]:
        host = session.get(User, host_id)
        collection = booking_collection(session, event_type, host) if host is not None else None
        if collection is None:
            continue
        if host_id == booking.host_user_id:
            booking.collection_id, booking.object_href = collection.id, href
        _put(session, settings, collection, href, text, now)


def _copies(session: Session, booking: Booking) -> list[tuple[Collection, str]]:
    """Where the booking's VEVENT is now: the primary copy, then co-hosts' copies found by UID."""
    found: list[tuple[Collection, str]] = []
    if booking.collection_id is not None and booking.object_href:
        primary = store.get_collection_by_id(session, booking.collection_id)
        if primary is not None and store.get_object(session, primary.id, booking.object_href) is not None:
            found.append((primary, booking.object_href))
    for host_id in booking.host_ids or []:
        host = session.get(User, host_id)
        if host is None or host_id == booking.host_user_id:
            continue
        for calendar in accounts.user_calendars(session, host):
            obj = store.object_by_uid(session, calendar.id, booking.ical_uid)
            if obj is not None:
                found.append((calendar, obj.href))
                break
    return found


def write_update(
    session: Session, settings: Settings, booking: Booking, event_type: EventType, now: datetime
) -> None:
    """Rewrite every existing copy with the booking's current state (a copy a host deleted stays gone)."""
    text = booking_ical.booking_text(build_event(session, booking, event_type, now))
    for collection, href in _copies(session, booking):
        _put(session, settings, collection, href, text, now)
