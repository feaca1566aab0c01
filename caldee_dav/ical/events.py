"""Editing VEVENTs as plain fields (pure): what the REST events API writes and reads, and what inbound
mail reuses. No SQL, no HTTP.

Terms used here:

* a *series* is an object's master VEVENT (no RECURRENCE-ID); a one-off event is a series without a rule;
* an *occurrence* is one instance of a series, named by its *recurrence key*: the instance's original
  start as a date (all-day) or an aware UTC datetime (floating times are read in the calendar's zone);
* an *override* (exception) is a VEVENT with a RECURRENCE-ID in the same object.

Writes follow RFC 5545/5546: every changed component gets DTSTAMP and LAST-MODIFIED of now, and its
SEQUENCE goes up by one when its time, recurrence or status changes (a "significant" change); new
objects get CREATED. Timed events are stored as DTSTART/DTEND;TZID=<zone> (UTC as ``Z``), so a weekly
09:00 New York series stays 09:00 across daylight saving time; every TZID gets its VTIMEZONE.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from dateutil import rrule as dateutil_rrule

from caldee_dav.errors import InvalidInput, Problem
from caldee_dav.ical.expand import ZONE_SLACK, iter_vevent_instances
from caldee_dav.ical.parse import (
    MEMO_TEXT_LIMIT,
    main_components,
    parse_for_reading,
    parse_without_iana_zones,
)
from caldee_dav.ical.vtimezones import add_missing_time_zones, calendar_text
from caldee_dav.zones import zone_named

PRODID = "-//Caledee//Events//EN"
METADATA_PROPERTY = "X-CALEDEE-METADATA"
MAX_TITLE_BYTES = 1024
MAX_DESCRIPTION_BYTES = 64 * 1024
MAX_LOCATION_BYTES = 2048
MAX_METADATA_BYTES = 16 * 1024
MAX_ATTENDEES = 100
STATUSES = ("confirmed", "tentative", "cancelled")
PARTSTATS = ("needs-action", "accepted", "declined", "tentative", "delegated")
RESPONSES = ("accepted", "declined", "tentative")
# RFC 5545 3.3.10: the parts of a recurrence rule.
RULE_PARTS = (
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
# What an API time may be: far enough from datetime's limits for every computation on it.
EARLIEST = date(1900, 1, 1)
LATEST = date(9000, 1, 1)
# Properties describing the series as a whole, never copied into an override.
SERIES_ONLY = ("RRULE", "RDATE", "EXDATE", "EXRULE")
# A change of one of these is significant (RFC 5546 2.1.4): SEQUENCE goes up.
SIGNIFICANT = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE", "STATUS")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class Unchanged(Enum):
    """A field an edit leaves as it is (not sent in a PATCH)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
When = date | datetime
RecurrenceKey = date | datetime


@dataclass(frozen=True)
class Person:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None
    status: str  # one of PARTSTATS


@dataclass(frozen=True)
class Timing:
    """When an event happens: dates (end exclusive) for all-day events, else aware datetimes in
    ``zone`` (an IANA name, or "UTC")."""

    start: When
    end: When
    zone: str

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True)
class EventEdit:
    """Checked values for a new event (every field given) or a change (UNCHANGED: leave it; None: clear)."""

    title: str | Unchanged = UNCHANGED
    description: str | None | Unchanged = UNCHANGED
    location: str | None | Unchanged = UNCHANGED
    status: str | Unchanged = UNCHANGED  # one of STATUSES
    attendees: Sequence[Person] | None | Unchanged = UNCHANGED
    metadata: dict[str, Any] | None | Unchanged = UNCHANGED
    timing: Timing | Unchanged = UNCHANGED
    recurrence: str | None | Unchanged = UNCHANGED  # a rule checked by ``check_rule``


@dataclass(frozen=True)
class EventData:
    """An event (series or one occurrence) as plain values. ``start``/``end``: dates (end exclusive)
    for all-day events, aware UTC datetimes otherwise."""

    uid: str
    title: str
    description: str | None
    location: str | None
    start: When
    end: When
    zone: str
    all_day: bool
    status: str
    attendees: list[Attendee]
    organizer: Person | None
    recurrence: str | None
    metadata: dict[str, Any]
    sequence: int
    created: datetime | None
    updated: datetime | None
    # The occurrence's key; None for a series or a one-off event.
    recurrence_id: RecurrenceKey | None = None
    is_exception: bool = False
    recurring: bool = False


class NotInvited(ValueError):
    """The calendar's owner is not an attendee of the event."""


class NoSeries(ValueError):
    """The object holds only overrides (an invitation to one occurrence): there is no series to edit."""


# --- input values ------------------------------------------------------------------------------


def _problem(path: str, message: str, code: str = "invalid") -> Problem:
    return Problem((path,), message, code)


# RFC 5545 TEXT excludes control characters other than tab (line breaks are escaped as \\n).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(path: str, value: str | None, max_bytes: int) -> list[Problem]:
    if value is not None and len(value.encode()) > max_bytes:
        return [_problem(path, f"must be at most {max_bytes} bytes", "too_long")]
    if value is not None and CONTROL_CHARACTERS.search(value):
        return [
            _problem(
                path,
                "must not contain control characters (tab and line breaks are fine)",
                "control_character",
            )
        ]
    return []


def metadata_text(value: dict[str, Any]) -> str:
    """``value`` as the JSON kept in X-CALEDEE-METADATA; ValueError when too large."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return text


def check_rule(text: str) -> str:
    """An RRULE value as sent (``FREQ=WEEKLY;BYDAY=MO;COUNT=10``, with or without ``RRULE:``), checked
    and with its part names upper-cased; ValueError saying what is wrong."""
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :]
    if not value:
        raise ValueError("must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO;COUNT=10")
    parts: list[tuple[str, str]] = []
    for part in value.split(";"):
        name, equals, part_value = part.partition("=")
        name = name.strip().upper()
        if not equals or not name or not part_value.strip():
            raise ValueError(f"{part!r} is not NAME=VALUE (RFC 5545 3.3.10)")
        if name not in RULE_PARTS:
            raise ValueError(f"unknown rule part {name}; known: {', '.join(RULE_PARTS)}")
        if any(name == seen for seen, _ in parts):
            raise ValueError(f"{name} is given twice")
        parts.append((name, part_value.strip().upper()))
    names = [name for name, _ in parts]
    if "FREQ" not in names:
        raise ValueError("FREQ is required (RFC 5545 3.3.10)")
    if "COUNT" in names and "UNTIL" in names:
        raise ValueError("COUNT and UNTIL must not both be given (RFC 5545 3.3.10)")
    normalized = ";".join(f"{name}={part_value}" for name, part_value in parts)
    until = dict(parts).get("UNTIL", "")
    # dateutil wants an aware start for a UTC UNTIL and a naive one otherwise.
    aware = datetime(2000, 1, 1, tzinfo=UTC)
    start = aware if until.endswith("Z") else aware.replace(tzinfo=None)
    try:
        dateutil_rrule.rrulestr("RRULE:" + normalized, dtstart=start)
        icalendar.vRecur.from_ical(normalized)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"not a valid RFC 5545 rule: {exc}") from None
    return normalized


def parse_when(text: str) -> When:
    """``YYYY-MM-DD`` as a date; an ISO 8601 date-time (with an offset, Z, or naive) as a datetime."""
    value = text.strip()
    if _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("is not a date (YYYY-MM-DD)") from None
    if not _DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2027-01-04T09:00:00-05:00, or YYYY-MM-DD")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time such as 2027-01-04T09:00:00-05:00") from None


def resolve_timing(
    current: Timing | None,
    *,
    start: str | Unchanged = UNCHANGED,
    end: str | Unchanged = UNCHANGED,
    zone: str | Unchanged = UNCHANGED,
    all_day: bool | Unchanged = UNCHANGED,
    default_zone: str,
) -> Timing | Unchanged:
    """The timing a create (``current`` None) or a change asks for, or UNCHANGED; InvalidInput listing
    every problem. API ends of all-day events are inclusive (``end`` 2027-01-06 ends with that day)."""
    if current is not None and all(v is UNCHANGED for v in (start, end, zone, all_day)):
        return UNCHANGED
    problems: list[Problem] = []
    zone_name = zone if zone is not UNCHANGED else (current.zone if current else default_zone)
    tz = zone_named(zone_name) if zone_name != "UTC" else UTC
    if tz is None:
        problems.append(_problem("timezone", f"unknown time zone {zone_name!r}", "invalid_time_zone"))
        tz = UTC
    parsed: dict[str, When] = {}
    for name, text in (("start", start), ("end", end)):
        if isinstance(text, str):
            try:
                parsed[name] = parse_when(text)
            except ValueError as exc:
                problems.append(_problem(name, str(exc)))
            else:
                # Before any arithmetic: a day added to 9999-12-31 overflows.
                if not in_supported_range(parsed[name]):
                    problems.append(_problem(name, OUT_OF_RANGE, "out_of_range"))
    if problems:
        raise InvalidInput.about(problems)
    if all_day is UNCHANGED:
        if current is not None:
            whole_days = current.all_day
        else:
            first = parsed.get("start", parsed.get("end"))  # the start says what kind of event it is
            whole_days = first is not None and not isinstance(first, datetime)
    else:
        whole_days = all_day
    for name, value in parsed.items():
        if whole_days and isinstance(value, datetime):
            message = "an all-day event takes a date (YYYY-MM-DD), not a time"
            problems.append(_problem(name, message, "all_day_with_time"))
        elif not whole_days and not isinstance(value, datetime):
            message = "a timed event takes a date-time; send allDay true for an all-day event"
            problems.append(_problem(name, message, "timed_with_date"))
    if problems:
        raise InvalidInput.about(problems)
    timing = _new_timing(current, parsed, tz, zone_name, whole_days)
    _check_order_and_range(timing)
    return timing


def _new_timing(
    current: Timing | None, parsed: dict[str, When], tz: Any, zone_name: str, whole_days: bool
) -> Timing:
    if whole_days:
        days: dict[str, date] = {k: v for k, v in parsed.items() if not isinstance(v, datetime)}
        if "end" in days:
            days["end"] = days["end"] + timedelta(days=1)  # inclusive in the API, exclusive in iCalendar
        if current is not None and not current.all_day and not days:
            # A timed event becomes all-day: the local days it touches.
            first = current.start.astimezone(tz).date()  # type: ignore[union-attr]
            last = (current.end - timedelta(microseconds=1)).astimezone(tz).date()  # type: ignore[operator]
            days = {"start": first, "end": max(last, first) + timedelta(days=1)}
        return _completed(current if current and current.all_day else None, days, zone_name)
    times: dict[str, datetime] = {
        k: (v.replace(tzinfo=tz) if v.tzinfo is None else v.astimezone(tz))
        for k, v in parsed.items()
        if isinstance(v, datetime)
    }
    if current is not None and current.all_day and len(times) < 2:
        raise InvalidInput.about(
            [_problem("start", "an all-day event becoming timed needs both start and end", "required")]
        )
    if current is not None and not current.all_day:
        current = Timing(current.start.astimezone(tz), current.end.astimezone(tz), zone_name)  # type: ignore[union-attr]
    return _completed(current, times, zone_name)


def _completed(current: Timing | None, given: dict[str, Any], zone_name: str) -> Timing:
    """Start and end from ``given``, the rest from ``current`` (a new start keeps the duration)."""
    if current is None:
        missing = [name for name in ("start", "end") if name not in given]
        if missing:
            raise InvalidInput.about([_problem(name, "is required", "required") for name in missing])
        return Timing(given["start"], given["end"], zone_name)
    start = given.get("start", current.start)
    end = given.get("end", start + (current.end - current.start) if "start" in given else current.end)
    return Timing(start, end, zone_name)


OUT_OF_RANGE = "must be between the years 1900 and 9000"


def in_supported_range(value: When) -> bool:
    """Whether ``value`` lies in the years events may have (date arithmetic near datetime's own limits,
    years 1 and 9999, overflows)."""
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day < LATEST


def _check_order_and_range(timing: Timing) -> None:
    problems = []
    for name, value in (("start", timing.start), ("end", timing.end)):
        if not in_supported_range(value):
            problems.append(_problem(name, OUT_OF_RANGE, "out_of_range"))
    if problems:
        raise InvalidInput.about(problems)
    if timing.end < timing.start or (timing.all_day and timing.end <= timing.start):  # type: ignore[operator]
        raise InvalidInput.about([_problem("end", "is before start", "end_before_start")])


# --- reading -----------------------------------------------------------------------------------


def _unescape_text(raw: str) -> str:
    """RFC 5545 3.3.11 TEXT unescaped (icalendar keeps unknown X- properties as raw text)."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), raw)


def _text(component: icalendar.cal.Component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    return str(value)


def read_metadata(component: icalendar.cal.Component) -> dict[str, Any]:
    """The event's X-CALEDEE-METADATA as an object; {} when absent or not a JSON object."""
    value = component.get(METADATA_PROPERTY)
    if value is None:
        return {}
    raw = value.to_ical().decode() if hasattr(value, "to_ical") else str(value)
    try:
        parsed = json.loads(_unescape_text(raw))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def email_of(address: object) -> str:
    text = str(address).strip()
    return text[len("mailto:") :] if text.lower().startswith("mailto:") else text


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def read_attendees(component: icalendar.cal.Component) -> list[Attendee]:
    found = []
    for address in _as_list(component.get("ATTENDEE")):
        params = getattr(address, "params", {})
        status = str(params.get("PARTSTAT", "NEEDS-ACTION")).lower()
        name = params.get("CN")
        found.append(
            Attendee(
                email_of(address),
                str(name) if name else None,
                status if status in PARTSTATS else "needs-action",
            )
        )
    return found


def _organizer(component: icalendar.cal.Component) -> Person | None:
    address = component.get("ORGANIZER")
    if address is None:
        return None
    name = getattr(address, "params", {}).get("CN")
    return Person(email_of(address), str(name) if name else None)


def zone_name_of(value: When, calendar_zone: ZoneInfo) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        if value.utcoffset() == timedelta(0) and str(value.tzinfo) in ("UTC", "Etc/UTC", "Z"):
            return "UTC"
        return getattr(value.tzinfo, "key", None) or str(value.tzinfo)
    return calendar_zone.key


def instant(value: When, zone: ZoneInfo) -> datetime:
    """A DTSTART-like value as an aware UTC instant: dates are local midnights, floating times local."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def recurrence_key(value: When, zone: ZoneInfo) -> RecurrenceKey:
    """An occurrence's key: the date of an all-day one, else its original start in UTC."""
    return value if not isinstance(value, datetime) else instant(value, zone)


def format_key(key: RecurrenceKey) -> str:
    """``20270104`` or ``20270104T090000Z``: the key as occurrence ids carry it."""
    if isinstance(key, datetime):
        return key.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return key.strftime("%Y%m%d")


def parse_key(text: str) -> RecurrenceKey | None:
    """The key in an occurrence id, or None when it is not one."""
    key: RecurrenceKey | None = None
    try:
        if re.fullmatch(r"\d{8}", text):
            key = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        elif re.fullmatch(r"\d{8}T\d{6}Z", text):  # %z reads the Z as UTC
            key = datetime.strptime(text, "%Y%m%dT%H%M%S%z")
    except ValueError:
        return None
    return key if key is not None and in_supported_range(key) else None


def _bounds(component: icalendar.cal.Component) -> tuple[When, When]:
    start = component.decoded("DTSTART")
    if "DTEND" in component:
        end = component.decoded("DTEND")
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    elif isinstance(start, datetime):
        end = start
    else:
        end = start + timedelta(days=1)
    return start, end


def _stamp(component: icalendar.cal.Component, name: str) -> datetime | None:
    if name not in component:
        return None
    try:
        value = component.decoded(name)
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rule_text(component: icalendar.cal.Component) -> str | None:
    rules = _as_list(component.get("RRULE"))
    return rules[0].to_ical().decode() if rules else None


def read_component(
    component: icalendar.cal.Component,
    zone: ZoneInfo,
    *,
    recurrence: str | None = None,
    recurrence_id: RecurrenceKey | None = None,
    is_exception: bool = False,
    recurring: bool = False,
) -> EventData:
    """One VEVENT (a master, an override or an expanded instance) as plain values."""
    start, end = _bounds(component)
    all_day = not isinstance(start, datetime)
    if all_day:
        end = end.date() if isinstance(end, datetime) else end
        out_start: When = start
        out_end: When = max(end, start + timedelta(days=1)) if end <= start else end
    else:
        out_start, out_end = instant(start, zone), instant(end, zone)
        out_end = max(out_end, out_start)
    status = str(component.get("STATUS", "CONFIRMED")).lower()
    sequence_value = component.get("SEQUENCE", 0)
    try:
        sequence = int(sequence_value)
    except (TypeError, ValueError):
        sequence = 0
    return EventData(
        uid=str(component.get("UID", "")),
        title=_text(component, "SUMMARY") or "",
        description=_text(component, "DESCRIPTION"),
        location=_text(component, "LOCATION"),
        start=out_start,
        end=out_end,
        zone=zone_name_of(start, zone),
        all_day=all_day,
        status=status if status in STATUSES else "confirmed",
        attendees=read_attendees(component),
        organizer=_organizer(component),
        recurrence=recurrence,
        metadata=read_metadata(component),
        sequence=sequence,
        created=_stamp(component, "CREATED"),
        updated=_stamp(component, "LAST-MODIFIED") or _stamp(component, "DTSTAMP"),
        recurrence_id=recurrence_id,
        is_exception=is_exception,
        recurring=recurring,
    )


def master_of(calendar: icalendar.Calendar) -> icalendar.cal.Component | None:
    return next((c for c in _vevents(calendar) if "RECURRENCE-ID" not in c), None)


def _vevents(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in main_components(calendar) if c.name == "VEVENT" and "DTSTART" in c]


def overrides_of(
    calendar: icalendar.Calendar, zone: ZoneInfo
) -> dict[RecurrenceKey, icalendar.cal.Component]:
    return {
        recurrence_key(c.decoded("RECURRENCE-ID"), zone): c
        for c in _vevents(calendar)
        if "RECURRENCE-ID" in c
    }


def is_recurring(calendar: icalendar.Calendar) -> bool:
    return any("RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c for c in _vevents(calendar))


# Stored one-off events read, remembered by their text as ``parse_for_reading`` remembers parses: most
# events of a calendar are one-off, and an agent polls the same list again and again.
ONE_OFF_READS = 4096


def read_stored_one_off(text: str, zone: ZoneInfo) -> EventData | None:
    """``read_series`` of the stored text of an object that is not recurring (EventData is immutable, so
    sharing a remembered one between requests is safe). InvalidCalendarData when the text cannot be
    read."""
    if len(text) > MEMO_TEXT_LIMIT:
        return read_series(parse_for_reading(text), zone)
    return _remembered_one_off(text, zone)


@functools.lru_cache(maxsize=ONE_OFF_READS)
def _remembered_one_off(text: str, zone: ZoneInfo) -> EventData | None:
    # Parsed past parse_for_reading's memo: the EventData is what is kept, and one-off events would
    # push the parses of series out of it.
    return read_series(parse_without_iana_zones(text), zone)


def read_series(calendar: icalendar.Calendar, zone: ZoneInfo) -> EventData | None:
    """The series (master) of an object, or its first override when it holds only overrides."""
    components = _vevents(calendar)
    if not components:
        return None
    master = master_of(calendar)
    if master is None:
        return _occurrence(components[0], calendar, zone, set(overrides_of(calendar, zone)))
    return read_component(master, zone, recurrence=_rule_text(master), recurring=is_recurring(calendar))


def _occurrence(
    instance: icalendar.cal.Component, calendar: icalendar.Calendar, zone: ZoneInfo, exceptions: set
) -> EventData:
    master = master_of(calendar)
    raw_id = instance.get("RECURRENCE-ID")
    key = recurrence_key(raw_id.dt if raw_id is not None else instance.decoded("DTSTART"), zone)
    return read_component(
        instance,
        zone,
        recurrence=_rule_text(master) if master is not None else None,
        recurrence_id=key,
        is_exception=key in exceptions,
        recurring=True,
    )


def occurrences(
    calendar: icalendar.Calendar, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[EventData]:
    """The instances overlapping [start, end) in order of start (lazily: a reader may stop early).
    A one-off event is one instance without a recurrence key. Run it under ``ical.deadline``."""
    recurring = is_recurring(calendar)
    if not recurring:  # one instance: no expansion machinery (most events of a calendar)
        data = read_series(calendar, zone)
        if data is not None:
            first, last = data_interval(data, zone)
            if first < end and (last > start or (first == last and first >= start)):
                yield data
        return
    exceptions = set(overrides_of(calendar, zone))
    # Each window of the expansion walks a rule from its DTSTART: reach back only as far as an
    # instance can start before ``start`` and still overlap it.
    slack = _longest(calendar) + (ZONE_SLACK if _has_local_times(calendar) else timedelta(0))
    for instance in iter_vevent_instances(calendar, start - slack, end + ZONE_SLACK):
        if recurring:
            data = _occurrence(instance, calendar, zone, exceptions)
        else:
            data = read_series(calendar, zone)
            if data is None:
                continue
        first, last = data_interval(data, zone)
        if first < end and (last > start or (first == last and first >= start)):
            yield data


def _longest(calendar: icalendar.Calendar) -> timedelta:
    spans = []
    for component in _vevents(calendar):
        first, last = _bounds(component)
        spans.append(last - first)
    return max(spans, default=timedelta(0)) + timedelta(seconds=1)


def _has_local_times(calendar: icalendar.Calendar) -> bool:
    """Whether any VEVENT has floating times or dates, which are read in the calendar's zone."""
    for component in _vevents(calendar):
        value = component.decoded("DTSTART")
        if not isinstance(value, datetime) or value.tzinfo is None:
            return True
    return False


def data_interval(data: EventData, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The event's [start, end) as UTC instants (all-day events: the calendar zone's midnights)."""
    return instant(data.start, zone), instant(data.end, zone)


def find_occurrence(calendar: icalendar.Calendar, zone: ZoneInfo, key: RecurrenceKey) -> EventData | None:
    """The occurrence with ``key`` (an override, or an instance of the rule), or None."""
    if not is_recurring(calendar):
        return None
    override = overrides_of(calendar, zone).get(key)
    if override is not None:
        return _occurrence(override, calendar, zone, {key})
    around = instant(key, zone)
    for instance in iter_vevent_instances(calendar, around - ZONE_SLACK, around + ZONE_SLACK):
        raw_id = instance.get("RECURRENCE-ID")
        if raw_id is not None and recurrence_key(raw_id.dt, zone) == key:
            return _occurrence(instance, calendar, zone, set())
    return None


# --- writing -----------------------------------------------------------------------------------


def _significant(component: icalendar.cal.Component) -> list[bytes]:
    return [
        b"".join(v.to_ical() for v in _as_list(component.get(name)))
        if component.get(name) is not None
        else b""
        for name in SIGNIFICANT
    ]


def _touch(component: icalendar.cal.Component, before: list[bytes] | None, now: datetime) -> None:
    """DTSTAMP and LAST-MODIFIED of now; SEQUENCE + 1 after a significant change."""
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        component.pop(name, None)
        component.add(name, now.astimezone(UTC))
    if before is not None and before != _significant(component):
        sequence = int(component.get("SEQUENCE", 0) or 0)
        component.pop("SEQUENCE", None)
        component.add("SEQUENCE", sequence + 1)


def _set(component: icalendar.cal.Component, name: str, value: Any) -> None:
    component.pop(name, None)
    if value is not None:
        component.add(name, value)


def _address(person: Person, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = person.name
    for key, value in params.items():
        address.params[key] = value
    return address


def _set_attendees(
    component: icalendar.cal.Component, people: Sequence[Person] | None, organizer: Person | None
) -> None:
    """Replace the attendees; those already invited keep their answer (PARTSTAT)."""
    kept = {email_of(a).lower(): a for a in _as_list(component.get("ATTENDEE"))}
    component.pop("ATTENDEE", None)
    for person in people or ():
        earlier = kept.get(person.email.lower())
        if earlier is not None and (person.name is None or earlier.params.get("CN") == person.name):
            component.add("ATTENDEE", earlier)
            continue
        status = earlier.params.get("PARTSTAT", "NEEDS-ACTION") if earlier is not None else "NEEDS-ACTION"
        params = {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": status, "RSVP": "TRUE"}
        component.add("ATTENDEE", _address(person, **params))
    if people and "ORGANIZER" not in component and organizer is not None:
        component.add("ORGANIZER", _address(organizer))


def _set_timing(component: icalendar.cal.Component, timing: Timing) -> None:
    component.pop("DURATION", None)
    _set(component, "DTSTART", _stored(timing.start, timing.zone))
    _set(component, "DTEND", _stored(timing.end, timing.zone))


def _stored(value: When, zone_name: str) -> When:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if zone_name == "UTC" else value
    return value


def _rule(text: str, start: When) -> icalendar.vRecur:
    """A checked rule with its UNTIL of the type RFC 5545 requires for ``start``: a date for all-day
    series, UTC for timed ones (a date or local time is read in the series' zone)."""
    rule = icalendar.vRecur.from_ical(text)
    until = rule.get("UNTIL")
    if until:
        value = until[0]
        if not isinstance(start, datetime):
            rule["UNTIL"] = [value.date() if isinstance(value, datetime) else value]
        elif start.tzinfo is None:
            naive = value if isinstance(value, datetime) else datetime.combine(value, time(23, 59, 59))
            rule["UNTIL"] = [
                naive.replace(tzinfo=None)
                if naive.tzinfo is None
                else naive.astimezone(UTC).replace(tzinfo=None)
            ]
        else:
            local = value if isinstance(value, datetime) else datetime.combine(value, time(23, 59, 59))
            rule["UNTIL"] = [
                (local.replace(tzinfo=start.tzinfo) if local.tzinfo is None else local).astimezone(UTC)
            ]
    return rule


def _apply(
    component: icalendar.cal.Component, edit: EventEdit, organizer: Person | None, *, series: bool
) -> None:
    """The fields of ``edit`` onto one VEVENT (``series``: the master, which may take a rule)."""
    if edit.title is not UNCHANGED:
        _set(component, "SUMMARY", edit.title)
    if edit.description is not UNCHANGED:
        _set(component, "DESCRIPTION", edit.description or None)
    if edit.location is not UNCHANGED:
        _set(component, "LOCATION", edit.location or None)
    if edit.status is not UNCHANGED:
        _set(component, "STATUS", edit.status.upper())
    if edit.attendees is not UNCHANGED:
        _set_attendees(component, edit.attendees, organizer)
    if edit.metadata is not UNCHANGED:
        text = metadata_text(edit.metadata) if edit.metadata else None
        _set(component, METADATA_PROPERTY, icalendar.vText(text) if text else None)
    if edit.timing is not UNCHANGED:
        _set_timing(component, edit.timing)
    if series and edit.recurrence is not UNCHANGED:
        _set(
            component,
            "RRULE",
            _rule(edit.recurrence, component.decoded("DTSTART")) if edit.recurrence else None,
        )


def new_event(uid: str, edit: EventEdit, organizer: Person | None, now: datetime) -> icalendar.Calendar:
    """A VCALENDAR holding one new VEVENT built from ``edit`` (every field given)."""
    assert edit.timing is not UNCHANGED and edit.title is not UNCHANGED
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("created", now.astimezone(UTC))
    event.add("sequence", 0)
    _apply(
        event,
        replace(edit, status=edit.status if edit.status is not UNCHANGED else "confirmed"),
        organizer,
        series=True,
    )
    if not event.get("STATUS"):
        event.add("STATUS", "CONFIRMED")
    _touch(event, None, now)
    calendar.add_component(event)
    add_time_zones(calendar)
    return calendar


def add_time_zones(calendar: icalendar.Calendar) -> None:
    """A VTIMEZONE for every TZID in use (RFC 5545 3.6.5), covering the object's years."""
    starts = [c.decoded("DTSTART") for c in _vevents(calendar)]
    dates = [s.date() if isinstance(s, datetime) else s for s in starts if isinstance(s, date)]
    first = min(dates, default=date(1970, 1, 1))
    add_missing_time_zones(
        calendar, date(max(first.year - 1, 1970), 1, 1), date(max(first.year + 20, 2038), 1, 1)
    )


def to_text(calendar: icalendar.Calendar) -> str:
    return calendar_text(calendar)


def _in_form_of(reference: When, key: RecurrenceKey, zone: ZoneInfo) -> When:
    """``key`` written as a RECURRENCE-ID or EXDATE of a series starting at ``reference``: a date for
    all-day series, else a time in the series' own zone (UTC, a TZID, or floating)."""
    if not isinstance(reference, datetime):
        return key.date() if isinstance(key, datetime) else key
    moment = key if isinstance(key, datetime) else instant(key, zone)
    if reference.tzinfo is None:
        return moment.astimezone(zone).replace(tzinfo=None)
    return moment.astimezone(reference.tzinfo)


def edit_series(
    calendar: icalendar.Calendar, edit: EventEdit, zone: ZoneInfo, organizer: Person | None, now: datetime
) -> None:
    """Change the master (every occurrence that is not an exception). A new start moves the exceptions
    and cancelled occurrences along (their RECURRENCE-ID, EXDATE, RDATE and own times shift with it);
    switching between all-day and timed drops the exceptions; removing the rule makes a one-off event
    (exceptions, EXDATEs and RDATEs go)."""
    master = master_of(calendar)
    if master is None:
        raise NoSeries("the object holds no series")
    before = _significant(master)
    old_start = master.decoded("DTSTART")
    _apply(master, edit, organizer, series=True)
    if edit.timing is not UNCHANGED and master.get("RRULE") is not None and edit.recurrence is UNCHANGED:
        _retype_until(master)
    new_start = master.decoded("DTSTART")
    if edit.recurrence is None or (master.get("RRULE") is None and "RDATE" not in master):
        for name in SERIES_ONLY:
            master.pop(name, None)
        _drop_overrides(calendar, lambda _key: True, zone)
    elif new_start != old_start:
        _move_series_parts(calendar, master, old_start, new_start, zone, now)
    _touch(master, before, now)
    add_time_zones(calendar)


def _retype_until(master: icalendar.cal.Component) -> None:
    """Keep UNTIL's type right after the series switched between all-day and timed."""
    rule = master.get("RRULE")
    if rule is not None and rule.get("UNTIL"):
        master.pop("RRULE")
        master.add("RRULE", _rule(rule.to_ical().decode(), master.decoded("DTSTART")))


def _drop_overrides(calendar: icalendar.Calendar, which: Any, zone: ZoneInfo) -> None:
    for component in list(calendar.subcomponents):
        if component.name == "VEVENT" and "RECURRENCE-ID" in component:
            if which(recurrence_key(component.decoded("RECURRENCE-ID"), zone)):
                calendar.subcomponents.remove(component)


def _move_series_parts(
    calendar: icalendar.Calendar,
    master: icalendar.cal.Component,
    old_start: When,
    new_start: When,
    zone: ZoneInfo,
    now: datetime,
) -> None:
    if isinstance(old_start, datetime) != isinstance(new_start, datetime):
        _drop_overrides(calendar, lambda _key: True, zone)
        converted = {
            name: [
                _in_form_of(new_start, _shifted(recurrence_key(v, zone), old_start, new_start, zone), zone)
                for v in _values(master, name)
            ]
            for name in ("EXDATE", "RDATE")
        }
    else:
        converted = {
            name: [_shift_value(v, old_start, new_start, zone) for v in _values(master, name)]
            for name in ("EXDATE", "RDATE")
        }
        for component in _vevents(calendar):
            if "RECURRENCE-ID" not in component:
                continue
            before = _significant(component)
            for name in ("RECURRENCE-ID", "DTSTART", "DTEND"):
                if name in component:
                    _set(component, name, _shift_value(component.decoded(name), old_start, new_start, zone))
            _touch(component, before, now)
    for name, values in converted.items():
        master.pop(name, None)
        for value in values:
            master.add(name, value)


def _values(component: icalendar.cal.Component, name: str) -> list[When]:
    return [item.dt for entry in _as_list(component.get(name)) for item in entry.dts]


def _local(value: When, zone: ZoneInfo, reference: When) -> datetime:
    """``value`` as a naive wall-clock time in the zone of ``reference`` (the series' old start)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0))
    ref_zone = reference.tzinfo if isinstance(reference, datetime) and reference.tzinfo else zone
    return (
        (value if value.tzinfo is not None else value.replace(tzinfo=zone))
        .astimezone(ref_zone)
        .replace(tzinfo=None)
    )


def _shift_value(value: When, old_start: When, new_start: When, zone: ZoneInfo) -> When:
    """``value`` moved as the series' start moved: by the same wall-clock difference, into the new
    start's zone (dates by whole days)."""
    if not isinstance(old_start, datetime) or not isinstance(new_start, datetime):
        days = (_as_date(new_start) - _as_date(old_start)).days
        return value + timedelta(days=days)
    delta = _local(new_start, zone, new_start) - _local(old_start, zone, old_start)
    moved = _local(value, zone, old_start) + delta
    if new_start.tzinfo is None:
        return moved
    return moved.replace(tzinfo=new_start.tzinfo)


def _shifted(key: RecurrenceKey, old_start: When, new_start: When, zone: ZoneInfo) -> RecurrenceKey:
    """A key moved across a switch between all-day and timed: same local day, the new start's time."""
    local_day = key if not isinstance(key, datetime) else key.astimezone(_zone_of(old_start, zone)).date()
    if not isinstance(new_start, datetime):
        return local_day
    moment = datetime.combine(local_day, new_start.time())
    return instant(moment.replace(tzinfo=new_start.tzinfo) if new_start.tzinfo else moment, zone)


def _zone_of(value: When, zone: ZoneInfo) -> Any:
    return value.tzinfo if isinstance(value, datetime) and value.tzinfo is not None else zone


def _as_date(value: When) -> date:
    return value.date() if isinstance(value, datetime) else value


def override_for(
    calendar: icalendar.Calendar, key: RecurrenceKey, zone: ZoneInfo, now: datetime
) -> tuple[icalendar.cal.Component, list[bytes] | None]:
    """The override of occurrence ``key``, made from the series when there is none yet (with the
    instance's time); and its significant properties before the edit (None for a new override)."""
    existing = overrides_of(calendar, zone).get(key)
    if existing is not None:
        return existing, _significant(existing)
    master = master_of(calendar)
    if master is None:
        raise LookupError(key)
    override = icalendar.Event()
    for name, value in master.items():
        if name not in SERIES_ONLY and name not in ("DTSTART", "DTEND", "DURATION", "CREATED"):
            override[name] = copy.deepcopy(value)  # its own attendees: an answer here is not the series'
    start, end = _bounds(master)
    original = _in_form_of(start, key, zone)
    override.add("RECURRENCE-ID", original)
    override.add("DTSTART", original)
    override.add("DTEND", original + (end - start))
    calendar.add_component(override)
    return override, _significant(override)


def edit_occurrence(
    calendar: icalendar.Calendar,
    key: RecurrenceKey,
    edit: EventEdit,
    zone: ZoneInfo,
    organizer: Person | None,
    now: datetime,
) -> None:
    """Write or update the override (exception) of one occurrence."""
    override, before = override_for(calendar, key, zone, now)
    _apply(override, replace(edit, recurrence=UNCHANGED), organizer, series=False)
    _touch(override, before, now)
    add_time_zones(calendar)


def cancel_occurrence(
    calendar: icalendar.Calendar, key: RecurrenceKey, zone: ZoneInfo, now: datetime
) -> None:
    """Delete one occurrence: an EXDATE on the series, and its override (if any) removed."""
    master = master_of(calendar)
    _drop_overrides(calendar, lambda k: k == key, zone)
    if master is None:
        return
    before = _significant(master)
    master.add("EXDATE", _in_form_of(master.decoded("DTSTART"), key, zone))
    _touch(master, before, now)


def end_series_before(
    calendar: icalendar.Calendar, key: RecurrenceKey, zone: ZoneInfo, now: datetime
) -> bool:
    """End the series before occurrence ``key`` ("this and following" deleted): the rule gets an UNTIL
    just before it (UTC for timed series, the day before for all-day ones), and overrides, RDATEs and
    EXDATEs from it on go. False when ``key`` is the series' first occurrence: nothing would remain,
    the caller deletes the object."""
    master = master_of(calendar)
    if master is None:
        return False
    start = master.decoded("DTSTART")
    cut = instant(key, zone)
    if cut <= instant(start, zone):
        return False
    before = _significant(master)
    for rule in _as_list(master.get("RRULE")):
        rule.pop("COUNT", None)
        rule["UNTIL"] = [_until_before(key, cut, start, zone)]
    for name in ("RDATE", "EXDATE"):
        kept = [v for v in _values(master, name) if instant(v, zone) < cut]
        master.pop(name, None)
        for value in kept:
            master.add(name, value)
    _drop_overrides(calendar, lambda k: instant(k, zone) >= cut, zone)
    _touch(master, before, now)
    return True


def _until_before(key: RecurrenceKey, cut: datetime, start: When, zone: ZoneInfo) -> When:
    """The last moment before occurrence ``key`` as an UNTIL of a series starting at ``start``."""
    if not isinstance(start, datetime):
        return _as_date(key) - timedelta(days=1)
    last = cut - timedelta(seconds=1)
    return last.astimezone(zone).replace(tzinfo=None) if start.tzinfo is None else last


def set_partstat(
    calendar: icalendar.Calendar,
    key: RecurrenceKey | None,
    addresses: Sequence[str],
    response: str,
    zone: ZoneInfo,
    now: datetime,
) -> None:
    """Set the PARTSTAT of the attendee with one of ``addresses`` (case-insensitive) to ``response``,
    on the series (``key`` None) or on one occurrence (its override, made if needed). NotInvited when
    no attendee has those addresses. An answer is not a significant change: SEQUENCE stays."""
    wanted = {a.strip().lower() for a in addresses}
    if key is None:
        component = master_of(calendar) or _vevents(calendar)[0]
        before: list[bytes] | None = _significant(component)
    else:
        component, before = override_for(calendar, key, zone, now)
    matched = [a for a in _as_list(component.get("ATTENDEE")) if email_of(a).strip().lower() in wanted]
    if not matched:
        raise NotInvited(", ".join(sorted(wanted)))
    for address in matched:
        address.params["PARTSTAT"] = response.upper()
        address.params.pop("RSVP", None)
    _touch(component, before, now)
