"""``<C:expand>`` for one stored object: its recurring instances as separate VEVENTs in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from caldee_dav import ical
from caldee_dav.dav.fast.answer import NotHandled

TIME_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID")
RULE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "EXRULE")


def parse_stored(text: str) -> icalendar.Calendar:
    """A stored object icalendar cannot read was accepted by Radicale's parser: Radicale answers."""
    try:
        return ical.parse_calendar(text)
    except ical.InvalidCalendarData as exc:
        raise NotHandled from exc


# Radicale's own cap on the instances of one object in an expanded answer (its default
# max_vevent_rrule_occurrence); beyond it Radicale refuses the request, so the fast path hands it over.
MAX_EXPANDED_INSTANCES = 10_000


class TooCostlyToAnswer(Exception):
    """Expanding a stored object for this REPORT took longer than ``ical.READ_SECONDS``."""


def overlaps(text: str, start: datetime, end: datetime) -> bool:
    """Whether any VEVENT instance of the object overlaps [start, end) (objects the index cannot prove)."""
    calendar = parse_stored(text)
    try:
        with ical.deadline(ical.READ_SECONDS):
            return any(True for _ in ical.iter_vevent_instances(calendar, start, end))
    except ical.TooCostly as exc:
        raise TooCostlyToAnswer(str(exc)) from exc


def expanded_text(text: str, start: datetime, end: datetime) -> str | None:
    """RFC 4791 9.6.5: every instance overlapping [start, end) as its own VEVENT with a RECURRENCE-ID,
    times in UTC, no recurrence rules and no VTIMEZONE; None when no instance overlaps."""
    calendar = parse_stored(text)
    try:
        with ical.deadline(ical.READ_SECONDS):
            instances = ical.vevent_instances_between(calendar, start, end, limit=MAX_EXPANDED_INSTANCES)
    except ical.TooManyInstances as exc:
        raise NotHandled from exc
    except ical.TooCostly as exc:
        raise TooCostlyToAnswer(str(exc)) from exc
    if not instances:
        return None
    expanded = icalendar.Calendar()
    for name, value in calendar.items():
        expanded[name] = value
    for instance in instances:
        expanded.add_component(_in_utc(instance))
    return expanded.to_ical().decode()


def _in_utc(instance: icalendar.cal.Component) -> icalendar.cal.Component:
    for name in RULE_PROPERTIES:
        instance.pop(name, None)
    for name in TIME_PROPERTIES:
        if name not in instance:
            continue
        value = instance.decoded(name)
        # Dates (all-day) and floating times have no zone to convert from; they stay as they are.
        if isinstance(value, datetime) and value.tzinfo is not None:
            instance.pop(name)
            instance.add(name, value.astimezone(UTC))
    return instance
