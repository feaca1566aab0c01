"""Indexing a recurring series: ``index_object`` beside the recurring_ical_events path it replaces.

    .venv/bin/python bench/index_series.py [--rounds 15] [--calls 20] [--profile weekly-unbounded]

Six series as clients and mail senders write them, clock-relative (the first instance next Monday, or
the weekday after it), each parsed once as the write path parses it (``parse_calendar``, VTIMEZONEs
kept) and indexed with the write path's limits (730-day horizon, 5,000 instances, series limit and time
limit from the settings):

* weekly-unbounded: Google's weekly series, ``RRULE:FREQ=WEEKLY;BYDAY=MO`` in America/New_York;
* daily-count: ``FREQ=DAILY;COUNT=60`` in Europe/Berlin;
* monthly-until: ``FREQ=MONTHLY;BYDAY=2TU;UNTIL=`` two years on (UTC), Asia/Kolkata;
* weekly-edited: weekly in Europe/Berlin with 5 EXDATEs and 3 overrides (one moved, one
  STATUS:CANCELLED, one TRANSP:TRANSPARENT and longer);
* yearly-all-day: a birthday, ``DTSTART;VALUE=DATE``, ``FREQ=YEARLY``;
* outlook-count: Outlook/Teams' ``FREQ=WEEKLY;COUNT=6;INTERVAL=1;BYDAY=TU;WKST=SU`` in "Pacific Standard
  Time" with Exchange's VTIMEZONE (a dateutil zone, not zoneinfo).

Baseline in the same run: ``index_object_by_library``, the path every series took before
``caldee_dav.ical.series``: recurring_ical_events' ``Series.between`` in the windows of
``caldee_dav.ical.expand``, each instance's TRANSP and STATUS read from its component. Both indexes must
be equal, field by field, and each series must take the fast path (exit 1 if not). Rounds alternate which
path goes first; a time is the median over rounds of the mean of ``--calls`` calls, the ratio the median
of the rounds' ratios (the machine's speed drifts by a third over minutes; both paths of a round see the
same). ``--profile NAME`` runs the new path of one series under cProfile afterwards. Results:
docs/performance.md ("Indexing a series").
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _events  # noqa: E402
import icalendar  # noqa: E402

from caldee_dav import clock  # noqa: E402
from caldee_dav.config import Settings  # noqa: E402
from caldee_dav.ical.expand import SimpleExpansion, expansion_of  # noqa: E402
from caldee_dav.ical.index import ObjectIndex, index_object, index_object_by_library  # noqa: E402
from caldee_dav.ical.parse import parse_calendar  # noqa: E402

TARGET_RATIO = 4.0  # on weekly-unbounded

# Google's VTIMEZONE, as the CalDAV benchmark writes it.
NEW_YORK = _events.VTIMEZONES["America/New_York"]

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""

PACIFIC_EXCHANGE = """BEGIN:VTIMEZONE
TZID:Pacific Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""


def _local(day: date, hour: int, minute: int = 0) -> str:
    return f"{day:%Y%m%d}T{hour:02d}{minute:02d}00"


def in_utc(day: date, hour: int, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _calendar(zones: list[str], *vevents: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Caledee//bench index_series//EN"]
    lines += [line for zone in zones for line in zone.splitlines()]
    for vevent in vevents:
        lines += [
            "BEGIN:VEVENT",
            "UID:series@bench.example",
            "DTSTAMP:20260101T000000Z",
            *vevent,
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def weekly_unbounded(monday: date) -> str:
    zone = "America/New_York"
    return _calendar(
        [NEW_YORK],
        [
            f"DTSTART;TZID={zone}:{_local(monday, 9, 30)}",
            f"DTEND;TZID={zone}:{_local(monday, 10, 30)}",
            "RRULE:FREQ=WEEKLY;BYDAY=MO",
            "SUMMARY:Weekly planning",
            "STATUS:CONFIRMED",
            "TRANSP:OPAQUE",
            "SEQUENCE:0",
        ],
    )


def daily_count(monday: date) -> str:
    zone = "Europe/Berlin"
    return _calendar(
        [BERLIN],
        [
            f"DTSTART;TZID={zone}:{_local(monday, 8)}",
            f"DTEND;TZID={zone}:{_local(monday, 8, 15)}",
            "RRULE:FREQ=DAILY;COUNT=60",
            "SUMMARY:Stand-up",
        ],
    )


def monthly_until(monday: date) -> str:
    tuesday = monday + timedelta(days=1)
    until = tuesday + timedelta(days=730)
    return _calendar(
        [],
        [
            f"DTSTART;TZID=Asia/Kolkata:{_local(tuesday, 15)}",
            "DURATION:PT1H30M",
            f"RRULE:FREQ=MONTHLY;BYDAY=2TU;UNTIL={until:%Y%m%d}T235959Z",
            "SUMMARY:Board meeting",
        ],
    )


def weekly_edited(monday: date) -> str:
    zone = "Europe/Berlin"
    wednesday = monday + timedelta(days=2)

    def week(n: int) -> date:
        return wednesday + timedelta(weeks=n)

    master = [
        f"DTSTART;TZID={zone}:{_local(wednesday, 14)}",
        f"DTEND;TZID={zone}:{_local(wednesday, 15)}",
        "RRULE:FREQ=WEEKLY",
        f"EXDATE;TZID={zone}:{_local(week(3), 14)},{_local(week(9), 14)}",
        f"EXDATE;TZID={zone}:{_local(week(20), 14)}",
        f"EXDATE:{in_utc(week(30), 14, zone):%Y%m%dT%H%M%SZ}",
        f"EXDATE;VALUE=DATE:{week(41):%Y%m%d}",
        "SUMMARY:Team sync",
        "SEQUENCE:2",
    ]
    moved = [
        f"RECURRENCE-ID;TZID={zone}:{_local(week(5), 14)}",
        f"DTSTART;TZID={zone}:{_local(week(5) + timedelta(days=1), 16)}",
        f"DTEND;TZID={zone}:{_local(week(5) + timedelta(days=1), 17)}",
        "SUMMARY:Team sync (moved)",
        "SEQUENCE:2",
    ]
    cancelled = [
        f"RECURRENCE-ID;TZID={zone}:{_local(week(12), 14)}",
        f"DTSTART;TZID={zone}:{_local(week(12), 14)}",
        f"DTEND;TZID={zone}:{_local(week(12), 15)}",
        "STATUS:CANCELLED",
        "SEQUENCE:2",
    ]
    longer = [
        f"RECURRENCE-ID;TZID={zone}:{_local(week(26), 14)}",
        f"DTSTART;TZID={zone}:{_local(week(26), 14)}",
        f"DTEND;TZID={zone}:{_local(week(26), 17)}",
        "TRANSP:TRANSPARENT",
        "SEQUENCE:2",
    ]
    return _calendar([BERLIN], master, moved, cancelled, longer)


def yearly_all_day(monday: date) -> str:
    return _calendar(
        [],
        [
            f"DTSTART;VALUE=DATE:{monday:%Y%m%d}",
            f"DTEND;VALUE=DATE:{monday + timedelta(days=1):%Y%m%d}",
            "RRULE:FREQ=YEARLY",
            "SUMMARY:Birthday",
            "TRANSP:TRANSPARENT",
        ],
    )


def outlook_count(monday: date) -> str:
    tuesday = monday + timedelta(days=1)
    zone = "Pacific Standard Time"
    return _calendar(
        [PACIFIC_EXCHANGE],
        [
            "RRULE:FREQ=WEEKLY;COUNT=6;INTERVAL=1;BYDAY=TU;WKST=SU",
            "SUMMARY;LANGUAGE=en-US:Project sync",
            f"DTSTART;TZID={zone}:{_local(tuesday, 10)}",
            f"DTEND;TZID={zone}:{_local(tuesday, 10, 30)}",
            "CLASS:PUBLIC",
            "PRIORITY:5",
            "TRANSP:OPAQUE",
            "STATUS:CONFIRMED",
            "SEQUENCE:0",
            "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
        ],
    )


SERIES: dict[str, Callable[[date], str]] = {
    "weekly-unbounded": weekly_unbounded,
    "daily-count": daily_count,
    "monthly-until": monthly_until,
    "weekly-edited": weekly_edited,
    "yearly-all-day": yearly_all_day,
    "outlook-count": outlook_count,
}


@dataclass
class Case:
    name: str
    calendar: icalendar.Calendar
    index: Callable[[Callable[..., ObjectIndex]], ObjectIndex]
    baseline: list[float]
    new: list[float]


def next_monday(now: datetime) -> date:
    today = now.date()
    return today + timedelta(days=7 - today.weekday())


def cases() -> list[Case]:
    settings = Settings()
    now = clock.now()
    horizon_end = int((now + timedelta(days=settings.occurrence_horizon_days)).timestamp())
    monday = next_monday(now)
    made = []
    for name, text_of in SERIES.items():
        calendar = parse_calendar(text_of(monday))

        def index(
            function: Callable[..., ObjectIndex], calendar: icalendar.Calendar = calendar
        ) -> ObjectIndex:
            return function(
                calendar,
                horizon_end=horizon_end,
                max_instances=settings.max_occurrences_per_object,
                series_limit=settings.max_instances_per_series,
                time_limit=settings.expansion_time_limit,
            )

        made.append(Case(name, calendar, index, [], []))
    return made


def mean_seconds(case: Case, function: Callable[..., ObjectIndex], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        case.index(function)
    return (time.perf_counter() - started) / calls


def check(case: Case) -> bool:
    ours, theirs = case.index(index_object), case.index(index_object_by_library)
    fast = isinstance(expansion_of(case.calendar), SimpleExpansion)
    if ours != theirs:
        print(f"  {case.name}: the indexes differ", file=sys.stderr)
        return False
    if not fast:
        print(f"  {case.name}: not on the fast path", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--profile", choices=sorted(SERIES), help="cProfile the new path of one series")
    args = parser.parse_args(argv)
    all_cases = cases()
    if not all(check(case) for case in all_cases):
        return 1
    for case in all_cases:  # warm both paths (imports, zone caches)
        case.index(index_object_by_library)
        case.index(index_object)
    for round_number in range(args.rounds):
        for case in all_cases:
            pair = [(index_object_by_library, case.baseline), (index_object, case.new)]
            for function, figures in pair if round_number % 2 == 0 else reversed(pair):
                figures.append(mean_seconds(case, function, args.calls))
    print(f"load average {os.getloadavg()[0]:.2f}; median of {args.rounds} rounds of {args.calls} calls")
    print(f"  {'series':<18} {'instances':>9} {'baseline':>10} {'new':>9} {'ratio':>6} {'new/instance':>13}")
    ratios = {}
    for case in all_cases:
        instances = len(case.index(index_object).instances)
        baseline, new = statistics.median(case.baseline), statistics.median(case.new)
        # The ratio of each round (both paths timed in it), then their median: the machine's drift over
        # a run reaches both figures of a round alike.
        ratios[case.name] = statistics.median(b / n for b, n in zip(case.baseline, case.new, strict=True))
        print(
            f"  {case.name:<18} {instances:>9} {baseline * 1e3:>8.2f}ms {new * 1e3:>7.2f}ms"
            f" {ratios[case.name]:>5.1f}x {new * 1e6 / max(instances, 1):>10.1f} us"
        )
    verdict = "met" if ratios["weekly-unbounded"] >= TARGET_RATIO else "missed"
    print(f"target (weekly-unbounded at least {TARGET_RATIO:g}x): {verdict}")
    if args.profile:
        case = next(c for c in all_cases if c.name == args.profile)
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [case.index(index_object) for _ in range(200)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
