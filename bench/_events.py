"""Deterministic calendar data for the CalDAV benchmark: what a busy person's calendar looks like.

Events are written the way desktop clients (Thunderbird, Apple Calendar) send them: one VCALENDAR per
UID, a VTIMEZONE block for every TZID used, CRLF line ends. The mix: mostly 30-90 minute meetings in
office hours on weekdays, some all-day events, about 5% recurring (weekly or daily, with COUNT or UNTIL,
a fixed handful unbounded) carrying EXDATEs and moved instances (RECURRENCE-ID overrides).

The events span ``years`` calendar years ending with 2027, so that a calendar of 100,000 events has the
same density (about 10,000 a year) as one of 10,000 and a one-week query returns about as much.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LAST_YEAR = 2027
EVENTS_PER_YEAR = 10_000
UNBOUNDED_RECURRING = 10
RECURRING_SHARE = 0.05
ALL_DAY_SHARE = 0.06

# VTIMEZONE blocks as Thunderbird (libical) writes them.
VTIMEZONES = {
    "Europe/Paris": """BEGIN:VTIMEZONE
TZID:Europe/Paris
X-LIC-LOCATION:Europe/Paris
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE""",
    "America/New_York": """BEGIN:VTIMEZONE
TZID:America/New_York
X-LIC-LOCATION:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE""",
    "Asia/Tokyo": """BEGIN:VTIMEZONE
TZID:Asia/Tokyo
X-LIC-LOCATION:Asia/Tokyo
BEGIN:STANDARD
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:JST
DTSTART:19700101T000000
END:STANDARD
END:VTIMEZONE""",
    "Australia/Sydney": """BEGIN:VTIMEZONE
TZID:Australia/Sydney
X-LIC-LOCATION:Australia/Sydney
BEGIN:STANDARD
TZOFFSETFROM:+1100
TZOFFSETTO:+1000
TZNAME:AEST
DTSTART:19700405T030000
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU
END:STANDARD
BEGIN:DAYLIGHT
TZOFFSETFROM:+1000
TZOFFSETTO:+1100
TZNAME:AEDT
DTSTART:19701004T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU
END:DAYLIGHT
END:VTIMEZONE""",
}
# Where the calendar's owner and their contacts are; "UTC" events are written with a Z suffix.
ZONE_WEIGHTS = {
    "Europe/Paris": 45,
    "UTC": 20,
    "America/New_York": 20,
    "Asia/Tokyo": 10,
    "Australia/Sydney": 5,
}
SUMMARIES = [
    "Team stand-up",
    "1:1 with Camille",
    "Design review",
    "Customer call — Müller GmbH",
    "Budget planning",
    "Lunch with Sam",
    "Interview: backend engineer",
    "Sprint retro",
    "Dentist",
    "Release go/no-go",
    "Quarterly business review",
    "Coffee chat",
    "Architecture sync (Tokyo office)",
    "Board prep",
]
LOCATIONS = ["", "", "Room 4.12", "https://meet.example.com/abc-defg-hij", "Café de la Gare", "HQ, 2nd floor"]
ALL_DAY_SUMMARIES = ["Conference", "Public holiday", "Offsite", "Vacation", "Birthday: Ana", "Trade fair"]
DTSTAMP = "20261122T090000Z"


@dataclass(frozen=True)
class Event:
    uid: str
    text: str
    recurring: bool = False

    @property
    def href(self) -> str:
        return f"{self.uid}.ics"


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def _local(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _stamp(prop: str, value: datetime, zone: str) -> str:
    """DTSTART/DTEND/RECURRENCE-ID/EXDATE line in the event's zone."""
    if zone == "UTC":
        return f"{prop}:{_utc(value)}"
    return f"{prop};TZID={zone}:{_local(value)}"


def _fold(line: str) -> list[str]:
    """RFC 5545 folding at 75 octets (clients fold; parsers must unfold)."""
    out: list[str] = []
    data = line.encode()
    while len(data) > 75:
        cut = 75 if not out else 74
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # do not split a UTF-8 sequence
            cut -= 1
        out.append(data[:cut].decode())
        data = data[cut:]
    out.append(data.decode())
    return [out[0]] + [" " + part for part in out[1:]]


def _calendar(zone: str, vevents: list[list[str]]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Caledee bench//NONSGML Calendar 1.0//EN"]
    if zone in VTIMEZONES:
        lines.extend(VTIMEZONES[zone].split("\n"))
    for vevent in vevents:
        lines.append("BEGIN:VEVENT")
        lines.extend(vevent)
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    folded = [part for line in lines for part in _fold(line)]
    return "\r\n".join(folded) + "\r\n"


def _common(rng: random.Random, uid: str, summary: str, created: datetime) -> list[str]:
    lines = [
        f"CREATED:{_utc(created)}",
        f"LAST-MODIFIED:{_utc(created)}",
        f"DTSTAMP:{DTSTAMP}",
        f"UID:{uid}",
        f"SUMMARY:{summary}",
    ]
    location = rng.choice(LOCATIONS)
    if location:
        lines.append(f"LOCATION:{location}")
    if rng.random() < 0.3:
        lines.append(
            "DESCRIPTION:Agenda:\\n- review last week's action items\\n- decide on the Q3 roadmap"
            "\\n- open questions\\nDial-in details are in the invitation."
        )
    if rng.random() < 0.4:
        lines.append("ORGANIZER;CN=Alex Martin:mailto:alex@example.com")
        for n in range(rng.randint(1, 4)):
            lines.append(
                f"ATTENDEE;CN=Guest {n};PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:guest{n}@example.com"
            )
    return lines


def _meeting_start(rng: random.Random, day: date, zone: str) -> datetime:
    tz = ZoneInfo("UTC" if zone == "UTC" else zone)
    hour = rng.choice([8, 9, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17])
    minute = rng.choice([0, 0, 0, 15, 30, 30, 45])
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def _random_day(rng: random.Random, first: date, days: int, *, weekday_only: bool) -> date:
    for _ in range(20):
        day = first + timedelta(days=rng.randrange(days))
        if not weekday_only or day.weekday() < 5:
            return day
    return day


def single_event(rng: random.Random, first: date, days: int) -> Event:
    uid = _uid(rng)
    if rng.random() < ALL_DAY_SHARE:
        day = _random_day(rng, first, days, weekday_only=False)
        length = rng.choice([1, 1, 1, 2, 3, 5])
        created = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=rng.randint(3, 60))
        vevent = _common(rng, uid, rng.choice(ALL_DAY_SUMMARIES), created) + [
            f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(day + timedelta(days=length)).strftime('%Y%m%d')}",
            "TRANSP:TRANSPARENT",
        ]
        return Event(uid, _calendar("UTC", [vevent]))
    zone = rng.choices(list(ZONE_WEIGHTS), weights=list(ZONE_WEIGHTS.values()))[0]
    start = _meeting_start(rng, _random_day(rng, first, days, weekday_only=True), zone)
    end = start + timedelta(minutes=rng.choice([30, 30, 45, 60, 60, 60, 90]))
    created = start - timedelta(days=rng.randint(1, 45))
    vevent = _common(rng, uid, rng.choice(SUMMARIES), created) + [
        _stamp("DTSTART", start, zone),
        _stamp("DTEND", end, zone),
        "SEQUENCE:0",
        "TRANSP:OPAQUE",
    ]
    if rng.random() < 0.3:
        vevent += ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "DESCRIPTION:Reminder", "END:VALARM"]
    return Event(uid, _calendar(zone, [vevent]))


def recurring_event(rng: random.Random, first: date, days: int, *, unbounded: bool = False) -> Event:
    uid = _uid(rng)
    zone = rng.choices(list(ZONE_WEIGHTS), weights=list(ZONE_WEIGHTS.values()))[0]
    start = _meeting_start(rng, _random_day(rng, first, days, weekday_only=True), zone)
    duration = timedelta(minutes=rng.choice([15, 30, 30, 60]))
    daily = rng.random() < 0.25
    step = timedelta(days=1 if daily else 7)
    freq = "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR" if daily else "FREQ=WEEKLY"
    count = rng.randint(5, 30) if daily else rng.randint(4, 40)
    if unbounded:
        rule = freq
    elif rng.random() < 0.5:
        rule = f"{freq};COUNT={count}"
    else:
        # UNTIL in UTC, as RFC 5545 requires when DTSTART has a TZID.
        rule = f"{freq};UNTIL={_utc(start + step * count)}"
    # Instances that certainly exist (weekly rules hit every step; daily rules skip weekends).
    known = [start + step * k for k in range(1, min(count, 12))] if not daily else []
    master = _common(rng, uid, rng.choice(SUMMARIES), start - timedelta(days=10)) + [
        _stamp("DTSTART", start, zone),
        _stamp("DTEND", start + duration, zone),
        f"RRULE:{rule}",
    ]
    removed = rng.sample(known, k=min(len(known), rng.randint(0, 2)))
    for instance in sorted(removed):
        master.append(_stamp("EXDATE", instance, zone))
    master += ["SEQUENCE:1", "TRANSP:OPAQUE"]
    vevents = [master]
    movable = [k for k in known if k not in removed]
    for instance in sorted(rng.sample(movable, k=min(len(movable), rng.randint(0, 2)))):
        moved = instance + timedelta(hours=rng.choice([-2, -1, 1, 2, 24]))
        vevents.append(
            _common(rng, uid, "(moved) " + rng.choice(SUMMARIES), start - timedelta(days=5))
            + [
                _stamp("RECURRENCE-ID", instance, zone),
                _stamp("DTSTART", moved, zone),
                _stamp("DTEND", moved + duration, zone),
                "SEQUENCE:2",
            ]
        )
    return Event(uid, _calendar(zone, vevents), recurring=True)


def span(years: int) -> tuple[date, int]:
    first = date(LAST_YEAR - years + 1, 1, 1)
    return first, (date(LAST_YEAR + 1, 1, 1) - first).days


def generate(count: int, *, years: int, seed: int = 2027) -> Iterator[Event]:
    """``count`` events over ``years`` years ending with 2027; the same arguments give the same events."""
    rng = random.Random(seed)
    first, days = span(years)
    last_year_first, last_year_days = span(1)
    unbounded = min(UNBOUNDED_RECURRING, count // 100)
    for n in range(count):
        if n < unbounded:
            # Unbounded series are started in the last year, so their number does not grow with ``years``.
            yield recurring_event(rng, last_year_first, last_year_days, unbounded=True)
        elif rng.random() < RECURRING_SHARE:
            yield recurring_event(rng, first, days)
        else:
            yield single_event(rng, first, days)


def new_event(rng: random.Random, day: date) -> Event:
    """A fresh one-hour meeting on ``day`` (for timed PUTs and sync changes)."""
    return single_event(rng, day, 1)


def modified(event: Event, revision: int) -> Event:
    """The same event with a new SUMMARY and SEQUENCE, as a client writes an edit."""
    lines = event.text.split("\r\n")
    out = []
    for line in lines:
        if line.startswith("SUMMARY:") and not out[-1].startswith("BEGIN:VALARM"):
            line = f"SUMMARY:Edited ({revision}) " + line[len("SUMMARY:") :]
        elif line.startswith("SEQUENCE:"):
            line = f"SEQUENCE:{int(line[len('SEQUENCE:') :]) + 1}"
        out.append(line)
    return Event(event.uid, "\r\n".join(out), event.recurring)
