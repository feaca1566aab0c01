"""VTIMEZONEs made from zoneinfo, made once: what every stored object with a TZID carries (RFC 5545
3.6.5), without rebuilding and re-serialising the same zone for each write.

icalendar's ``add_missing_timezones`` builds a zone's VTIMEZONE from zoneinfo on every call (about a
millisecond for twenty years of transitions), finds the TZIDs in use by serialising every property of
the object, and ``to_ical`` then folds the zone's long RDATE lines again. Here a zone is built once per
(TZID, years) and kept with its text; ``calendar_text`` writes the kept text for it.

The kept components are SHARED between every calendar they are added to: never change one. A calendar
copied with ``copy.deepcopy`` holds copies, which are written the ordinary way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import icalendar

# Zones x first years kept; a server sees a few dozen zones, and objects start in a few years.
CACHED_ZONES = 1024
# The properties of a component whose values carry a TZID parameter (RFC 5545 3.2.19).
TIME_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE")


@dataclass(frozen=True)
class _Generated:
    component: icalendar.Timezone
    text: str


# Kept zones, least recently used first, and the same by the identity of their component: a component
# found here is the kept one (the map holds it, so no other object can have its id).
_kept: OrderedDict[tuple[str, date, date], _Generated | None] = OrderedDict()
_kept_by_id: dict[int, _Generated] = {}
_lock = threading.Lock()


def _generated(tzid: str, first_date: date, last_date: date) -> _Generated | None:
    key = (tzid, first_date, last_date)
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    try:
        timezone = icalendar.Timezone.from_tzid(tzid, first_date=first_date, last_date=last_date)
        generated: _Generated | None = _Generated(timezone, component_text(timezone))
    except ValueError:  # not a zone zoneinfo knows: left without (as icalendar leaves it)
        generated = None
    with _lock:
        _kept[key] = generated
        if generated is not None:
            _kept_by_id[id(generated.component)] = generated
        while len(_kept) > CACHED_ZONES:
            _, evicted = _kept.popitem(last=False)
            if evicted is not None:
                _kept_by_id.pop(id(evicted.component), None)
    return generated


def _shared_text(component: icalendar.cal.Component) -> str | None:
    """The kept text of ``component`` when it is one of the shared generated zones."""
    kept = _kept_by_id.get(id(component))
    return kept.text if kept is not None and kept.component is component else None


def used_tzids(calendar: icalendar.Calendar) -> set[str]:
    """The TZIDs the calendar's components use (UTC needs no VTIMEZONE)."""
    found: set[str] = set()
    for component in calendar.walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT"):
            continue
        for name in TIME_PROPERTIES:
            values = component.get(name)
            for value in values if isinstance(values, list) else [values]:
                tzid = getattr(value, "params", {}).get("TZID") if value is not None else None
                if tzid:
                    found.add(str(tzid))
    return found - {"UTC"}


def add_missing_time_zones(calendar: icalendar.Calendar, first_date: date, last_date: date) -> None:
    """A VTIMEZONE from zoneinfo for each TZID in use that the calendar has none for, after the ones
    it has (as icalendar's ``add_missing_timezones`` places them). TZIDs zoneinfo does not know are
    left as they are."""
    present = {str(c.get("TZID", "")) for c in calendar.subcomponents if c.name == "VTIMEZONE"}
    missing = used_tzids(calendar) - present
    if not missing:
        return
    position = sum(1 for c in calendar.subcomponents if c.name == "VTIMEZONE")
    for tzid in sorted(missing):
        generated = _generated(tzid, first_date, last_date)
        if generated is None:
            continue
        calendar.subcomponents.insert(position, generated.component)
        position += 1


def calendar_text(calendar: icalendar.Calendar) -> str:
    """What ``calendar.to_ical()`` writes, as text, with the shared zones written from their kept text
    and long lines folded without icalendar's character-by-character loop (``fold``)."""
    shell = icalendar.Calendar()
    shell.update(calendar)
    head = shell.content_lines()  # BEGIN, its properties, END, ""
    parts = [_joined(head[:-2])]
    for component in calendar.subcomponents:
        parts.append(_shared_text(component) or component_text(component))
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts)


def component_text(component: icalendar.cal.Component) -> str:
    """``component.to_ical()`` as text."""
    return _joined(component.content_lines())


def _joined(lines: list[str]) -> str:
    return "".join(f"{fold(line)}\r\n" for line in lines if line)


# RFC 5545 3.1: lines longer than 75 octets are folded; icalendar folds before the 75th octet and never
# right after a backslash or caret (an escape split across lines confuses some clients). Same here.
FOLD_OCTETS = 74
_ESCAPES = "\\^"


def fold(line: str) -> str:
    """``line`` folded as icalendar folds it (``Contentline.to_ical``)."""
    if len(line) <= FOLD_OCTETS and line.isascii():
        return line
    if not line.isascii():
        return _fold_by_octets(line)
    segments = []
    position = 0
    while len(line) - position > FOLD_OCTETS:
        segment = line[position : position + FOLD_OCTETS]
        if segment[-1] in _ESCAPES:
            segment = segment[:-1]
        segments.append(segment)
        position += len(segment)
    segments.append(line[position:])
    return "\r\n ".join(segments)


def _fold_by_octets(line: str) -> str:
    """``fold`` for text with multi-byte characters: never inside a character."""
    segments: list[str] = []
    current: list[str] = []
    octets = 0
    for char in line:
        size = len(char.encode())
        if current and octets + size > FOLD_OCTETS:
            if len(current) > 1 and current[-1] in _ESCAPES:
                carried = current.pop()
                segments.append("".join(current))
                current, octets = [carried], len(carried.encode())
            else:
                segments.append("".join(current))
                current, octets = [], 0
        current.append(char)
        octets += size
    if current:
        segments.append("".join(current))
    return "\r\n ".join(segments)
