"""Pure iCalendar helpers: parse, validate, index (UID, bounds, occurrences) and ETags.

Nothing here knows SQL, HTTP or Radicale. Time-range semantics follow RFC 4791 section 9.9 the way
Radicale applies them, so that the SQL index and Radicale's own filter agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import icalendar
import recurring_ical_events

# Radicale's open-ended bounds (radicale.item.filter.TIMESTAMP_MIN/MAX), repeated so this module stays pure.
TIMESTAMP_MIN = math.floor(datetime.min.replace(tzinfo=UTC).timestamp())
TIMESTAMP_MAX = math.ceil(datetime.max.replace(tzinfo=UTC).timestamp())
SCHEDULABLE = ("VEVENT", "VTODO", "VJOURNAL")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


class InvalidCalendarData(ValueError):
    """The text is not an acceptable calendar object; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Instance:
    start: int
    end: int
    transparent: bool = False
    cancelled: bool = False
    # DTSTART is a DATE: busy for whole days of whoever reads it, not for UTC days.
    all_day: bool = False


@dataclass
class ObjectIndex:
    """What the store keeps beside the text of one calendar object."""

    uid: str
    component: str
    range_start: int = TIMESTAMP_MIN
    range_end: int = TIMESTAMP_MAX
    recurring: bool = False
    # Instances starting before this are all listed; TIMESTAMP_MIN means "none indexed, parse to answer".
    expanded_until: int = TIMESTAMP_MIN
    instances: list[Instance] = field(default_factory=list)


def etag_of(text: str) -> str:
    """The strong ETag Radicale computes for the same text (radicale.item.get_etag)."""
    return f'"{hashlib.sha256(text.encode()).hexdigest()}"'


def parse_calendar(text: str) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise InvalidCalendarData(f"not valid iCalendar: {exc}") from exc
    if calendar.name != "VCALENDAR":
        raise InvalidCalendarData("the object is not a VCALENDAR")
    return calendar


def main_components(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.subcomponents if c.name in SCHEDULABLE]


def parse_errors(calendar: icalendar.Calendar) -> list[str]:
    """What icalendar could not read but kept as text: broken content lines, and values that are
    not of their property's type (``DTSTART:hello``). Empty for a clean object."""
    return [
        f"{component.name} {name or 'line'}: {message}"
        for component in calendar.walk()
        for name, message in getattr(component, "errors", ())
    ]


def validate_object(calendar: icalendar.Calendar) -> tuple[str, str]:
    """Check one calendar object resource (RFC 4791 4.1): return its (UID, component name)."""
    components = main_components(calendar)
    if not components:
        raise InvalidCalendarData("the calendar has no VEVENT, VTODO or VJOURNAL")
    names = {c.name for c in components}
    if len(names) > 1:
        raise InvalidCalendarData("one object may hold only one kind of component")
    uids = {str(c.get("UID", "")) for c in components}
    if "" in uids:
        raise InvalidCalendarData("every component needs a UID")
    if len(uids) > 1:
        raise InvalidCalendarData("all components of one object must share one UID")
    for component in components:
        _check_end_matches_start(component)
    return uids.pop(), names.pop()


def _check_end_matches_start(component: icalendar.cal.Component) -> None:
    """RFC 5545 3.8.2.2-3: DTEND (or DUE) has the value type of DTSTART, both dates or both date-times."""
    start, end = component.get("DTSTART"), component.get("DTEND", component.get("DUE"))
    if start is None or end is None:
        return
    if isinstance(start.dt, datetime) != isinstance(end.dt, datetime):
        raise InvalidCalendarData(f"{component.name}: DTSTART and its end must both be dates or date-times")


def _as_utc(value: date | datetime) -> datetime:
    """Dates are midnight UTC and floating times are UTC, as Radicale's filter treats them."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _instance_bounds(component: icalendar.cal.Component) -> tuple[datetime, datetime]:
    start_value = component.decoded("DTSTART")
    start = _as_utc(start_value)
    if "DTEND" in component:
        end = _as_utc(component.decoded("DTEND"))
    elif "DURATION" in component:
        duration = component.decoded("DURATION")
        end = start + duration if duration.total_seconds() > 0 else start + SECOND
    elif isinstance(start_value, datetime):
        end = start + SECOND
    else:
        end = start + DAY
    return start, max(end, start)


def _is_unbounded(master: icalendar.cal.Component) -> bool:
    rules = master.get("RRULE")
    if rules is None:
        return False
    for rule in rules if isinstance(rules, list) else [rules]:
        if "COUNT" not in rule and "UNTIL" not in rule:
            return True
    return False


def _timestamp(value: datetime) -> int:
    return math.floor(value.timestamp())


def index_object(calendar: icalendar.Calendar, *, horizon_end: int, max_instances: int) -> ObjectIndex:
    """Index a validated object. VEVENTs get every instance up to ``horizon_end`` (bounded by
    ``max_instances``); VTODO and VJOURNAL are left for Radicale's filter (their RFC rules are subtle)."""
    uid, component = validate_object(calendar)
    index = ObjectIndex(uid=uid, component=component)
    vevents = [c for c in main_components(calendar) if "DTSTART" in c]
    if component != "VEVENT" or not vevents:
        return index
    index.recurring = any(
        "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c for c in main_components(calendar)
    )
    if not index.recurring:
        start, end = _instance_bounds(vevents[0])
        index.range_start, index.range_end = _timestamp(start), math.ceil(end.timestamp())
        index.instances = [_instance(vevents[0], start, end)]
        index.expanded_until = TIMESTAMP_MAX
        return index
    try:
        instances, finished = _expand(calendar, horizon_end, max_instances)
    except Exception:  # noqa: BLE001 - a rule the library cannot expand: Radicale will filter it
        return index
    if not instances:
        index.expanded_until = TIMESTAMP_MAX
        index.range_start = index.range_end = TIMESTAMP_MIN
        return index
    index.instances = instances
    index.range_start = min(i.start for i in instances)
    masters = [c for c in vevents if "RECURRENCE-ID" not in c]
    if finished:
        index.expanded_until = TIMESTAMP_MAX
        index.range_end = max(i.end for i in instances)
    else:
        last_start = instances[-1].start
        # Stopped by the cap, the index holds nothing after the last instance: the horizon is not reached.
        capped = len(instances) >= max_instances
        index.expanded_until = (
            horizon_end
            if not capped and last_start < horizon_end and any(_is_unbounded(m) for m in masters)
            else last_start
        )
        index.range_end = TIMESTAMP_MAX
    return index


def _instance(component: icalendar.cal.Component, start: datetime, end: datetime) -> Instance:
    return Instance(
        start=_timestamp(start),
        end=math.ceil(end.timestamp()),
        transparent=str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT",
        cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
        all_day=not isinstance(component.decoded("DTSTART"), datetime),
    )


# Expansion walks a series in windows with ``between`` (``iter_vevent_instances``): recurring_ical_events'
# ``after`` costs seconds per hundred instances of an unbounded rule, ``between`` milliseconds. Windows
# grow over sparse stretches and shrink over dense ones, so each holds about a hundred to a thousand
# instances. The first is a week, or an hour when a rule repeats by the minute or second: a week of
# FREQ=SECONDLY is 604,800 instances, which took minutes to build.
FIRST_WINDOW = timedelta(days=7)
LARGEST_WINDOW = timedelta(days=3650)
SMALLEST_WINDOW = timedelta(hours=1)
DENSE_FREQUENCIES = {"SECONDLY", "MINUTELY"}


def _first_window(calendar: icalendar.Calendar) -> timedelta:
    for component in main_components(calendar):
        rules = component.get("RRULE", [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if DENSE_FREQUENCIES.intersection(str(f).upper() for f in rule.get("FREQ", [])):
                return SMALLEST_WINDOW
    return FIRST_WINDOW


# Floating times and dates are read as UTC; no zone is further than this from it.
ZONE_SLACK = timedelta(days=2)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _expand(
    calendar: icalendar.Calendar, horizon_end: int, max_instances: int
) -> tuple[list[Instance], bool]:
    """Instances in start order; ``finished`` is False when the horizon or the cap stopped us."""
    instances: list[Instance] = []
    horizon = datetime.fromtimestamp(horizon_end, UTC)
    starts = [_as_utc(c.decoded("DTSTART")) for c in main_components(calendar) if "DTSTART" in c]
    for occurrence in iter_vevent_instances(calendar, min(starts) - ZONE_SLACK, horizon):
        if len(instances) >= max_instances:
            return instances, False
        instances.append(_instance(occurrence, *_instance_bounds(occurrence)))
    masters = [c for c in main_components(calendar) if "RECURRENCE-ID" not in c]
    if any(_is_unbounded(m) for m in masters):
        return instances, False
    # Whether anything starts after the horizon: read lazily, a bounded rule may run for centuries.
    later = (_start_in_utc(o) for o in iter_vevent_instances(calendar, horizon, FAR_FUTURE))
    return instances, not any(start >= horizon for start in later)


def vevent_instances_between(
    calendar: icalendar.Calendar, start: datetime, end: datetime, *, limit: int | None = None
) -> list[icalendar.cal.Component]:
    """Every VEVENT instance overlapping [start, end), in order of start; more than ``limit`` raises
    TooManyInstances (a client may ask for a range of centuries over a daily series)."""
    found = []
    for instance in iter_vevent_instances(calendar, start, end):
        found.append(instance)
        if limit is not None and len(found) > limit:
            raise TooManyInstances(f"more than {limit} instances between {start} and {end}")
    return found


def iter_vevent_instances(
    calendar: icalendar.Calendar, start: datetime, end: datetime
) -> Iterator[icalendar.cal.Component]:
    """The VEVENT instances overlapping [start, end), in order of start, expanded only as far as they
    are read: whether a series has an instance in a range without an end costs its first windows.

    The range is read in windows (see the constants above). recurring_ical_events' own ``after``
    narrows its window to 15 minutes wherever it finds instances: 350,000 windows for ten years of a
    daily series."""
    query = recurring_ical_events.of(calendar, components=["VEVENT"])
    seen: set[tuple[str, object]] = set()
    window, window_start = _first_window(calendar), start
    while window_start < end:
        try:
            window_end = min(end, window_start + window)
        except OverflowError:
            window_end = end
        found = sorted(query.between(window_start, window_end), key=_start_in_utc)
        for instance in found:
            key = (str(instance.get("UID", "")), instance.get("RECURRENCE-ID", instance.get("DTSTART")).dt)
            if key not in seen:  # an instance overlapping two windows comes back in both
                seen.add(key)
                yield instance
        window_start = window_end
        if len(found) < 100:
            window = min(window * 2, LARGEST_WINDOW)
        elif len(found) > 1000:
            window = max(window / 4, SMALLEST_WINDOW)


def _start_in_utc(component: icalendar.cal.Component) -> datetime:
    return _as_utc(component.decoded("DTSTART"))


class TooManyInstances(ValueError):
    """A range holds more instances of one object than the caller's limit."""
