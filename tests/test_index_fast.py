"""Indexing a series through the fast path (``caldee_dav.ical.series``) gives the index the
recurring_ical_events path gave: the same ObjectIndex, every Instance in the same order, for random
series of the shapes the fast path takes (and for shapes it leaves to the library).

The series are placed relative to the clock's today (the index reads the horizon from it), in the zones
clients use most and the awkward ones: DST gaps and repeated hours (a start at 02:30 on the day New York
or Berlin moves its clocks), Lord Howe's half-hour change, Kolkata without DST, UTC, floating times and
dates."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from caldee_dav import ical
from caldee_dav.ical.expand import (
    SimpleExpansion,
    expansion_of,
    iter_instance_spans,
    iter_instance_spans_by_library,
)
from caldee_dav.ical.index import ObjectIndex, index_object, index_object_by_library
from caldee_dav.ical.rules import UnacceptableRecurrence
from caldee_dav.ical.series import _daily_equivalent
from tests.dates import TUE, days_ahead, next_dst_change, next_weekday, now

FLOATING, ALL_DAY = "floating", "all-day"
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", FLOATING, ALL_DAY]
# Wall times that fall in the DST gaps and repeated hours of the zones above on their change days.
TIMES = [(0, 30), (1, 15), (1, 30), (1, 45), (2, 0), (2, 15), (2, 30), (2, 45), (3, 0), (9, 30), (23, 30)]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
HORIZON_DAYS = 730


def horizon_end() -> int:
    return int((now() + timedelta(days=HORIZON_DAYS)).timestamp())


def indexes(calendar: icalendar.Calendar, max_instances: int = 5000) -> tuple[ObjectIndex, ObjectIndex]:
    limits = {"horizon_end": horizon_end(), "max_instances": max_instances, "series_limit": 100_000}
    return index_object(calendar, **limits), index_object_by_library(calendar, **limits)


def change_days(zone: str) -> list[date]:
    """The days ``zone`` changes its clocks in the year ahead, and the year before (none for Kolkata)."""
    if zone in (FLOATING, ALL_DAY, "UTC", "Asia/Kolkata"):
        return []
    return [
        next_dst_change(zone, forward=forward, after_days=after)
        for forward in (True, False)
        for after in (-300, 1)
    ]


CHANGE_DAYS = {zone: change_days(zone) for zone in ZONES}


# --- writing values ---------------------------------------------------------------------------------


def wall(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}"


def value(name: str, moment: datetime, kind: str, form: str = "same") -> str:
    """``name`` holding ``moment`` (a wall time in the series' zone ``kind``) in ``form``: as the series
    writes it ("same"), in UTC, as a date, or as the wall time of the same moment in Berlin."""
    if kind == ALL_DAY or form == "date":
        return f"{name};VALUE=DATE:{moment:%Y%m%d}"
    if kind == FLOATING:
        return f"{name}:{wall(moment)}"
    aware = moment.replace(tzinfo=ZoneInfo(kind))
    if form == "utc" or (form == "same" and kind == "UTC"):
        return f"{name}:{aware.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    if form == "berlin":
        return f"{name};TZID=Europe/Berlin:{wall(aware.astimezone(ZoneInfo('Europe/Berlin')))}"
    return f"{name};TZID={kind}:{wall(moment)}"


def instant(moment: datetime, kind: str) -> datetime:
    """A wall time of the series as the index reads it: floating and dates as UTC."""
    if kind in (FLOATING, ALL_DAY):
        return moment.replace(tzinfo=UTC)
    return moment.replace(tzinfo=ZoneInfo(kind)).astimezone(UTC)


# --- the series -------------------------------------------------------------------------------------


@dataclass
class Series:
    """A drawn series: its text, and whether the fast path must take it (it holds nothing the fast
    path leaves to the library)."""

    lines: list[list[str]] = field(default_factory=list)
    fast: bool = True
    max_instances: int = 5000

    def text(self) -> str:
        body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Caledee//test_index_fast//EN"]
        for component in self.lines:
            body += ["BEGIN:VEVENT", "UID:series@example.com", "DTSTAMP:20260101T000000Z", *component]
            body.append("END:VEVENT")
        return "\r\n".join([*body, "END:VCALENDAR", ""])


def rule_text(draw: st.DrawFn, start: datetime, kind: str) -> str:
    frequency = draw(st.sampled_from(["DAILY", "WEEKLY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={frequency}"]
    interval = draw(st.sampled_from([1, 1, 1, 2, 3]))
    if interval > 1 or draw(st.booleans()):
        parts.append(f"INTERVAL={interval}")
    if frequency == "WEEKLY":
        if draw(st.booleans()):
            days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
            parts.append("BYDAY=" + ",".join(days))
        if draw(st.booleans()):
            parts.append("WKST=SU")
    elif frequency == "MONTHLY":
        parts += draw(
            st.sampled_from(
                [
                    [],
                    ["BYDAY=2TU"],
                    ["BYDAY=-1FR"],
                    ["BYMONTHDAY=15"],
                    ["BYMONTHDAY=31"],
                    ["BYDAY=MO,TU,WE,TH,FR", "BYSETPOS=-1"],
                ]
            )
        )
    elif frequency == "YEARLY":
        parts += draw(st.sampled_from([[], ["BYMONTH=3", "BYDAY=-1SU"], ["BYMONTH=2", "BYMONTHDAY=29"]]))
    ending = draw(st.sampled_from(["none", "none", "none", "count", "until-utc", "until-date", "until-wall"]))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 80))}")
    elif ending != "none":
        until = start + timedelta(days=draw(st.integers(-3, 900)), hours=draw(st.integers(-30, 30)))
        if ending == "until-utc" and kind != ALL_DAY:
            parts.append(f"UNTIL={instant(until, kind):%Y%m%dT%H%M%SZ}")
        elif ending == "until-wall" and kind != ALL_DAY:
            parts.append(f"UNTIL={wall(until)}")
        else:
            parts.append(f"UNTIL={until:%Y%m%d}")
    if frequency == "DAILY" and ending == "none" and interval == 1:
        parts.append("COUNT=60")  # an unending daily series makes examples slow, not harder
    return ";".join(parts)


def instances_of(rule: str, start: datetime) -> list[datetime]:
    """Some wall-time starts of ``rule`` (without its end), for EXDATEs, RDATEs and overrides to name."""
    unbounded = ";".join(p for p in rule.split(";") if not p.startswith(("COUNT", "UNTIL")))
    return list(itertools.islice(rrulestr(unbounded, dtstart=start), 30)) or [start]


@st.composite
def series(draw: st.DrawFn) -> Series:
    kind = draw(st.sampled_from(ZONES))
    day = draw(st.sampled_from(CHANGE_DAYS[kind] or [days_ahead(0)]))
    day += timedelta(days=draw(st.sampled_from([0, 0, 0, -7, 1, draw(st.integers(-150, 400))])))
    hour, minute = draw(st.sampled_from(TIMES))
    start = datetime(
        day.year, day.month, day.day, 0 if kind == ALL_DAY else hour, 0 if kind == ALL_DAY else minute
    )
    drawn = Series(max_instances=draw(st.sampled_from([5000, 5000, 5000, 40, 3])))
    master = [value("DTSTART", start, kind)]
    length = draw(st.sampled_from(["dtend", "dtend", "duration", "none"]))
    days, minutes = draw(st.sampled_from([(0, 0), (0, 30), (0, 60), (0, 90), (1, 0), (2, 75)]))
    if kind == ALL_DAY:
        minutes = 0
    if length == "dtend":
        master.append(
            value("DTEND", start + timedelta(days=days or (kind == ALL_DAY), minutes=minutes), kind)
        )
    elif length == "duration":
        master.append(f"DURATION:P{days}DT{minutes}M" if days or minutes else "DURATION:PT0S")
    rule = rule_text(draw, start, kind)
    master.append(f"RRULE:{rule}")
    starts = instances_of(rule, start)
    forms = {ALL_DAY: ["same"], FLOATING: ["same", "date"]}.get(
        kind, ["same", "same", "utc", "date", "berlin"]
    )
    for moment in draw(st.lists(st.sampled_from(starts), max_size=5, unique=True)):
        master.append(value("EXDATE", moment, kind, draw(st.sampled_from(forms))))
    rdates = draw(
        st.lists(
            st.sampled_from([timedelta(hours=3), timedelta(days=1, hours=-26), timedelta(0)]), max_size=3
        )
    )
    for shift in rdates:
        master.append(value("RDATE", draw(st.sampled_from(starts)) + shift, kind))
    if draw(st.integers(0, 9)) == 0:
        master.append("TRANSP:TRANSPARENT")
    if draw(st.integers(0, 19)) == 0:  # RDATE in UTC beside a zone: left to the library
        master.append(value("RDATE", start + timedelta(days=2), kind, "utc"))
        drawn.fast = kind in ("UTC", ALL_DAY, FLOATING)
    drawn.lines.append(master)
    override_starts = set()
    for original in draw(st.lists(st.sampled_from(starts), max_size=3, unique=True)):
        moved = original + draw(
            st.sampled_from(
                [timedelta(0), timedelta(hours=1), timedelta(hours=-2), timedelta(days=3), timedelta(days=-8)]
            )
        )
        override = [value("RECURRENCE-ID", original, kind, draw(st.sampled_from(forms[:1] + forms[2:3])))]
        override.append(value("DTSTART", moved, kind))
        override.append(
            value(
                "DTEND",
                moved + timedelta(days=kind == ALL_DAY, minutes=draw(st.sampled_from([0, 45, 120]))),
                kind,
            )
        )
        if draw(st.booleans()):
            override.append(draw(st.sampled_from(["STATUS:CANCELLED", "TRANSP:TRANSPARENT"])))
        if draw(st.integers(0, 14)) == 0:
            override[0] = override[0].replace("RECURRENCE-ID", "RECURRENCE-ID;RANGE=THISANDFUTURE", 1)
            drawn.fast = False
        drawn.lines.append(override)
        moment = instant(moved, kind)
        if moment in override_starts:
            drawn.fast = False  # two overrides at one moment: their order would be the library's set order
        override_starts.add(moment)
    if draw(st.integers(0, 14)) == 0:  # an older copy of the series, as some clients leave one
        drawn.lines.append(
            [
                "SEQUENCE:" + str(draw(st.integers(-1, 3))),
                value("DTSTART", start + timedelta(hours=1), kind),
                "RRULE:FREQ=WEEKLY;COUNT=3",
            ]
        )
    return drawn


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(series())
def test_the_fast_path_indexes_every_series_as_the_library_does(drawn: Series) -> None:
    calendar = ical.parse_calendar(drawn.text())
    fast, library = indexes(calendar, drawn.max_instances)
    assert fast == library
    fast_path = isinstance(expansion_of(calendar), SimpleExpansion)
    count = len(library.instances)
    event(f"fast path: {fast_path}; instances: {'0' if not count else '1-9' if count < 10 else '10+'}")
    if drawn.fast:
        assert fast_path, drawn.text()
    start = min(i.start for i in library.instances) if library.instances else horizon_end()
    window = (
        datetime.fromtimestamp(start, UTC) - timedelta(days=3),
        datetime.fromtimestamp(horizon_end(), UTC),
    )
    ours = list(itertools.islice(iter_instance_spans(calendar, *window), 50))
    assert ours == list(itertools.islice(iter_instance_spans_by_library(calendar, *window), 50))


# --- named cases ------------------------------------------------------------------------------------


def calendar_of(*components: list[str], zones: str = "") -> icalendar.Calendar:
    drawn = Series(lines=list(components))
    text = drawn.text()
    if zones:
        text = text.replace("BEGIN:VEVENT", zones + "\r\nBEGIN:VEVENT", 1)
    return ical.parse_calendar(text)


def fast_and_equal(calendar: icalendar.Calendar, max_instances: int = 5000) -> ObjectIndex:
    """The index, after checking that the fast path took the series and agrees with the library."""
    assert isinstance(expansion_of(calendar), SimpleExpansion)
    fast, library = indexes(calendar, max_instances)
    assert fast == library
    return fast


def utc_hours(index: ObjectIndex) -> list[str]:
    return [f"{datetime.fromtimestamp(i.start, UTC):%m-%d %H:%M}" for i in index.instances]


def test_a_weekly_series_starting_in_new_yorks_dst_gap_keeps_its_wall_time() -> None:
    spring = next_dst_change("America/New_York", forward=True)
    start = datetime.combine(spring, datetime.min.time()).replace(hour=2, minute=30)  # does not exist
    index = fast_and_equal(
        calendar_of([value("DTSTART", start, "America/New_York"), "RRULE:FREQ=WEEKLY;COUNT=3"])
    )
    # 02:30 on the change day is read with the offset before it (EST), the next weeks in EDT.
    assert utc_hours(index) == [
        f"{spring:%m-%d} 07:30",
        f"{spring + timedelta(weeks=1):%m-%d} 06:30",
        f"{spring + timedelta(weeks=2):%m-%d} 06:30",
    ]


def test_a_daily_series_in_the_repeated_hour_and_one_on_lord_howe() -> None:
    autumn = next_dst_change("America/New_York", forward=False)
    start = datetime.combine(autumn - timedelta(days=1), datetime.min.time()).replace(hour=1, minute=30)
    fast_and_equal(
        calendar_of(
            [value("DTSTART", start, "America/New_York"), "DURATION:PT45M", "RRULE:FREQ=DAILY;COUNT=4"]
        )
    )
    howe = next_dst_change("Australia/Lord_Howe", forward=True)
    start = datetime.combine(howe - timedelta(days=2), datetime.min.time()).replace(hour=2, minute=15)
    index = fast_and_equal(
        calendar_of([value("DTSTART", start, "Australia/Lord_Howe"), "RRULE:FREQ=DAILY;COUNT=5"])
    )
    # Lord Howe moves its clocks by half an hour.
    assert len({i.start % 3600 for i in index.instances}) == 2


def test_exdates_in_every_form_remove_their_instances() -> None:
    first = datetime.combine(days_ahead(7), datetime.min.time()).replace(hour=9)
    week = [first + timedelta(weeks=n) for n in range(8)]
    zone = "Europe/Berlin"
    index = fast_and_equal(
        calendar_of(
            [
                value("DTSTART", first, zone),
                value("DTEND", first + timedelta(hours=1), zone),
                "RRULE:FREQ=WEEKLY;COUNT=8",
                value("EXDATE", week[1], zone),
                value("EXDATE", week[2], zone, "utc"),
                value("EXDATE", week[3], zone, "date"),
                value("EXDATE", week[4], zone, "berlin"),
            ]
        )
    )
    assert [i.start for i in index.instances] == [
        int(instant(moment, zone).timestamp()) for moment in (week[0], *week[5:])
    ]


def test_moved_cancelled_and_changed_instances_are_indexed_as_their_overrides_say() -> None:
    zone = "America/New_York"
    start = datetime.combine(days_ahead(3), datetime.min.time()).replace(hour=10)
    moved, cancelled, longer = (start + timedelta(weeks=n) for n in (1, 2, 3))
    index = fast_and_equal(
        calendar_of(
            [value("DTSTART", start, zone), "DURATION:PT1H", "RRULE:FREQ=WEEKLY"],
            [
                value("RECURRENCE-ID", moved, zone),
                value("DTSTART", moved + timedelta(days=1, hours=4), zone),
                "DURATION:PT1H",
            ],
            [
                value("RECURRENCE-ID", cancelled, zone, "utc"),
                value("DTSTART", cancelled, zone),
                "DURATION:PT1H",
                "STATUS:CANCELLED",
            ],
            [
                value("RECURRENCE-ID", longer, zone),
                value("DTSTART", longer, zone),
                value("DTEND", longer + timedelta(hours=3), zone),
                "TRANSP:TRANSPARENT",
            ],
        )
    )
    first = index.instances[:4]
    assert first[1].start == int(instant(moved + timedelta(days=1, hours=4), zone).timestamp())
    assert (first[2].cancelled, first[3].transparent, first[3].end - first[3].start) == (True, True, 3 * 3600)
    assert not any(i.cancelled or i.transparent for i in index.instances[4:])


def test_rdates_in_a_dst_gap_are_found_in_the_order_dateutil_gives_them() -> None:
    """02:30 on New York's spring day is read as 07:30 UTC, 03:10 as 07:10: sorted by wall time the
    RDATEs fall, and recurring_ical_events (dateutil's ``between``) stops at the first one past a
    window's end, and takes every one after the first it takes. With the first window ending at 07:20,
    the five-minute 03:10 instance is in no window the library finds it in: the index leaves it out,
    both ways, and keeps 02:30 (a search that took the starts as sorted would miss it)."""
    zone = "America/New_York"
    spring = next_dst_change(zone, forward=True)
    window_end = instant(datetime.combine(spring, datetime.min.time()).replace(hour=2, minute=20), zone)
    start = (window_end - timedelta(days=5)).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    gap, after_gap, next_day = (
        datetime.combine(spring + timedelta(days=days), datetime.min.time()).replace(hour=hour, minute=minute)
        for days, hour, minute in ((0, 2, 30), (0, 3, 10), (1, 10, 0))
    )
    calendar = calendar_of(
        [
            value("DTSTART", start, zone),
            "DURATION:PT5M",
            *(value("RDATE", d, zone) for d in (gap, after_gap, next_day)),
        ]
    )
    assert utc_hours(fast_and_equal(calendar)) == [
        f"{start + timedelta(hours=5):%m-%d %H:%M}",
        f"{spring:%m-%d} 07:30",
        f"{spring + timedelta(days=1):%m-%d} 14:00",
    ]


def test_untils_of_another_kind_than_dtstart_are_read_as_the_library_reads_them() -> None:
    start = datetime.combine(days_ahead(-2), datetime.min.time()).replace(hour=8)
    end_day = days_ahead(40)
    for until in (f"{end_day:%Y%m%d}", f"{end_day:%Y%m%d}T080000", f"{end_day:%Y%m%d}T080000Z"):
        for kind in ("Asia/Kolkata", FLOATING):
            fast_and_equal(calendar_of([value("DTSTART", start, kind), f"RRULE:FREQ=WEEKLY;UNTIL={until}"]))


def test_a_series_in_exchanges_own_vtimezone() -> None:
    zones = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Pacific Standard Time",
            "BEGIN:STANDARD",
            "DTSTART:16010101T020000",
            "TZOFFSETFROM:-0700",
            "TZOFFSETTO:-0800",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            "TZOFFSETFROM:-0800",
            "TZOFFSETTO:-0700",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
        ]
    )
    tuesday = datetime.combine(next_weekday(TUE), datetime.min.time()).replace(hour=10)
    index = fast_and_equal(
        calendar_of(
            [
                f"DTSTART;TZID=Pacific Standard Time:{wall(tuesday)}",
                f"DTEND;TZID=Pacific Standard Time:{wall(tuesday + timedelta(minutes=30))}",
                "RRULE:FREQ=WEEKLY;COUNT=6;INTERVAL=1;BYDAY=TU;WKST=SU",
            ],
            zones=zones,
        )
    )
    assert len(index.instances) == 6 and index.expanded_until == 253402300800


def test_an_override_alone_and_an_older_copy_of_the_series() -> None:
    start = datetime.combine(days_ahead(10), datetime.min.time()).replace(hour=15)
    alone = fast_and_equal(
        calendar_of(
            [value("RECURRENCE-ID", start, "UTC"), value("DTSTART", start + timedelta(hours=2), "UTC")]
        )
    )
    assert [i.start for i in alone.instances] == [
        int((start + timedelta(hours=2)).replace(tzinfo=UTC).timestamp())
    ]
    copies = fast_and_equal(
        calendar_of(
            ["SEQUENCE:1", value("DTSTART", start, "UTC"), "RRULE:FREQ=DAILY;COUNT=2"],
            ["SEQUENCE:2", value("DTSTART", start, "UTC"), "RRULE:FREQ=DAILY;COUNT=5"],
        )
    )
    assert len(copies.instances) == 5  # the library expands the copy of the highest SEQUENCE


def test_the_cap_a_late_start_and_a_bounded_series_past_the_horizon() -> None:
    start = datetime.combine(days_ahead(-1), datetime.min.time()).replace(hour=12)
    capped = fast_and_equal(
        calendar_of([value("DTSTART", start, "UTC"), "RRULE:FREQ=DAILY"]), max_instances=10
    )
    assert len(capped.instances) == 10 and capped.expanded_until == capped.instances[-1].start
    late = datetime.combine(days_ahead(HORIZON_DAYS + 20), datetime.min.time())
    beyond = fast_and_equal(calendar_of([value("DTSTART", late, "UTC"), "RRULE:FREQ=WEEKLY"]))
    assert (beyond.instances, beyond.range_start) == ([], int(late.replace(tzinfo=UTC).timestamp()))
    long = fast_and_equal(calendar_of([value("DTSTART", start, ALL_DAY), "RRULE:FREQ=YEARLY;COUNT=5"]))
    assert long.expanded_until < horizon_end() and long.range_end == 253402300800


@pytest.mark.parametrize(
    ("lines", "indexed"),
    [
        (["RRULE:FREQ=HOURLY;COUNT=30"], 30),
        (["RRULE:FREQ=WEEKLY;COUNT=3", "RRULE:FREQ=DAILY;COUNT=2"], 4),
        (["RRULE:FREQ=WEEKLY;COUNT=3;BYHOUR=9,17"], 3),
        (["RRULE:FREQ=WEEKLY;COUNT=3", "EXRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=2"], 3),
        # dateutil refuses the rule: the library cannot expand it, and the index is left to Radicale.
        (["RRULE:FREQ=WEEKLY;COUNT=3;X-NAME=1"], 0),
    ],
)
def test_shapes_left_to_the_library_are_indexed_by_it(lines: list[str], indexed: int) -> None:
    start = datetime.combine(days_ahead(2), datetime.min.time()).replace(hour=9)
    calendar = calendar_of([value("DTSTART", start, "Europe/Berlin"), *lines])
    assert not isinstance(expansion_of(calendar), SimpleExpansion)
    fast, library = indexes(calendar)
    assert fast == library
    assert len(fast.instances) == indexed


def test_this_and_future_is_left_to_the_library() -> None:
    start = datetime.combine(days_ahead(2), datetime.min.time()).replace(hour=9)
    calendar = calendar_of(
        [value("DTSTART", start, "UTC"), "RRULE:FREQ=DAILY;COUNT=6"],
        [
            f"RECURRENCE-ID;RANGE=THISANDFUTURE:{wall(start + timedelta(days=3))}Z",
            value("DTSTART", start + timedelta(days=3, hours=2), "UTC"),
        ],
    )
    assert not isinstance(expansion_of(calendar), SimpleExpansion)
    fast, library = indexes(calendar)
    assert fast == library
    assert [i.start % 86400 // 3600 for i in fast.instances][:4] == [start.hour] * 3 + [start.hour + 2]


def test_a_rule_no_date_satisfies_is_refused_in_time_both_ways() -> None:
    start = datetime.combine(days_ahead(2), datetime.min.time()).replace(hour=9)
    calendar = calendar_of([value("DTSTART", start, "UTC"), "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"])
    limits = {"horizon_end": horizon_end(), "max_instances": 5000, "series_limit": 100_000, "time_limit": 0.3}
    for index in (index_object, index_object_by_library):
        with pytest.raises(UnacceptableRecurrence):
            index(calendar, **limits)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", FLOATING]),
    st.integers(-400, 400),
    st.sampled_from(TIMES),
    st.integers(1, 4),
    st.sampled_from(["", ";WKST=SU", ";WKST=TH"]),
    st.booleans(),
    st.sampled_from(["", "count", "until"]),
)
def test_weekly_rules_handed_to_dateutil_as_daily_ones_give_the_same_starts(
    zone: str, days: int, time: tuple[int, int], interval: int, wkst: str, by_day: bool, ending: str
) -> None:
    """The fast path asks dateutil for a weekly rule on DTSTART's weekday as the daily rule every
    7 x INTERVAL days (``series._daily_equivalent``): the starts must be dateutil's own for the rule."""
    day = days_ahead(days)
    start = datetime(day.year, day.month, day.day, *time, tzinfo=None if zone == FLOATING else ZoneInfo(zone))
    rule = f"FREQ=WEEKLY;INTERVAL={interval}{wkst}"
    if by_day:
        rule += ";BYDAY=" + WEEKDAYS[start.weekday()]
    if ending == "count":
        rule += ";COUNT=7"
    elif ending == "until":  # UTC beside a zone, floating beside a floating DTSTART, as dateutil wants
        until = start + timedelta(days=150)
        rule += f";UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}" if start.tzinfo else f";UNTIL={wall(until)}"
    daily = _daily_equivalent(rule, start)
    assert daily.startswith("FREQ=DAILY")
    starts = (itertools.islice(rrulestr(text, dtstart=start), 60) for text in (rule, daily))
    assert list(next(starts)) == list(next(starts))
