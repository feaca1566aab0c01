"""Stored calendar objects as the iTIP objects (RFC 5546) that outgoing iMIP mail carries (pure).

* REQUEST: the object as stored (every VEVENT and VTIMEZONE), with METHOD:REQUEST on the VCALENDAR.
* CANCEL: the same with STATUS:CANCELLED on every VEVENT; SEQUENCE stays what the object has now
  (a booking's text is rebuilt with its new SEQUENCE before it is cancelled), so clients take the
  cancellation as the latest version of the event.
* REPLY (RFC 5546 3.2.3): one VEVENT carrying only what a reply may: the replying ATTENDEE (with its
  PARTSTAT), ORGANIZER, UID, DTSTAMP (the time of the reply), SEQUENCE, RECURRENCE-ID when it answers
  one occurrence, DTSTART; with the VTIMEZONE its times name.

Caledee's private properties (``X-CALEDEE-*``: booking ids, REST metadata) never leave the server.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar

from caldee_dav.ical.events import (
    Person,
    RecurrenceKey,
    When,
    email_of,
    master_of,
    overrides_of,
)
from caldee_dav.ical.parse import main_components

REQUEST, CANCEL, REPLY = "REQUEST", "CANCEL", "REPLY"
PRODID = "-//Caledee//iTIP//EN"
PRIVATE_PREFIX = "X-CALEDEE-"
# What a REPLY's VEVENT carries besides the replying attendee, copied from the answered component.
REPLY_PROPERTIES = ("UID", "SEQUENCE", "RECURRENCE-ID", "DTSTART", "ORGANIZER")


class NotAnEvent(ValueError):
    """The text holds no VEVENT to turn into an iTIP object (or not the occurrence asked for)."""


@dataclass(frozen=True)
class Reply:
    """A REPLY object and what a human summary of it needs."""

    text: str
    organizer: Person
    attendee: Person
    partstat: str
    summary: str | None
    start: When | None


def _parsed(text: str) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise NotAnEvent(f"not iCalendar: {exc}") from exc
    if not _events(calendar):
        raise NotAnEvent("no VEVENT")
    return calendar


def _events(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in main_components(calendar) if c.name == "VEVENT"]


def _with_method(calendar: icalendar.Calendar, method: str) -> None:
    calendar.pop("METHOD", None)
    calendar.add("method", method)


def _drop_private(component: icalendar.cal.Component) -> None:
    for name in [name for name in component if name.upper().startswith(PRIVATE_PREFIX)]:
        del component[name]


def request(text: str) -> str:
    """The object as an iTIP REQUEST: the organizer's current version of the event."""
    calendar = _parsed(text)
    _with_method(calendar, REQUEST)
    for event in _events(calendar):
        _drop_private(event)
    return calendar.to_ical().decode()


def cancel(text: str) -> str:
    """The object as an iTIP CANCEL of the whole event (every VEVENT STATUS:CANCELLED)."""
    calendar = _parsed(text)
    _with_method(calendar, CANCEL)
    for event in _events(calendar):
        _drop_private(event)
        event.pop("STATUS", None)
        event.add("status", "CANCELLED")
    return calendar.to_ical().decode()


def _answered(
    calendar: icalendar.Calendar, key: RecurrenceKey | None, zone: ZoneInfo
) -> icalendar.cal.Component:
    """The component holding the answer: the occurrence's override, or the series (the first VEVENT of
    an object that has only overrides, as ``events.set_partstat`` takes it)."""
    if key is not None:
        found = overrides_of(calendar, zone).get(key)
        if found is None:
            raise NotAnEvent(f"no override for occurrence {key}")
        return found
    return master_of(calendar) or _events(calendar)[0]


def _tzids(component: icalendar.cal.Component) -> set[str]:
    found = set()
    for name in ("DTSTART", "RECURRENCE-ID"):
        prop = component.get(name)
        tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
        if tzid:
            found.add(str(tzid))
    return found


def _person(address: object) -> Person:
    name = getattr(address, "params", {}).get("CN")
    return Person(email_of(address), str(name) if name else None)


def reply(
    text: str, addresses: Sequence[str], key: RecurrenceKey | None, zone: ZoneInfo, now: datetime
) -> Reply | None:
    """The REPLY of the attendee with one of ``addresses`` (case-insensitive) to the event, or to its
    occurrence ``key`` (floating times read in ``zone``). None when there is nobody to reply to: no
    ORGANIZER, or the organizer is the replying attendee. NotAnEvent when that attendee is not invited."""
    calendar = _parsed(text)
    component = _answered(calendar, key, zone)
    wanted = {a.strip().lower() for a in addresses}
    organizer = component.get("ORGANIZER")
    if organizer is None or email_of(organizer).strip().lower() in wanted:
        return None
    attendees = component.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
    attendee = next((a for a in attendees if email_of(a).strip().lower() in wanted), None)
    if attendee is None:
        raise NotAnEvent("the replying attendee is not invited")

    answer = icalendar.Event()
    for name in REPLY_PROPERTIES:
        if name in component:
            answer[name] = copy.deepcopy(component[name])
    answer.add("dtstamp", now.astimezone(UTC))
    answer.add("attendee", copy.deepcopy(attendee))
    out = icalendar.Calendar()
    out.add("prodid", PRODID)
    out.add("version", "2.0")
    _with_method(out, REPLY)
    used = _tzids(answer)
    for timezone in calendar.walk("VTIMEZONE"):
        if str(timezone.get("TZID")) in used:
            out.add_component(copy.deepcopy(timezone))
    out.add_component(answer)
    summary = component.get("SUMMARY")
    return Reply(
        text=out.to_ical().decode(),
        organizer=_person(organizer),
        attendee=_person(attendee),
        partstat=str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
        summary=str(summary) if summary is not None else None,
        start=component.decoded("DTSTART") if "DTSTART" in component else None,
    )
