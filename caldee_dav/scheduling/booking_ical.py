"""The booking's VEVENT as iCalendar text (pure): what CalDAV clients of every host see.

The text is rebuilt from the booking on every change (create, reschedule, confirm, cancel) with a
higher SEQUENCE, so clients treat each version as an update of the same event (same UID).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import icalendar

from caldee_dav import clock
from caldee_dav.ical.events import Person

PRODID = "-//Caledee//Bookings//EN"
CONFIRMED, TENTATIVE, CANCELLED = "CONFIRMED", "TENTATIVE", "CANCELLED"


@dataclass(frozen=True)
class BookingEvent:
    uid: str
    booking_id: str
    sequence: int
    status: str
    start: datetime
    end: datetime
    summary: str
    organizer: Person
    invitees: Sequence[Person]
    # Co-hosts of a collective booking: they attend and have already accepted.
    cohosts: Sequence[Person] = ()
    description: str | None = None
    location: str | None = None
    stamp: datetime = field(default_factory=clock.now)
    created: datetime | None = None
    # Invitees' and guests' answers (iMIP REPLY): lower-cased email -> PARTSTAT; others NEEDS-ACTION.
    partstats: Mapping[str, str] = field(default_factory=dict)


def _address(person: Person, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = person.name
    for key, value in params.items():
        address.params[key] = value
    return address


def booking_text(event: BookingEvent) -> str:
    """A VCALENDAR holding the booking's one VEVENT, all times in UTC."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", event.stamp.astimezone(UTC))
    if event.created is not None:
        vevent.add("created", event.created.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("status", event.status)
    vevent.add("summary", event.summary)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("organizer", _address(event.organizer))
    for person in event.invitees:
        answer = event.partstats.get(person.email.lower())
        answered = {"PARTSTAT": answer} if answer else {"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}
        vevent.add("attendee", _address(person, ROLE="REQ-PARTICIPANT", CUTYPE="INDIVIDUAL", **answered))
    for person in event.cohosts:
        vevent.add(
            "attendee", _address(person, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED", CUTYPE="INDIVIDUAL")
        )
    vevent.add("transp", "TRANSPARENT" if event.status == CANCELLED else "OPAQUE")
    vevent.add("x-caledee-booking-id", event.booking_id)
    calendar.add_component(vevent)
    return calendar.to_ical().decode()


def describe(notes: str | None, answers: Sequence[tuple[str, str]], guests: Sequence[str]) -> str | None:
    """The DESCRIPTION: the invitee's notes, then each answer under its question's label."""
    parts: list[str] = []
    if notes:
        parts.append(notes.strip())
    if answers:
        parts.append("\n".join(f"{label}: {value}" for label, value in answers))
    if guests:
        parts.append("Guests: " + ", ".join(guests))
    return "\n\n".join(parts) or None
