"""The pure slot engine and schedule expansion, table-driven (no server, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from caldee_dav import clock
from caldee_dav.errors import Conflict, InvalidInput
from caldee_dav.scheduling.availability import (
    Interval,
    WeeklySchedule,
    intersect,
    local_to_utc,
    merge,
    open_intervals,
)
from caldee_dav.scheduling.booking_ical import BookingEvent, Person, booking_text, describe
from caldee_dav.scheduling.slots import (
    COLLECTIVE,
    ONE_ON_ONE,
    ROUND_ROBIN,
    HostTime,
    SlotRules,
    offered_slots,
    require_slot,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY = [
    {"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
# Far in the past so notice and window never interfere unless a test sets them.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hour(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)


def starts_local(slots, zone: ZoneInfo) -> list[str]:
    return [s.start.astimezone(zone).strftime("%m-%d %H:%M%z") for s in slots]


def host(
    open_: list[Interval], busy: list[Interval] | None = None, host_id: str = "h1", tz: str = "UTC"
) -> HostTime:
    return HostTime(host_id=host_id, timezone=tz, open=open_, busy=busy or [])


# --- local wall time to UTC, across DST ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "clock", "zone", "is_end", "expected"),
    [
        # Ordinary days on both sides of the Paris spring change.
        ("2027-03-27", "09:00", PARIS, False, utc(2027, 3, 27, 8)),
        ("2027-03-28", "09:00", PARIS, False, utc(2027, 3, 28, 7)),
        # 02:30 does not exist on 28 March 2027 in Paris: it moves forward by the gap (03:30 CEST).
        ("2027-03-28", "02:30", PARIS, False, utc(2027, 3, 28, 1, 30)),
        # 02:30 happens twice on 31 October 2027: starts take the first, ends the second.
        ("2027-10-31", "02:30", PARIS, False, utc(2027, 10, 31, 0, 30)),
        ("2027-10-31", "02:30", PARIS, True, utc(2027, 10, 31, 1, 30)),
        ("2027-10-31", "09:00", PARIS, False, utc(2027, 10, 31, 8)),
        ("2027-03-14", "09:00", NEW_YORK, False, utc(2027, 3, 14, 13)),
        ("2027-03-13", "09:00", NEW_YORK, False, utc(2027, 3, 13, 14)),
        ("2027-03-14", "02:30", NEW_YORK, False, utc(2027, 3, 14, 7, 30)),
        ("2027-11-07", "01:30", NEW_YORK, False, utc(2027, 11, 7, 5, 30)),
        ("2027-11-07", "01:30", NEW_YORK, True, utc(2027, 11, 7, 6, 30)),
        ("2027-11-07", "09:00", NEW_YORK, False, utc(2027, 11, 7, 14)),
        ("2027-01-04", "24:00", PARIS, True, utc(2027, 1, 4, 23)),
    ],
)
def test_local_to_utc(day: str, clock: str, zone: ZoneInfo, is_end: bool, expected: datetime) -> None:
    assert local_to_utc(datetime.fromisoformat(day).date(), clock, zone, is_end=is_end) == expected


@pytest.mark.parametrize(
    ("zone", "change_day", "before_offset", "after_offset"),
    [
        ("Europe/Paris", "2027-03-28", "+0100", "+0200"),
        ("Europe/Paris", "2027-10-31", "+0200", "+0100"),
        ("America/New_York", "2027-03-14", "-0500", "-0400"),
        ("America/New_York", "2027-11-07", "-0400", "-0500"),
    ],
)
def test_working_day_stays_nine_to_five_local_across_dst(
    zone: str, change_day: str, before_offset: str, after_offset: str
) -> None:
    tz = ZoneInfo(zone)
    day = datetime.fromisoformat(change_day).replace(tzinfo=tz)
    schedule = WeeklySchedule(zone, EVERY_DAY)
    start, end = day - timedelta(days=1), day + timedelta(days=2)
    rules = SlotRules(duration=hour(60), interval=hour(60))
    slots = offered_slots(
        ONE_ON_ONE, [host(open_intervals(schedule, start, end))], rules, start, end, LONG_AGO
    )
    local = starts_local(slots, tz)
    before = (day - timedelta(days=1)).strftime("%m-%d")
    on, after = day.strftime("%m-%d"), (day + timedelta(days=1)).strftime("%m-%d")
    assert [s for s in local if s.startswith(before)] == [
        f"{before} {h:02d}:00{before_offset}" for h in range(9, 17)
    ]
    assert [s for s in local if s.startswith(on)] == [f"{on} {h:02d}:00{after_offset}" for h in range(9, 17)]
    assert [s for s in local if s.startswith(after)] == [
        f"{after} {h:02d}:00{after_offset}" for h in range(9, 17)
    ]


def test_a_schedule_across_the_spring_gap_loses_the_missing_hour() -> None:
    schedule = WeeklySchedule("Europe/Paris", [{"day": "sun", "start": "01:00", "end": "04:00"}])
    start, end = utc(2027, 3, 27), utc(2027, 3, 29)
    rules = SlotRules(duration=hour(60), interval=hour(60))
    slots = offered_slots(
        ONE_ON_ONE, [host(open_intervals(schedule, start, end))], rules, start, end, LONG_AGO
    )
    # 01:00-04:00 local is only two real hours that night: 01:00 CET and 03:00 CEST.
    assert starts_local(slots, PARIS) == ["03-28 01:00+0100", "03-28 03:00+0200"]


@pytest.mark.parametrize(
    ("overrides", "expected_days"),
    [
        ([], ["01-04", "01-05"]),
        ([{"date": "2027-01-05", "intervals": []}], ["01-04"]),
        ([{"date": "2027-01-05", "intervals": [{"start": "10:00", "end": "11:00"}]}], ["01-04", "01-05"]),
        # An override may open a day the weekly rules keep closed (a Saturday).
        (
            [{"date": "2027-01-09", "intervals": [{"start": "10:00", "end": "11:00"}]}],
            ["01-04", "01-05", "01-09"],
        ),
    ],
)
def test_date_overrides_replace_the_weekly_rules(overrides: list, expected_days: list[str]) -> None:
    schedule = WeeklySchedule(
        "UTC",
        [{"day": "mon", "start": "09:00", "end": "12:00"}, {"day": "tue", "start": "09:00", "end": "12:00"}],
        overrides,
    )
    intervals = open_intervals(schedule, utc(2027, 1, 4), utc(2027, 1, 10))
    days = sorted(
        {i.start.strftime("%m-%d") for i in intervals if utc(2027, 1, 4) <= i.start < utc(2027, 1, 10)}
    )
    assert days == expected_days
    tuesday = [i for i in intervals if i.start.date() == utc(2027, 1, 5).date()]
    if overrides and overrides[0]["date"] == "2027-01-05" and overrides[0]["intervals"]:
        assert tuesday == [Interval(utc(2027, 1, 5, 10), utc(2027, 1, 5, 11))]


def test_merge_and_intersect() -> None:
    a = Interval(utc(2027, 1, 4, 9), utc(2027, 1, 4, 12))
    b = Interval(utc(2027, 1, 4, 11), utc(2027, 1, 4, 13))
    c = Interval(utc(2027, 1, 4, 13), utc(2027, 1, 4, 14))
    assert merge([c, a, b]) == [Interval(a.start, c.end)]
    assert intersect([a], [b, c]) == [Interval(b.start, a.end)]


# --- the engine's rules --------------------------------------------------------------------------

MONDAY = [Interval(utc(2027, 1, 4, 9), utc(2027, 1, 4, 12))]
RANGE = (utc(2027, 1, 4), utc(2027, 1, 5))


@pytest.mark.parametrize(
    ("name", "rules", "busy", "now", "expected"),
    [
        ("plain hours", SlotRules(hour(60), hour(60)), [], LONG_AGO, ["09:00", "10:00", "11:00"]),
        (
            "30 min interval",
            SlotRules(hour(60), hour(30)),
            [],
            LONG_AGO,
            ["09:00", "09:30", "10:00", "10:30", "11:00"],
        ),
        ("busy 10-11", SlotRules(hour(60), hour(30)), [(10, 0, 11, 0)], LONG_AGO, ["09:00", "11:00"]),
        # With 15 minutes on each side, [s - 15, e + 15) must miss 10:00-11:00.
        (
            "buffers",
            SlotRules(hour(30), hour(30), buffer_before=hour(15), buffer_after=hour(15)),
            [(10, 0, 11, 0)],
            LONG_AGO,
            ["09:00", "11:30"],
        ),
        (
            "busy touching the end is free",
            SlotRules(hour(60), hour(60)),
            [(10, 0, 10, 0)],
            LONG_AGO,
            ["09:00", "10:00", "11:00"],
        ),
        (
            "notice",
            SlotRules(hour(60), hour(60), minimum_notice=hour(90)),
            [],
            utc(2027, 1, 4, 8),
            ["10:00", "11:00"],
        ),
        (
            "window",
            SlotRules(hour(60), hour(60), booking_window=timedelta(days=1)),
            [],
            utc(2027, 1, 3, 10),
            ["09:00"],
        ),
        ("duration longer than the day", SlotRules(hour(240), hour(60)), [], LONG_AGO, []),
    ],
)
def test_rules_of_one_host(
    name: str, rules: SlotRules, busy: list, now: datetime, expected: list[str]
) -> None:
    busy_intervals = [Interval(utc(2027, 1, 4, a, b), utc(2027, 1, 4, c, d)) for a, b, c, d in busy]
    slots = offered_slots(ONE_ON_ONE, [host(MONDAY, busy_intervals)], rules, *RANGE, now)
    assert [s.start.strftime("%H:%M") for s in slots] == expected, name


def test_per_day_cap_counts_host_local_days() -> None:
    # 23:30 UTC on 4 January is already 5 January in Paris: it counts for Tuesday, not Monday.
    open_ = [
        Interval(utc(2027, 1, 4, 8), utc(2027, 1, 4, 11)),
        Interval(utc(2027, 1, 5, 8), utc(2027, 1, 5, 11)),
    ]
    rules = SlotRules(hour(60), hour(60), max_per_day=1)
    paris_host = HostTime("h1", "Europe/Paris", open_, booked_starts=[utc(2027, 1, 4, 23, 30)])
    slots = offered_slots(ONE_ON_ONE, [paris_host], rules, utc(2027, 1, 4), utc(2027, 1, 6), LONG_AGO)
    assert {s.start.day for s in slots} == {4}


def test_round_robin_offers_a_slot_while_any_host_is_free() -> None:
    alice = host(MONDAY, [Interval(utc(2027, 1, 4, 9), utc(2027, 1, 4, 10))], "alice")
    bob = host(MONDAY, [Interval(utc(2027, 1, 4, 10), utc(2027, 1, 4, 11))], "bob")
    slots = offered_slots(ROUND_ROBIN, [alice, bob], SlotRules(hour(60), hour(60)), *RANGE, LONG_AGO)
    assert [(s.start.hour, s.host_ids) for s in slots] == [
        (9, ("bob",)),
        (10, ("alice",)),
        (11, ("alice", "bob")),
    ]


def test_collective_needs_every_host_and_their_common_hours() -> None:
    alice = host(
        [Interval(utc(2027, 1, 4, 9), utc(2027, 1, 4, 12))],
        [Interval(utc(2027, 1, 4, 9), utc(2027, 1, 4, 10))],
        "alice",
    )
    bob = host([Interval(utc(2027, 1, 4, 10), utc(2027, 1, 4, 14))], [], "bob")
    slots = offered_slots(COLLECTIVE, [alice, bob], SlotRules(hour(60), hour(60)), *RANGE, LONG_AGO)
    assert [(s.start.hour, s.host_ids) for s in slots] == [(10, ("alice", "bob")), (11, ("alice", "bob"))]


def test_one_host_gets_the_same_slots_from_every_kind() -> None:
    """One or several hosts take different loops through the same busy and per-day tests (``free_starts``
    and ``is_free``); with a single host they must agree, whatever the busy time, buffers and caps."""
    rng = random.Random(20270104)
    days = [utc(2027, 1, 4) + timedelta(days=d) for d in range(3)]
    open_ = [Interval(day + hour(8 * 60), day + hour(18 * 60)) for day in days]
    for _ in range(300):
        busy = []
        for _ in range(rng.randrange(0, 12)):
            start = days[0] + hour(rng.randrange(0, 3 * 24 * 4) * 15)
            busy.append(Interval(start, start + hour(rng.choice([0, 15, 30, 45, 60, 120]))))
        booked = [days[0] + hour(rng.randrange(0, 3 * 24) * 60) for _ in range(rng.randrange(0, 4))]
        rules = SlotRules(
            hour(rng.choice([15, 30, 60])),
            hour(rng.choice([15, 30, 45])),
            buffer_before=hour(rng.choice([0, 10, 30])),
            buffer_after=hour(rng.choice([0, 5, 60])),
            max_per_day=rng.choice([None, 1, 2]),
        )
        one = HostTime("h1", "Europe/Paris", open_, busy, booked)
        answers = [
            [s.start for s in offered_slots(kind, [one], rules, days[0], days[-1] + hour(24 * 60), LONG_AGO)]
            for kind in (ONE_ON_ONE, ROUND_ROBIN, COLLECTIVE)
        ]
        assert answers[0] == answers[1] == answers[2], (busy, booked, rules)


@pytest.mark.parametrize(
    ("start", "now", "error", "words"),
    [
        (utc(2027, 1, 4, 9), utc(2027, 1, 4, 10), InvalidInput, "past"),
        (utc(2027, 1, 4, 9, 15), LONG_AGO, InvalidInput, "not aligned"),
        (utc(2027, 1, 4, 13), LONG_AGO, InvalidInput, "outside the available hours"),
        (utc(2027, 1, 4, 10), LONG_AGO, Conflict, "unavailable"),
    ],
)
def test_require_slot_says_why(start: datetime, now: datetime, error: type, words: str) -> None:
    busy = [Interval(utc(2027, 1, 4, 10), utc(2027, 1, 4, 11))]
    with pytest.raises(error, match=words):
        require_slot(ONE_ON_ONE, [host(MONDAY, busy)], SlotRules(hour(60), hour(60)), start, now)
    assert require_slot(
        ONE_ON_ONE, [host(MONDAY, busy)], SlotRules(hour(60), hour(60)), utc(2027, 1, 4, 11), LONG_AGO
    )


def test_booking_vevent_text() -> None:
    text = booking_text(
        BookingEvent(
            uid="bkg_1@caledee",
            booking_id="bkg_1",
            sequence=2,
            status="CONFIRMED",
            start=utc(2027, 1, 4, 9),
            end=utc(2027, 1, 4, 10),
            summary="Intro with Ada",
            organizer=Person("host@example.com", "Host"),
            invitees=[Person("ada@example.com", "Ada"), Person("guest@example.com")],
            cohosts=[Person("co@example.com", "Co")],
            description=describe("Hi", [("Company", "ACME")], ["guest@example.com"]),
            location="https://meet.example.com/x",
            stamp=utc(2026, 12, 1),
        )
    )
    unfolded = text.replace("\r\n ", "")
    assert "UID:bkg_1@caledee" in unfolded
    assert "SEQUENCE:2" in unfolded and "STATUS:CONFIRMED" in unfolded
    assert "DTSTART:20270104T090000Z" in unfolded and "DTEND:20270104T100000Z" in unfolded
    assert "ORGANIZER;CN=Host:mailto:host@example.com" in unfolded
    assert (
        "PARTSTAT=NEEDS-ACTION" in unfolded
        and "RSVP=TRUE" in unfolded
        and "mailto:ada@example.com" in unfolded
    )
    assert "Company: ACME" in unfolded


def test_booking_vevent_is_stamped_by_the_clock() -> None:
    pinned = utc(2031, 5, 6, 7, 8, 9)
    previous = clock.install(clock.Clock(fixed=pinned))
    try:
        event = BookingEvent(
            uid="bkg_2@caledee",
            booking_id="bkg_2",
            sequence=0,
            status="CONFIRMED",
            start=utc(2027, 1, 4, 9),
            end=utc(2027, 1, 4, 10),
            summary="Intro",
            organizer=Person("host@example.com"),
            invitees=[Person("ada@example.com")],
        )
    finally:
        clock.install(previous)
    assert event.stamp == pinned
    assert "DTSTAMP:20310506T070809Z" in booking_text(event)
