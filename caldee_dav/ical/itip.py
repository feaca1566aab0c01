"""iTIP (RFC 5546) messages applied to a calendar's copy of an event: pure, icalendar in and out.

An organizer's REQUEST (or a PUBLISH) creates the event or replaces the parts of it that it carries,
when they are newer; a CANCEL marks the event, or the one occurrence it names, STATUS:CANCELLED (kept,
so clients and feeds show the cancellation); an attendee's REPLY sets that attendee's PARTSTAT.

"Newer" is RFC 5546 2.1.5: a higher SEQUENCE, or the same SEQUENCE with a later DTSTAMP. Each
component is compared with the stored component of the same RECURRENCE-ID; an occurrence the calendar
holds no override for is compared with the series. Mail arrives out of order, so an older version is
ignored (and said so), never applied over a newer one.

Who may send what (the organizer, an attendee, the calendar's allowed senders) is decided by the
caller, which knows the sender; this module applies what it is given.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar

from caldee_dav.ical import events as ev
from caldee_dav.ical.parse import main_components
from caldee_dav.ical.tzids import iana_zone_for
from caldee_dav.ical.vtimezones import TIME_PROPERTIES

PRODID = "-//Caledee//Inbound//EN"
APPLIED_METHODS = ("REQUEST", "PUBLISH", "CANCEL", "REPLY")
CREATED, UPDATED, CANCELLED, REPLIED, IGNORED, REJECTED = (
    "created",
    "updated",
    "cancelled",
    "replied",
    "ignored",
    "rejected",
)
REPLY_PARTSTATS = frozenset({"ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED", "NEEDS-ACTION"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Incoming:
    """The components of one UID in an iTIP message: the series (master) and/or occurrences."""

    uid: str
    components: tuple[icalendar.cal.Component, ...]
    timezones: tuple[icalendar.cal.Component, ...] = ()

    @property
    def master(self) -> icalendar.cal.Component | None:
        return next((c for c in self.components if "RECURRENCE-ID" not in c), None)

    @property
    def occurrences(self) -> list[icalendar.cal.Component]:
        return [c for c in self.components if "RECURRENCE-ID" in c]

    @property
    def organizer(self) -> str | None:
        for component in self.components:
            if "ORGANIZER" in component:
                return ev.email_of(component["ORGANIZER"]).strip().lower() or None
        return None


@dataclass(frozen=True)
class Applied:
    """What applying one UID's components gives: an outcome, why, and the object to store (None:
    store nothing). ``answers`` are a REPLY's (email, PARTSTAT) pairs that were applied."""

    outcome: str
    reason: str | None = None
    calendar: icalendar.Calendar | None = None
    answers: tuple[tuple[str, str], ...] = field(default=())


# --- reading the message ------------------------------------------------------------------------


def known_zones_by_name(text: str) -> str:
    """The message's text with the VTIMEZONEs of zones we know by name (IANA, Windows, vendor forms)
    left out and their TZIDs written as IANA names (lines unfolded).

    Parsed, it gives what ``normalise_time_zones`` leaves after parsing the original: the parser takes
    zoneinfo's zone by its name. At a fraction of the cost: a VTIMEZONE is often half of an invitation,
    and Outlook's had the whole message parsed twice."""
    if "TZID" not in text.upper():
        return text
    lines = _FOLD.sub("", text).splitlines(keepends=True)
    kept: list[str] = []
    position = 0
    while position < len(lines):
        line = lines[position]
        end = _vtimezone_end(lines, position) if line.rstrip().upper() == "BEGIN:VTIMEZONE" else None
        if end is not None and _names_known_zone(lines[position:end]):
            position = end  # dropped: the parser takes the zone from zoneinfo by its name
            continue
        kept.append(_TIME_PROPERTY_LINE.sub(_with_iana_tzid, line) if "TZID" in line.upper() else line)
        position += 1
    return "".join(kept)


def _vtimezone_end(lines: list[str], begin: int) -> int | None:
    """The index after the END:VTIMEZONE closing the block at ``begin`` (None: a block left open, or
    another component begun inside it; kept for the parser to judge)."""
    for index in range(begin + 1, len(lines)):
        upper = lines[index].rstrip().upper()
        if upper == "END:VTIMEZONE":
            return index + 1
        if upper.startswith("BEGIN:") and upper not in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            return None
    return None


def _names_known_zone(block: list[str]) -> bool:
    tzids = [line.split(":", 1)[1].strip() for line in block if line.upper().startswith("TZID:")]
    return len(tzids) == 1 and iana_zone_for(tzids[0]) is not None


def _with_iana_tzid(match: re.Match[str]) -> str:
    """A time property's line with its TZID parameter written as the IANA name it maps to."""
    renamed = []
    for param in _PARAMETER.findall(match.group("params")):
        key, _, value = param[1:].partition("=")
        if key.upper() == "TZID":
            iana = iana_zone_for(value.strip('"'))
            param = f";{key}={iana}" if iana is not None else param
        renamed.append(param)
    return f"{match.group('name')}{''.join(renamed)}{match.group('rest')}"


_FOLD = re.compile(r"\r?\n[ \t]")
# A parameter (RFC 5545 3.2): NAME=value or NAME="quoted", values comma-separated.
_PARAM = r'[^;:="\r\n]+=(?:"[^"\r\n]*"|[^;:",\r\n]*)(?:,(?:"[^"\r\n]*"|[^;:",\r\n]*))*'
_PARAMETER = re.compile(";" + _PARAM)
_TIME_PROPERTY_LINE = re.compile(
    rf"^(?P<name>{'|'.join(TIME_PROPERTIES)})(?P<params>(?:;{_PARAM})*)(?P<rest>:.*)$", re.I | re.S
)


def normalise_time_zones(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """The message with TZIDs that name a known zone written as IANA names (Outlook's "Pacific Standard
        Time", libical's /vendor/.../Europe/Paris), floating times put in the zone of X-WR-TIMEZONE when the
        calendar names one, and the VTIMEZONEs no longer used dropped. TZIDs we cannot map keep their
        embedded VTIMEZONE, which the parser honours. Returns a fresh parse of the result (``calendar``
    itself when nothing needed changing)."""
    floating_zone = iana_zone_for(str(calendar.get("X-WR-TIMEZONE", "")))
    renamed: set[str] = set()
    changed = False
    for component in main_components(calendar):
        for name in TIME_PROPERTIES:
            for value in _as_list(component.get(name)):
                tzid = value.params.get("TZID")
                if tzid:
                    iana = iana_zone_for(tzid)
                    if iana is not None and iana != tzid:
                        value.params["TZID"] = iana
                        renamed.add(str(tzid))
                        changed = True
                elif floating_zone is not None and _is_floating(value):
                    value.params["TZID"] = floating_zone
                    changed = True
    if not changed:
        return calendar  # the parse is right as it is (the common case: IANA names or UTC)
    calendar.subcomponents = [
        c for c in calendar.subcomponents if not (c.name == "VTIMEZONE" and str(c.get("TZID")) in renamed)
    ]
    return icalendar.Calendar.from_ical(calendar.to_ical())


def _is_floating(value: object) -> bool:
    """A DATE-TIME without zone (a date is not floating: it has no time to place)."""
    moments = [v.dt for v in getattr(value, "dts", [])] or [getattr(value, "dt", None)]
    return any(isinstance(m, datetime) and m.tzinfo is None for m in moments)


def incoming_events(calendar: icalendar.Calendar) -> list[Incoming]:
    """The message's VEVENTs grouped by UID (in order of first appearance), each with the VTIMEZONEs
    of the message (the stored object keeps those it uses)."""
    timezones = tuple(c for c in calendar.subcomponents if c.name == "VTIMEZONE")
    by_uid: dict[str, list[icalendar.cal.Component]] = {}
    for component in main_components(calendar):
        if component.name == "VEVENT" and str(component.get("UID", "")).strip():
            by_uid.setdefault(str(component["UID"]).strip(), []).append(component)
    return [Incoming(uid, tuple(parts), timezones) for uid, parts in by_uid.items()]


# --- REQUEST / PUBLISH --------------------------------------------------------------------------


def apply_request(
    existing: icalendar.Calendar | None, incoming: Incoming, zone: ZoneInfo, now: datetime
) -> Applied:
    """Create the event, or update the parts of it the message carries when they are newer."""
    if existing is None:
        return Applied(CREATED, None, new_object(incoming.components, incoming.timezones))
    calendar = _own_calendar_copy(existing)
    applied: list[str] = []
    stale: list[str] = []
    master = incoming.master
    if master is not None:
        stored = ev.master_of(calendar)
        if stored is None or is_newer(master, stored):
            _replace_series(calendar, master)
            applied.append("the series")
        else:
            stale.append(_stale_reason("the series", master, stored))
    for occurrence in incoming.occurrences:
        label = f"the occurrence {_key_text(occurrence, zone)}"
        stored = _stored_override(calendar, occurrence, zone)
        reference = stored if stored is not None else ev.master_of(calendar)
        if reference is None or (stored is None and _sequence(occurrence) >= _sequence(reference)):
            _put_override(calendar, occurrence, zone)
            applied.append(label)
        elif stored is not None and is_newer(occurrence, stored):
            _put_override(calendar, occurrence, zone)
            applied.append(label)
        else:
            stale.append(_stale_reason(label, occurrence, reference))
    if not applied:
        return Applied(IGNORED, "; ".join(stale) or "nothing to apply")
    _add_timezones(calendar, incoming.timezones)
    reason = f"updated {', '.join(applied)}" + (f"; ignored {'; '.join(stale)}" if stale else "")
    return Applied(UPDATED, reason, calendar)


def new_object(
    components: Iterable[icalendar.cal.Component], timezones: Iterable[icalendar.cal.Component]
) -> icalendar.Calendar:
    """A calendar object resource (no METHOD, RFC 4791 4.1) holding ``components``, with a VTIMEZONE
    for each TZID they use: the message's own where it has one, else generated from zoneinfo."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    for component in components:
        calendar.add_component(_own_copy(component))
    _add_timezones(calendar, timezones)
    return calendar


def _own_copy(component: icalendar.cal.Component) -> icalendar.cal.Component:
    """A copy of ``component`` whose properties can be added, removed or replaced without changing the
    original; the values themselves, and its alarms, are shared (nothing here changes them in place).
    A deep copy cost as much as parsing the component again."""
    copied = copy.copy(component)
    copied.subcomponents = list(component.subcomponents)
    return copied


def _own_calendar_copy(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """``calendar`` with each component an ``_own_copy``: what REQUEST and CANCEL change (components
    added, removed, their properties replaced) leaves the caller's calendar as it was."""
    copied = _own_copy(calendar)
    copied.subcomponents = [_own_copy(c) for c in calendar.subcomponents]
    return copied


def _replace_series(calendar: icalendar.Calendar, master: icalendar.cal.Component) -> None:
    """The new series; the stored overrides stay only when they are as recent as it (an organizer's
    new series supersedes older exceptions: Outlook drops them when the series moves). The overrides
    the message carries are put by the caller, each against this series."""
    sequence = _sequence(master)
    kept = [
        c
        for c in calendar.subcomponents
        if c.name == "VEVENT" and "RECURRENCE-ID" in c and _sequence(c) >= sequence
    ]
    others = [c for c in calendar.subcomponents if c.name != "VEVENT"]
    calendar.subcomponents = [*others, _own_copy(master), *kept]


def _stored_override(
    calendar: icalendar.Calendar, occurrence: icalendar.cal.Component, zone: ZoneInfo
) -> icalendar.cal.Component | None:
    key = ev.recurrence_key(occurrence.decoded("RECURRENCE-ID"), zone)
    return ev.overrides_of(calendar, zone).get(key)


def _put_override(calendar: icalendar.Calendar, occurrence: icalendar.cal.Component, zone: ZoneInfo) -> None:
    key = ev.recurrence_key(occurrence.decoded("RECURRENCE-ID"), zone)
    calendar.subcomponents = [
        c
        for c in calendar.subcomponents
        if not (c.name == "VEVENT" and "RECURRENCE-ID" in c and _key(c, zone) == key)
    ]
    calendar.add_component(_own_copy(occurrence))


# --- CANCEL -------------------------------------------------------------------------------------


def apply_cancel(
    existing: icalendar.Calendar | None, incoming: Incoming, zone: ZoneInfo, now: datetime
) -> Applied:
    """Mark the series, or the occurrences the message names, STATUS:CANCELLED."""
    if existing is None:
        return Applied(IGNORED, f"no event with UID {incoming.uid!r} in this calendar")
    calendar = _own_calendar_copy(existing)
    stored_master = ev.master_of(calendar)
    whole = incoming.master is not None or not ev.is_recurring(calendar)
    if whole:
        message = incoming.master or incoming.components[0]
        if stored_master is not None and _sequence(message) < _sequence(stored_master):
            return Applied(IGNORED, _stale_reason("the cancellation", message, stored_master))
        sequence = max([_sequence(message), *(_sequence(c) for c in _vevents(calendar))])
        for component in _vevents(calendar):
            _mark_cancelled(component, sequence, now)
        return Applied(CANCELLED, "cancelled the event", calendar)
    cancelled: list[str] = []
    skipped: list[str] = []
    for occurrence in incoming.occurrences:
        key = _key(occurrence, zone)
        label = ev.format_key(key)
        if ev.find_occurrence(calendar, zone, key) is None:
            skipped.append(f"no occurrence {label}")
            continue
        override, _ = ev.override_for(calendar, key, zone, now)
        if _sequence(occurrence) < _sequence(override) and str(override.get("STATUS", "")) != "CANCELLED":
            skipped.append(_stale_reason(f"the cancellation of {label}", occurrence, override))
            continue
        _mark_cancelled(override, max(_sequence(occurrence), _sequence(override)), now)
        cancelled.append(label)
    if not cancelled:
        return Applied(IGNORED, "; ".join(skipped))
    reason = f"cancelled the occurrence {', '.join(cancelled)}" + (
        f"; {'; '.join(skipped)}" if skipped else ""
    )
    ev.add_time_zones(calendar)
    return Applied(CANCELLED, reason, calendar)


def _mark_cancelled(component: icalendar.cal.Component, sequence: int, now: datetime) -> None:
    for name, value in (("STATUS", "CANCELLED"), ("SEQUENCE", sequence)):
        component.pop(name, None)
        component.add(name, value)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        component.pop(name, None)
        component.add(name, now.astimezone(UTC))


# --- REPLY --------------------------------------------------------------------------------------


def apply_reply(
    existing: icalendar.Calendar | None,
    incoming: Incoming,
    sender: str,
    zone: ZoneInfo,
    now: datetime,
) -> Applied:
    """Set the PARTSTAT of the replying attendee (the one whose address is the sender's) on the event
    or the occurrence the reply names."""
    if existing is None:
        return Applied(IGNORED, f"a reply for UID {incoming.uid!r}, which no event of this calendar has")
    calendar = copy.deepcopy(existing)
    sender = sender.strip().lower()
    answers: list[tuple[str, str]] = []
    problems: list[str] = []
    for component in incoming.components:
        replied = [
            (ev.email_of(a).strip().lower(), str(a.params.get("PARTSTAT", "")).upper())
            for a in _as_list(component.get("ATTENDEE"))
        ]
        mine = [(email, partstat) for email, partstat in replied if email == sender]
        if not mine:
            named = ", ".join(email for email, _ in replied) or "no attendee"
            problems.append(f"the reply is for {named}, not for its sender {sender}")
            continue
        key = _key(component, zone) if "RECURRENCE-ID" in component else None
        for email, partstat in mine:
            if partstat not in REPLY_PARTSTATS:
                problems.append(f"{partstat or 'no PARTSTAT'} is not an answer")
                continue
            try:
                ev.set_partstat(calendar, key, [email], partstat, zone, now)
            except ev.NotInvited:
                problems.append(f"{email} is not an attendee of this event")
                continue
            except LookupError:
                problems.append(f"no occurrence {ev.format_key(key) if key else ''}")
                continue
            answers.append((email, partstat))
    if not answers:
        return Applied(REJECTED, "; ".join(problems) or "the reply answers nothing")
    reason = "; ".join(f"{email} {partstat.lower()}" for email, partstat in answers)
    return Applied(REPLIED, reason, calendar, tuple(answers))


# --- versions -----------------------------------------------------------------------------------


def is_newer(candidate: icalendar.cal.Component, stored: icalendar.cal.Component) -> bool:
    """RFC 5546 2.1.5: a higher SEQUENCE, or the same SEQUENCE and a later DTSTAMP."""
    return (_sequence(candidate), _dtstamp(candidate)) > (_sequence(stored), _dtstamp(stored))


def _sequence(component: icalendar.cal.Component) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def _dtstamp(component: icalendar.cal.Component) -> datetime:
    try:
        value = component.decoded("DTSTAMP")
    except (KeyError, ValueError, TypeError):
        return EPOCH
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return EPOCH


def _stale_reason(what: str, incoming: icalendar.cal.Component, stored: icalendar.cal.Component) -> str:
    return (
        f"{what}: SEQUENCE {_sequence(incoming)} of {_stamp_text(incoming)} is not newer than the"
        f" stored SEQUENCE {_sequence(stored)} of {_stamp_text(stored)}"
    )


def _stamp_text(component: icalendar.cal.Component) -> str:
    stamp = _dtstamp(component)
    return "no DTSTAMP" if stamp == EPOCH else stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- helpers ------------------------------------------------------------------------------------


def _key(component: icalendar.cal.Component, zone: ZoneInfo) -> ev.RecurrenceKey:
    return ev.recurrence_key(component.decoded("RECURRENCE-ID"), zone)


def _key_text(component: icalendar.cal.Component, zone: ZoneInfo) -> str:
    return ev.format_key(_key(component, zone))


def _vevents(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.subcomponents if c.name == "VEVENT"]


def _add_timezones(calendar: icalendar.Calendar, timezones: Iterable[icalendar.cal.Component]) -> None:
    """The message's VTIMEZONE for each TZID the object uses and lacks, then zoneinfo's for the rest."""
    used = _used_tzids(calendar)
    present = {str(c.get("TZID")) for c in calendar.subcomponents if c.name == "VTIMEZONE"}
    for timezone in timezones:
        tzid = str(timezone.get("TZID"))
        if tzid in used and tzid not in present:
            calendar.subcomponents.insert(0, _own_copy(timezone))
            present.add(tzid)
    ev.add_time_zones(calendar)


def _used_tzids(calendar: icalendar.Calendar) -> set[str]:
    return {
        str(value.params["TZID"])
        for component in _vevents(calendar)
        for name in TIME_PROPERTIES
        for value in _as_list(component.get(name))
        if value.params.get("TZID")
    }


def _as_list(value: object) -> list[icalendar.prop.vDDDTypes]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]  # type: ignore[list-item]
