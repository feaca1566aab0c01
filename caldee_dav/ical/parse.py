"""Parse and check one calendar object (RFC 4791 4.1), and its ETag. Pure: no SQL, HTTP or Radicale."""

from __future__ import annotations

import functools
import hashlib
import math
import re
from datetime import UTC, date, datetime, timedelta

import icalendar

from caldee_dav.ical.content_lines import content_lines
from caldee_dav.zones import zone_named

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


def etag_of(text: str) -> str:
    """The strong ETag Radicale computes for the same text (radicale.item.get_etag)."""
    return f'"{hashlib.sha256(text.encode()).hexdigest()}"'


def with_crlf_line_endings(text: str) -> str:
    """``text`` with CRLF line breaks, as RFC 5545 3.1 requires. Clients that send bare LF are read
    leniently, but what is stored is what every reader expects: Radicale's whole-calendar export
    splits stored objects on CRLF and dropped such an object."""
    if text.count("\n") == text.count("\r\n"):
        return text
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def parse_calendar(text: str) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(content_lines(text))  # type: ignore[arg-type]
    except (ValueError, IndexError, KeyError, TypeError):
        # Parsed once more from the text, for icalendar's own words about it (they quote the input).
        try:
            calendar = icalendar.Calendar.from_ical(text)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise InvalidCalendarData(f"not valid iCalendar: {exc}") from exc
    if calendar.name != "VCALENDAR":
        raise InvalidCalendarData("the object is not a VCALENDAR")
    return calendar


def main_components(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.subcomponents if c.name in SCHEDULABLE]


def split_by_uid(calendar: icalendar.Calendar) -> list[icalendar.Calendar]:
    """One calendar per UID of ``calendar`` (a whole-calendar import), each with its components and
    every VTIMEZONE of the original."""
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    groups: dict[str, list[icalendar.cal.Component]] = {}
    for component in main_components(calendar):
        groups.setdefault(str(component.get("UID", "")), []).append(component)
    split = []
    for components in groups.values():
        part = icalendar.Calendar()
        part.update(calendar)  # VERSION, PRODID, METHOD...: the calendar's own properties
        for component in (*zones, *components):
            part.add_component(component)
        split.append(part)
    return split


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


def as_utc(value: date | datetime) -> datetime:
    """Dates are midnight UTC and floating times are UTC, as Radicale's filter treats them."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def start_in_utc(component: icalendar.cal.Component) -> datetime:
    return as_utc(component.decoded("DTSTART"))


_VTIMEZONE_BLOCK = re.compile(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?\n", re.S | re.M)
_TZID_LINE = re.compile(r"^TZID:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.M)
_FOLD = re.compile(r"\r?\n[ \t]")


# Stored objects parsed for reading are remembered by their text (agents poll the same lists again and
# again), so long as the text is small: the memo holds at most READING_PARSES texts of at most
# MEMO_TEXT_LIMIT characters, and their parses.
READING_PARSES = 512
MEMO_TEXT_LIMIT = 32_768


def parse_for_reading(text: str) -> icalendar.Calendar:
    """``parse_calendar`` for a reader that only looks at events: the VTIMEZONEs of IANA zones are left
    out before parsing, since icalendar finds those zones by name, and they are most of a client's
    object (and of the time to parse it); other VTIMEZONEs (a Windows name, a custom zone) are kept.

    The result may be SHARED between callers: read it, never change it (an object about to be edited
    and stored is parsed with ``parse_calendar``)."""
    if len(text) > MEMO_TEXT_LIMIT:
        return parse_without_iana_zones(text)
    return _remembered_parse(text)


def parse_without_iana_zones(text: str) -> icalendar.Calendar:
    """``parse_for_reading`` without its memo."""
    return parse_calendar(_VTIMEZONE_BLOCK.sub(_iana_zone_dropped, text))


_remembered_parse = functools.lru_cache(maxsize=READING_PARSES)(parse_without_iana_zones)


def _iana_zone_dropped(match: re.Match[str]) -> str:
    block = match.group(0)
    tzid = _TZID_LINE.search(block)
    name = _FOLD.sub("", tzid.group(1)).strip() if tzid else ""
    return "" if name and zone_named(name) is not None else block
