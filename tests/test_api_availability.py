"""GET /api/v2/availability on the live server: DST weeks, buffers, notice, window, per-day caps, busy
time written over CalDAV (recurring with EXDATE and a moved instance, all-day, transparent), team kinds
and argument validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests import dates
from tests.conftest import LiveServer, create_account, start_server, stop_server
from tests.scheduling_fixtures import (
    WEEKDAYS,
    api_for,
    iso,
    local_times,
    make_event_type,
    make_schedule,
    make_team,
    new_api,
)

NINE_TO_FOUR = [f"{h:02d}:00" for h in range(9, 17)]
# A Monday at least two days ahead of the clock: every slot of its week lies in the future.
MONDAY = dates.next_weekday(dates.MON, after_days=2)


def day(days_after_monday: int) -> str:
    """The day ``days_after_monday`` days after MONDAY, as YYYY-MM-DD."""
    return (MONDAY + timedelta(days=days_after_monday)).isoformat()


def weekly_with_exceptions(first: date) -> str:
    """Weekly on Mondays from ``first`` at 10:00 Paris, four times: the second week excluded, the third
    moved to 14:00."""
    week = [dates.ical_day(first + timedelta(weeks=n)) for n in range(3)]
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Caledee tests//EN
BEGIN:VEVENT
UID:weekly-review
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Paris:{week[0]}T100000
DTEND;TZID=Europe/Paris:{week[0]}T110000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Paris:{week[1]}T100000
SUMMARY:Weekly review
END:VEVENT
BEGIN:VEVENT
UID:weekly-review
DTSTAMP:20261101T000000Z
RECURRENCE-ID;TZID=Europe/Paris:{week[2]}T100000
DTSTART;TZID=Europe/Paris:{week[2]}T140000
DTEND;TZID=Europe/Paris:{week[2]}T150000
SUMMARY:Weekly review (moved)
END:VEVENT
END:VCALENDAR
"""


def daily_since(first: date) -> str:
    """Daily at 10:00 UTC from ``first``, without end."""
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Caledee tests//EN
BEGIN:VEVENT
UID:daily-forever
DTSTAMP:20261101T000000Z
DTSTART:{dates.ical_day(first)}T100000Z
DTEND:{dates.ical_day(first)}T110000Z
RRULE:FREQ=DAILY
SUMMARY:Daily
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def small_index_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server on the same database that indexes at most 100 instances per recurring event."""
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("small-index"),
        extra_env={"CALEDEE_MAX_OCCURRENCES_PER_OBJECT": "100"},
    )
    yield server
    stop_server(server)


# The next clock changes at least a week ahead: the two days before each are in the future too.
@pytest.mark.parametrize(
    ("zone", "change_day", "before", "after"),
    [
        pytest.param(
            "Europe/Paris",
            dates.next_dst_change("Europe/Paris", forward=True, after_days=7),
            "+01:00",
            "+02:00",
            id="paris-spring",
        ),
        pytest.param(
            "Europe/Paris",
            dates.next_dst_change("Europe/Paris", forward=False, after_days=7),
            "+02:00",
            "+01:00",
            id="paris-autumn",
        ),
        pytest.param(
            "America/New_York",
            dates.next_dst_change("America/New_York", forward=True, after_days=7),
            "-05:00",
            "-04:00",
            id="new-york-spring",
        ),
        pytest.param(
            "America/New_York",
            dates.next_dst_change("America/New_York", forward=False, after_days=7),
            "-04:00",
            "-05:00",
            id="new-york-autumn",
        ),
    ],
)
def test_dst_weeks_keep_local_hours(
    live_server: LiveServer, zone: str, change_day: date, before: str, after: str
) -> None:
    api = new_api(live_server, zone)
    make_schedule(api, zone)
    event_type = make_event_type(api)
    first = change_day - timedelta(days=2)
    slots = api.slots(event_type["id"], first.isoformat(), (change_day + timedelta(days=3)).isoformat())
    for offset_days in range(5):
        day = (first + timedelta(days=offset_days)).isoformat()
        assert local_times(slots, day) == NINE_TO_FOUR, day
        offset = before if day < change_day.isoformat() else after
        assert {s["start"][19:] for s in slots if s["start"].startswith(day)} == {offset}, day
    # The same slots asked in UTC: 09:00 local moves by one hour in UTC at the change.
    utc_slots = api.slots(
        event_type["id"],
        f"{first.isoformat()}T00:00:00Z",
        f"{(change_day + timedelta(days=3)).isoformat()}T00:00:00Z",
        tz="UTC",
    )
    expected_hours = {
        "+01:00": "08:00",
        "+02:00": "07:00",
        "-05:00": "14:00",
        "-04:00": "13:00",
    }
    after_day = (change_day + timedelta(days=1)).isoformat()
    assert local_times(utc_slots, after_day)[0] == expected_hours[after]
    assert all(s["start"].endswith("+00:00") for s in utc_slots)
    assert f"{after_day}T13:00:00{after}" in [s["start"] for s in slots]


def test_buffers_keep_distance_from_busy_time(live_server: LiveServer) -> None:
    api = new_api(live_server, "Europe/Paris")
    make_schedule(api, "Europe/Paris")
    event_type = make_event_type(
        api, durationsMin=[60], slotIntervalMin=30, bufferBeforeMin=15, bufferAfterMin=15
    )
    api.calendar().save_event(
        dtstart=dates.at(MONDAY, 10, zone="Europe/Paris").astimezone(UTC),
        dtend=dates.at(MONDAY, 11, zone="Europe/Paris").astimezone(UTC),
        summary="Busy",
        uid="busy-10",
    )  # 10:00-11:00 in Paris, written in UTC
    slots = api.slots(event_type["id"], day(0), day(1))
    # A slot [s, s+60) with 15 minutes each side must miss 10:00-11:00: 09:00 to 11:00 are out.
    assert local_times(slots, day(0)) == [
        "11:30",
        "12:00",
        "12:30",
        "13:00",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
    ]


def test_minimum_notice_and_booking_window(live_server: LiveServer) -> None:
    api = new_api(live_server, "UTC")
    make_schedule(
        api,
        "UTC",
        [
            {"day": d, "start": "00:00", "end": "24:00"}
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        ],
    )
    event_type = make_event_type(api, durationsMin=[30], minimumNoticeMin=180, bookingWindowDays=3)
    now = dates.now()
    slots = api.slots(event_type["id"], now.isoformat(), (now + timedelta(days=10)).isoformat(), tz="UTC")
    starts = [datetime.fromisoformat(s["start"]) for s in slots]
    assert now + timedelta(minutes=180) <= starts[0] < now + timedelta(minutes=180 + 31)
    assert starts[-1] < now + timedelta(days=3) <= starts[-1] + timedelta(minutes=31)


def test_per_day_cap(live_server: LiveServer) -> None:
    api = new_api(live_server, "Europe/Paris")
    make_schedule(api, "Europe/Paris")
    event_type = make_event_type(api, maxBookingsPerDay=2)
    wednesday = MONDAY + timedelta(days=2)
    for hour in (9, 14):
        assert api.book(event_type["id"], iso(wednesday, hour, tz="Europe/Paris")).status_code == 201
    slots = api.slots(event_type["id"], day(1), day(4))
    assert local_times(slots, day(2)) == []
    assert local_times(slots, day(1)) == NINE_TO_FOUR
    assert local_times(slots, day(3)) == NINE_TO_FOUR
    third = api.book(event_type["id"], iso(wednesday, 11, tz="Europe/Paris"))
    assert third.status_code == 409, third.text


def test_recurring_busy_event_with_exdate_and_moved_instance(live_server: LiveServer) -> None:
    api = new_api(live_server, "Europe/Paris")
    make_schedule(api, "Europe/Paris", [{"day": "mon", "start": "09:00", "end": "17:00"}])
    event_type = make_event_type(api)
    api.calendar().save_event(weekly_with_exceptions(MONDAY))
    slots = api.slots(event_type["id"], day(0), day(29))
    without = {h: [t for t in NINE_TO_FOUR if t != h] for h in ("10:00", "14:00")}
    assert local_times(slots, day(0)) == without["10:00"]
    assert local_times(slots, day(7)) == NINE_TO_FOUR  # EXDATE: no meeting that week
    assert local_times(slots, day(14)) == without["14:00"]  # moved from 10:00 to 14:00
    assert local_times(slots, day(21)) == without["10:00"]
    assert local_times(slots, day(28)) == NINE_TO_FOUR  # COUNT=4 is over


def test_all_day_blocks_the_day_and_transparent_blocks_nothing(live_server: LiveServer) -> None:
    api = new_api(live_server, "Pacific/Auckland")
    make_schedule(api, "Pacific/Auckland")
    event_type = make_event_type(api)
    calendar = api.calendar()
    holiday, free = MONDAY + timedelta(days=9), dates.ical_day(MONDAY + timedelta(days=10))
    calendar.save_event(dtstart=holiday, dtend=holiday + timedelta(days=1), summary="Holiday", uid="holiday")
    calendar.save_event(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:free-time\nDTSTAMP:20261101T000000Z\n"
        f"DTSTART;TZID=Pacific/Auckland:{free}T090000\nDTEND;TZID=Pacific/Auckland:{free}T170000\n"
        "TRANSP:TRANSPARENT\nSUMMARY:Reminder\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    slots = api.slots(event_type["id"], day(8), day(11))
    assert local_times(slots, day(8)) == NINE_TO_FOUR
    assert local_times(slots, day(9)) == []  # the whole local day, 12 or 13 hours ahead of UTC
    assert local_times(slots, day(10)) == NINE_TO_FOUR


def test_recurrences_beyond_the_index_still_block(small_index_server: LiveServer) -> None:
    api = new_api(small_index_server, "UTC")
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    # Daily since 200 days before the days asked: more instances than this server indexes per object
    # (100), so those days are computed at query time.
    api.calendar().save_event(daily_since(MONDAY - timedelta(days=200)))
    slots = api.slots(event_type["id"], day(0), day(2))
    assert local_times(slots, day(0)) == [t for t in NINE_TO_FOUR if t != "10:00"]
    assert local_times(slots, day(1)) == [t for t in NINE_TO_FOUR if t != "10:00"]


def test_durations_interval_and_default_duration(live_server: LiveServer) -> None:
    api = new_api(live_server, "UTC")
    make_schedule(api, "UTC", [{"day": "mon", "start": "09:00", "end": "11:00"}])
    event_type = make_event_type(api, durationsMin=[30, 60], slotIntervalMin=30)
    default = api.slots(event_type["id"], day(0), day(1))
    assert [(s["start"][11:16], s["end"][11:16]) for s in default] == [
        ("09:00", "09:30"),
        ("09:30", "10:00"),
        ("10:00", "10:30"),
        ("10:30", "11:00"),
    ]
    hour = api.slots(event_type["id"], day(0), day(1), duration=60)
    assert local_times(hour, day(0)) == ["09:00", "09:30", "10:00"]
    wrong = api.get(
        "/availability",
        params={"eventTypeId": event_type["id"], "from": day(0), "to": day(1), "duration": 45},
    )
    assert wrong.status_code == 400 and "30, 60" in wrong.json()["message"]


def test_round_robin_and_collective_busy_hosts(live_server: LiveServer) -> None:
    owner = new_api(live_server, "UTC")
    other = api_for(live_server, create_account(live_server.database_url, timezone="UTC"))
    make_schedule(owner, "UTC")
    make_schedule(other, "UTC")
    hosts = [owner.account.slug, other.account.slug]
    team = make_team(live_server, owner.account, other.account)
    round_robin = make_event_type(owner, kind="round_robin", hosts=hosts, teamId=team["id"])
    collective = make_event_type(owner, kind="collective", hosts=hosts, teamId=team["id"])
    owner.calendar().save_event(
        dtstart=dates.at(MONDAY, 10), dtend=dates.at(MONDAY, 11), summary="A", uid="a"
    )
    other.calendar().save_event(
        dtstart=dates.at(MONDAY, 10), dtend=dates.at(MONDAY, 12), summary="B", uid="b"
    )
    assert local_times(owner.slots(round_robin["id"], day(0), day(1)), day(0)) == [
        t
        for t in NINE_TO_FOUR
        if t != "10:00"  # at 11:00 only the owner is free, which is enough
    ]
    assert local_times(owner.slots(collective["id"], day(0), day(1)), day(0)) == [
        t for t in NINE_TO_FOUR if t not in ("10:00", "11:00")
    ]


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"tz": "Mars/Olympus"}, 400, "time zone"),
        ({"tz": "E" * 300}, 400, "time zone"),
        (
            {"from": "0001-01-01T00:00:00Z", "to": "0001-01-08T00:00:00Z"},
            400,
            "between the years 1970 and 9000",
        ),
        (
            {"from": "9999-12-25T00:00:00Z", "to": "9999-12-31T00:00:00Z"},
            400,
            "between the years 1970 and 9000",
        ),
        ({"from": day(9), "to": day(0)}, 400, "must be after `from`"),
        ({"from": day(0), "to": day(89)}, 400, "62 days"),
        ({"from": "tomorrow"}, 400, "`from`"),
        ({"to": "2027-13-45T00:00:00Z"}, 400, "`to`"),
        ({"eventTypeId": "evt_unknown"}, 404, "evt_unknown"),
        ({"eventTypeId": None}, 400, "eventTypeId"),
        ({"duration": "long"}, 400, "duration"),
    ],
)
def test_invalid_arguments(live_server: LiveServer, params: dict, status: int, words: str) -> None:
    api = new_api(live_server, "UTC")
    event_type = make_event_type(api)
    query = {"eventTypeId": event_type["id"], "from": day(0), "to": day(7), **params}
    response = api.get("/availability", params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == status, response.text
    assert words in response.text
    assert set(response.json()) >= {"title", "message"}


def test_inactive_event_type_other_users_and_scopes(live_server: LiveServer) -> None:
    api = new_api(live_server, "UTC")
    event_type = make_event_type(api, active=False)
    params = {"eventTypeId": event_type["id"], "from": day(0), "to": day(7)}
    inactive = api.get("/availability", params=params)
    assert inactive.status_code == 409 and "inactive" in inactive.json()["message"]
    stranger = new_api(live_server, "UTC")
    assert stranger.get("/availability", params=params).status_code == 404
    limited = api_for(live_server, create_account(live_server.database_url, scopes=["read:bookings"]))
    assert limited.get("/availability", params=params).status_code == 403


def test_owner_time_zone_is_the_default(live_server: LiveServer) -> None:
    api = new_api(live_server, "America/New_York")
    event_type = make_event_type(api)  # no schedule at all: Monday-Friday 09:00-17:00 in the owner's zone
    slots = api.slots(event_type["id"], day(4), day(8))
    assert local_times(slots, day(4)) == NINE_TO_FOUR
    assert local_times(slots, day(5)) == [] and local_times(slots, day(6)) == []
    friday = MONDAY + timedelta(days=4)
    first = dates.at(friday, 9, zone="America/New_York")
    assert slots[0]["start"] == first.isoformat()  # 09:00 with New York's offset that day
    paris = api.slots(
        event_type["id"],
        dates.at(friday, zone="America/New_York").isoformat(),
        dates.at(friday + timedelta(days=1), zone="America/New_York").isoformat(),
        tz="Europe/Paris",
    )
    in_paris = first.astimezone(ZoneInfo("Europe/Paris"))
    assert paris[0] == {"start": in_paris.isoformat(), "end": (in_paris + timedelta(hours=1)).isoformat()}


def test_empty_answer_says_why_the_range_is_outside_the_bookable_range(live_server: LiveServer) -> None:
    api = new_api(live_server, "UTC")
    make_schedule(api, "UTC", [{"day": d, "start": "00:00", "end": "24:00"} for d in WEEKDAYS])
    event_type = make_event_type(api, durationsMin=[30], minimumNoticeMin=3 * 1440, bookingWindowDays=60)
    now = dates.now()

    def empty_answer(start: datetime, end: datetime) -> tuple[str, str]:
        response = api.get(
            "/availability",
            params={"eventTypeId": event_type["id"], "from": start.isoformat(), "to": end.isoformat()},
        )
        assert response.status_code == 200 and response.json() == {"data": []}, response.text
        return response.headers["Caledee-Empty-Reason"], response.headers["Caledee-Empty-Detail"]

    reason, detail = empty_answer(now + timedelta(days=61), now + timedelta(days=68))
    assert reason == "outside-booking-window" and "60 days" in detail
    reason, detail = empty_answer(now + timedelta(days=1), now + timedelta(days=2))
    assert reason == "before-minimum-notice" and "4320 minutes" in detail
    reason, detail = empty_answer(now - timedelta(days=9), now - timedelta(days=2))
    assert reason == "window-in-the-past" and "past" in detail

    inside = api.get(
        "/availability",
        params={
            "eventTypeId": event_type["id"],
            "from": (now + timedelta(days=4)).isoformat(),
            "to": (now + timedelta(days=5)).isoformat(),
        },
    )
    assert inside.json()["data"] and "Caledee-Empty-Reason" not in inside.headers


def test_all_query_problems_come_at_once(live_server: LiveServer) -> None:
    api = new_api(live_server, "UTC")
    response = api.get(
        "/availability", params={"eventTypeId": "", "from": "soon", "tz": "Mars/Olympus", "duration": "x"}
    )
    assert response.status_code == 400
    assert sorted(d["path"] for d in response.json()["details"]) == [
        ["duration"],
        ["eventTypeId"],
        ["from"],
        ["to"],
        ["tz"],
    ]
