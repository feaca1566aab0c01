"""A calendar's objects as one published .ics feed (RFC 5545), rendered at text level. Pure.

Stored objects are VCALENDAR texts (CRLF line ends, written by the one write service). A feed of
10,000 events must not parse 10,000 objects with icalendar, so each object is unfolded and split into
its components as bytes; VEVENTs are copied line by line (the full feed) or reduced to their timing and
identity (the busy-only feed), and every line is folded again at 75 octets, never inside a UTF-8
sequence. An object the text path cannot split (bare LF line ends, unbalanced BEGIN/END) is parsed
with icalendar once and serialized again; one that icalendar cannot read either is left out.

The feed holds exactly one VTIMEZONE per TZID its VEVENTs use: the first one an object carries, else
one made from the zoneinfo database (icalendar's ``Timezone.from_tzid``). VTODO and VJOURNAL are left
out.

Work is bounded by the input: a calendar's stored text (each object capped by the write service), at
most ``MAX_COMPONENTS_PER_OBJECT`` components per object and ``MAX_GENERATED_ZONES`` zones made from zoneinfo.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import icalendar

log = logging.getLogger(__name__)

PRODID = "-//Caledee//Feeds//EN"
CRLF = b"\r\n"
MAX_LINE_OCTETS = 75
# The write service caps an object's components (max_components_per_object); text beyond this is not
# read on the text path.
MAX_COMPONENTS_PER_OBJECT = 10_000
# Zones made from zoneinfo for TZIDs no object carries a VTIMEZONE for: a hostile calendar could name
# thousands of made-up ones, each a lookup.
MAX_GENERATED_ZONES = 200
MAX_TZID_LENGTH = 100
# Generated zones cover their transitions from 1970 up to this many years after the feed's year.
ZONE_YEARS_AHEAD = 30

# What a busy-only VEVENT keeps: timing and identity (its UID is replaced by a hash).
BUSY_PROPERTIES = frozenset(
    {
        b"DTSTART",
        b"DTEND",
        b"DURATION",
        b"RRULE",
        b"RDATE",
        b"EXDATE",
        b"RECURRENCE-ID",
        b"DTSTAMP",
        b"SEQUENCE",
        b"STATUS",
        b"TRANSP",
    }
)
# Parameters a busy-only property keeps (a TZID or a value type; RANGE of a RECURRENCE-ID); others
# (X- parameters, CN, ...) may carry anything.
BUSY_PARAMETERS = frozenset({b"TZID", b"VALUE", b"RANGE"})
BUSY_SUMMARY = b"SUMMARY:Busy"

_UNFOLD = re.compile(rb"\r\n[ \t]")
# Date properties, whose TZID parameter names a zone the feed must define.
_DATE_PROPERTIES = tuple(
    name + b";" for name in (b"DTSTART", b"DTEND", b"DUE", b"RECURRENCE-ID", b"EXDATE", b"RDATE")
)
_BUSY_PREFIXES = tuple(name + sep for name in (b"UID", *BUSY_PROPERTIES) for sep in (b":", b";"))
VCALENDAR_BEGIN, VCALENDAR_END = b"BEGIN:VCALENDAR\r\n", b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class FeedHeader:
    """The feed's calendar properties: X-WR-CALNAME, X-WR-TIMEZONE, X-WR-CALDESC, refresh interval."""

    name: str
    timezone: str
    description: str | None
    refresh_minutes: int
    year: int  # the current year: generated VTIMEZONEs reach ZONE_YEARS_AHEAD beyond it


@dataclass(frozen=True)
class BusyOnly:
    """Render the busy-only variant; UIDs become a hash salted with ``uid_salt`` (the calendar's id),
    so they stay stable per calendar and cannot be matched against a guessed UID elsewhere."""

    uid_salt: str


@dataclass
class RenderStats:
    events: int = 0
    fallbacks: int = 0  # objects parsed with icalendar
    skipped: int = 0  # objects left out (unreadable)
    zones_carried: int = 0
    zones_generated: int = 0


@dataclass
class _Property:
    name: bytes  # upper case
    params: list[tuple[bytes, bytes]]  # (upper-case name, raw value)
    value: bytes

    def line(self, keep_params: frozenset[bytes] | None = None) -> bytes:
        params = b"".join(
            b";" + key + b"=" + value
            for key, value in self.params
            if keep_params is None or key in keep_params
        )
        return self.name + params + b":" + self.value


@dataclass
class _Component:
    name: bytes
    text: bytes  # "BEGIN:...\r\n" ... "END:...\r\n", unfolded, nested components included


@dataclass
class _Feed:
    busy: BusyOnly | None
    stats: RenderStats = field(default_factory=RenderStats)
    carried_zones: dict[str, bytes] = field(default_factory=dict)  # unfolded VTIMEZONE texts
    used_tzids: set[str] = field(default_factory=set)
    events: list[bytes] = field(default_factory=list)  # unfolded text (CRLF lines), folded on output


def render_feed(header: FeedHeader, texts: Iterable[bytes | str], busy: BusyOnly | None = None) -> bytes:
    """The feed of ``texts`` (stored VCALENDAR objects): UTF-8 bytes, CRLF, folded."""
    return render_feed_with_stats(header, texts, busy)[0]


def render_feed_with_stats(
    header: FeedHeader, texts: Iterable[bytes | str], busy: BusyOnly | None = None
) -> tuple[bytes, RenderStats]:
    feed = _Feed(busy)
    for text in texts:
        _add_object(feed, text.encode() if isinstance(text, str) else text)
    out = [_fold(line) for line in _calendar_head(header, busy is not None)]
    out.extend(_fold(line) for line in _zone_lines(feed, header.year))
    out.extend(_folded_text(chunk) for chunk in feed.events)
    out.append(b"END:VCALENDAR" + CRLF)
    return b"".join(out), feed.stats


# --- the calendar around the events ----------------------------------------------------------


def _calendar_head(header: FeedHeader, busy: bool) -> list[bytes]:
    ttl = refresh_duration(header.refresh_minutes).encode()
    # The busy-only feed does not name the calendar: its name or description may tell what the
    # busy times are ("Therapy").
    name = "Busy" if busy else header.name
    lines = [
        b"BEGIN:VCALENDAR",
        b"VERSION:2.0",
        b"PRODID:" + PRODID.encode(),
        b"CALSCALE:GREGORIAN",
        b"METHOD:PUBLISH",
        b"X-WR-CALNAME:" + escape_text(name).encode(),
        b"X-WR-TIMEZONE:" + escape_text(header.timezone).encode(),
    ]
    if header.description and not busy:
        lines.append(b"X-WR-CALDESC:" + escape_text(header.description).encode())
    lines += [b"REFRESH-INTERVAL;VALUE=DURATION:" + ttl, b"X-PUBLISHED-TTL:" + ttl]
    return lines


def refresh_duration(minutes: int) -> str:
    """An RFC 5545 DURATION: 60 -> ``PT1H``, 90 -> ``PT1H30M``, 1440 -> ``P1D``."""
    days, rest = divmod(max(minutes, 1), 24 * 60)
    hours, mins = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def escape_text(text: str) -> str:
    """An RFC 5545 TEXT value (3.3.11)."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _folded_text(text: bytes) -> bytes:
    """Unfolded CRLF lines, folded: as they are when none is longer than 75 octets (most events)."""
    lines = text[:-2].split(CRLF)
    if max(map(len, lines)) <= MAX_LINE_OCTETS:
        return text
    return b"".join(map(_fold, lines))


def _fold(line: bytes) -> bytes:
    """One content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence, with CRLF."""
    if len(line) <= MAX_LINE_OCTETS:
        return line + CRLF
    parts = []
    limit = MAX_LINE_OCTETS
    while len(line) > limit:
        cut = limit
        while cut > 1 and (line[cut] & 0xC0) == 0x80:  # a continuation byte: cut before its sequence
            cut -= 1
        parts.append(line[:cut])
        line = line[cut:]
        limit = MAX_LINE_OCTETS - 1  # continuation lines start with a space
    parts.append(line)
    return b"\r\n ".join(parts) + CRLF


# --- objects -> components ----------------------------------------------------------------------


def _add_object(feed: _Feed, text: bytes) -> None:
    components = _split_components(text)
    if components is None:
        feed.stats.fallbacks += 1
        reserialized = _reserialized(text)
        components = _split_components(reserialized) if reserialized is not None else None
        if components is None:
            feed.stats.skipped += 1
            return
    events = []
    for component in components:
        if component.name == b"VTIMEZONE":
            _carry_zone(feed, component)
        elif component.name == b"VEVENT":
            events.append(component)
    if not events:
        return
    if feed.busy is None:
        for event in events:
            _add_full_event(feed, event)
    else:
        _add_busy_events(feed, events, feed.busy)


def _split_components(text: bytes) -> list[_Component] | None:
    """The components directly inside the VCALENDAR of ``text``; None when the text path cannot read
    it (then icalendar tries): bare LF line ends, delimiters not in upper case, unbalanced components.
    Found with ``bytes.find`` (C speed): a line-by-line loop in Python was most of a 10,000-event feed."""
    if text.count(b"\n") != text.count(CRLF):
        return None  # bare LF line ends: splitting on CRLF would keep them inside lines
    unfolded = _UNFOLD.sub(b"", text).rstrip(b"\r\n") + CRLF
    if not (unfolded.startswith(VCALENDAR_BEGIN) and unfolded.endswith(VCALENDAR_END)):
        return None
    # Names are case-insensitive; lower-case BEGIN/END lines (a raw line break cannot appear in a
    # value, so these counts see delimiters only) go to icalendar, which writes them in upper case.
    upper = unfolded.upper()
    if upper.count(b"\nBEGIN:") != unfolded.count(b"\nBEGIN:") or upper.count(b"\nEND:") != unfolded.count(
        b"\nEND:"
    ):
        return None
    body = unfolded[len(VCALENDAR_BEGIN) - 2 : -len(VCALENDAR_END)]  # starts with CRLF
    components: list[_Component] = []
    position = body.find(b"\r\nBEGIN:")
    while position != -1:
        name_end = body.find(CRLF, position + 8)
        name = body[position + 8 : name_end]
        end_marker = b"\r\nEND:" + name + CRLF
        end = body.find(end_marker, name_end)
        if end == -1 or len(components) >= MAX_COMPONENTS_PER_OBJECT:
            return None
        components.append(_Component(name, body[position + 2 : end + len(end_marker)]))
        position = body.find(b"\r\nBEGIN:", end + len(end_marker) - 2)
    return components


def _reserialized(text: bytes) -> bytes | None:
    """``text`` parsed by icalendar and written again (CRLF, folded): what the text path reads."""
    try:
        calendar = icalendar.Calendar.from_ical(text.decode("utf-8", errors="replace"))
        return calendar.to_ical()
    except Exception:  # noqa: BLE001 - any failure to read stored text leaves the object out, not the feed
        log.warning("feed: an object that icalendar cannot read was left out", exc_info=True)
        return None


# --- content lines ------------------------------------------------------------------------------


def _parse_line(line: bytes) -> _Property:
    """Name, parameters and value of a content line (RFC 5545 3.1; quoted parameter values may hold
    ``:`` and ``;``)."""
    colon = line.find(b":")
    head = line[:colon] if colon >= 0 else line
    if b'"' not in head:
        parts = head.split(b";")
        params = [_param(part) for part in parts[1:]]
        return _Property(parts[0].upper(), params, line[colon + 1 :] if colon >= 0 else b"")
    # A quoted parameter value: scan for the first ':' outside quotes.
    quoted = False
    pieces: list[bytes] = []
    start = 0
    for index, byte in enumerate(line):
        if byte == 0x22:  # "
            quoted = not quoted
        elif not quoted and byte in (0x3B, 0x3A):  # ; :
            pieces.append(line[start:index])
            start = index + 1
            if byte == 0x3A:
                return _Property(pieces[0].upper(), [_param(p) for p in pieces[1:]], line[start:])
    pieces.append(line[start:])
    return _Property(pieces[0].upper(), [_param(p) for p in pieces[1:]], b"")


def _param(text: bytes) -> tuple[bytes, bytes]:
    key, _, value = text.partition(b"=")
    return key.upper(), value


def _tzid_in(line: bytes) -> str | None:
    """The TZID parameter of a content line; without a full parse for the usual unquoted one."""
    colon = line.find(b":")
    head = line[:colon] if colon >= 0 else line
    start = head.find(b";TZID=")
    if start == -1 or b'"' in head:
        return _tzid_of(_parse_line(line))  # quoted, or tzid= in another case
    end = head.find(b";", start + 6)
    return _zone_name(head[start + 6 : end if end >= 0 else len(head)])


@lru_cache(maxsize=1024)
def _zone_name(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _tzid_of(prop: _Property) -> str | None:
    for key, value in prop.params:
        if key == b"TZID":
            return value.strip(b'"').decode("utf-8", errors="replace")
    return None


# --- time zones -----------------------------------------------------------------------------------


def _carry_zone(feed: _Feed, component: _Component) -> None:
    start = component.text.find(b"\r\nTZID")
    if start == -1:
        return
    line = component.text[start + 2 : component.text.find(CRLF, start + 2)]
    tzid = _parse_line(line).value.decode("utf-8", errors="replace")
    feed.carried_zones.setdefault(tzid, component.text)  # the first one an object carries


def _zone_lines(feed: _Feed, year: int) -> list[bytes]:
    """The VTIMEZONEs of the TZIDs used, as unfolded lines."""
    lines: list[bytes] = []
    generated = 0
    for tzid in sorted(feed.used_tzids):
        carried = feed.carried_zones.get(tzid)
        if carried is not None:
            feed.stats.zones_carried += 1
            lines.extend(carried[:-2].split(CRLF))
            continue
        if generated >= MAX_GENERATED_ZONES:
            continue
        generated += 1
        made = generated_zone(tzid, year + ZONE_YEARS_AHEAD)
        if made:
            feed.stats.zones_generated += 1
            lines.extend(made)
    return lines


@lru_cache(maxsize=512)
def generated_zone(tzid: str, last_year: int) -> tuple[bytes, ...]:
    """A VTIMEZONE for an IANA zone name, from zoneinfo (cached: icalendar computes every transition);
    empty when the name is not a zone."""
    if not tzid or len(tzid) > MAX_TZID_LENGTH:
        return ()
    try:
        zone = icalendar.Timezone.from_tzid(tzid, last_date=date(last_year, 1, 1))
    except Exception:  # noqa: BLE001 - an unknown or malformed TZID: the feed goes without its VTIMEZONE
        return ()
    return tuple(_UNFOLD.sub(b"", zone.to_ical()).split(CRLF)[:-1])


# --- VEVENTs --------------------------------------------------------------------------------------


def _add_full_event(feed: _Feed, event: _Component) -> None:
    feed.stats.events += 1
    text = event.text
    position = text.find(b"TZID=")
    while position != -1:
        line_start = text.rfind(b"\n", 0, position) + 1
        line_end = text.find(CRLF, position)
        line = text[line_start:line_end]
        if line.startswith(_DATE_PROPERTIES):
            tzid = _tzid_in(line)
            if tzid:
                feed.used_tzids.add(tzid)
        position = text.find(b"TZID=", line_end)
    feed.events.append(text)


@dataclass
class _BusyEvent:
    uid: bytes
    properties: list[_Property]  # the kept ones, in order
    recurrence_id: _Property | None
    excluded: bool  # transparent or cancelled: takes no time


def _busy_view(event: _Component) -> _BusyEvent:
    uid = b""
    kept: list[_Property] = []
    recurrence_id: _Property | None = None
    excluded = False
    nested: bytes | None = None  # the end line of the nested component (VALARM) we are in
    for line in event.text[:-2].split(CRLF)[1:-1]:
        if nested is not None:
            if line == nested:
                nested = None
            continue
        if line.startswith(b"BEGIN:"):
            nested = b"END:" + line[6:]  # nothing of a VALARM is busy time
            continue
        if not line.startswith(_BUSY_PREFIXES):
            continue
        colon = line.find(b":")
        if line.find(b";", 0, colon) == -1:  # no parameters (most lines): no parse
            prop = _Property(line[:colon], [], line[colon + 1 :])
        else:
            prop = _parse_line(line)
        if prop.name == b"UID":
            uid = prop.value
            continue
        if prop.name in (b"STATUS", b"TRANSP"):
            if prop.value.strip().upper() in (b"CANCELLED", b"TRANSPARENT"):
                excluded = True
        elif prop.name == b"RECURRENCE-ID":
            recurrence_id = prop
        kept.append(prop)
    return _BusyEvent(uid, kept, recurrence_id, excluded)


def _busy_uid(salt: str, *parts: bytes) -> bytes:
    digest = hashlib.sha256(salt.encode() + b"\x00" + b"\x00".join(parts)).hexdigest()
    return digest[:32].encode() + b"@busy.caledee"


def _add_busy_events(feed: _Feed, events: list[_Component], busy: BusyOnly) -> None:
    """One object's VEVENTs (a series and its overrides) as busy-only events: transparent and cancelled
    ones left out, a cancelled or transparent override of a kept series turned into an EXDATE of it,
    overrides of a series left out turned into events of their own."""
    views = [_busy_view(event) for event in events]
    master = next((view for view in views if view.recurrence_id is None), None)
    overrides = [view for view in views if view.recurrence_id is not None]
    if master is not None and not master.excluded:
        exdates = [
            _as_exdate(view.recurrence_id) for view in overrides if view.excluded and view.recurrence_id
        ]
        _emit_busy(feed, _busy_uid(busy.uid_salt, master.uid), master.properties + exdates)
        for view in overrides:
            if not view.excluded:
                _emit_busy(feed, _busy_uid(busy.uid_salt, master.uid), view.properties)
        return
    for view in overrides:
        if view.excluded or view.recurrence_id is None:
            continue
        # Without its series the override stands alone: an event of its own, under its own UID.
        alone = [prop for prop in view.properties if prop.name != b"RECURRENCE-ID"]
        _emit_busy(feed, _busy_uid(busy.uid_salt, view.uid, view.recurrence_id.value), alone)


def _as_exdate(recurrence_id: _Property) -> _Property:
    params = [(key, value) for key, value in recurrence_id.params if key in (b"TZID", b"VALUE")]
    return _Property(b"EXDATE", params, recurrence_id.value)


def _emit_busy(feed: _Feed, uid: bytes, properties: list[_Property]) -> None:
    feed.stats.events += 1
    lines = [b"BEGIN:VEVENT", b"UID:" + uid, BUSY_SUMMARY]
    for prop in properties:
        if prop.params:
            tzid = _tzid_of(prop)
            if tzid:
                feed.used_tzids.add(tzid)
            lines.append(prop.line(BUSY_PARAMETERS))
        else:
            lines.append(prop.name + b":" + prop.value)
    lines.append(b"END:VEVENT")
    feed.events.append(CRLF.join(lines) + CRLF)
