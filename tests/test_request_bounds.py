"""No request can stall the server (issue #10, items 1-4 and 7, 10): refused recurrences, bounded
objects and imports, a health check that sees a stalled database, far-future series found everywhere,
and objects with bare LF line endings in every answer. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta

import caldav
import pytest
import requests
from sqlalchemy import create_engine, text

from caldee_dav import db, store
from caldee_dav.calendars import objects
from caldee_dav.calendars.objects import WriteLimits
from tests import dates
from tests.conftest import Account, LiveServer, create_account, start_server, stop_server
from tests.scheduling_fixtures import api_for, make_event_type, make_schedule

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
HORIZON_DAYS = 30  # the test server's indexing horizon: series starting after it are beyond the index


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        database_url,
        tmp_path_factory.mktemp("bounds"),
        extra_env={"CALEDEE_OCCURRENCE_HORIZON_DAYS": str(HORIZON_DAYS), "CALEDEE_THREADS": "8"},
    )
    yield live
    stop_server(live)


def event(uid: str, start: date, extra: str = "", hour: int = 10) -> str:
    day = dates.ical_day(start)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{day}T{hour:02d}0000Z\r\n"
        f"DTEND:{day}T{hour + 1:02d}0000Z\r\nSUMMARY:{uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(
    server: LiveServer, account: Account, name: str, body: str, path: str = "calendar/"
) -> requests.Response:
    return requests.put(
        f"{server.dav_url}{account.slug}/{path}{name}",
        data=body.encode(),
        auth=(account.slug, account.token),
        headers=ICS,
        timeout=60,
    )


def timed(call, *args, **kwargs) -> tuple[requests.Response, float]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


def others_keep_working(server: LiveServer, other: Account, day: date) -> list[float]:
    """Another user's CalDAV PUT, GET and REST call: the seconds each took."""
    took = []
    for name in ("a", "b"):
        response, seconds = timed(put, server, other, f"{name}.ics", event(f"other-{name}", day))
        assert response.status_code in (201, 204), response.text
        took.append(seconds)
    me, seconds = timed(
        requests.get,
        f"{server.url}/api/v2/me",
        headers={"Authorization": f"Bearer {other.token}"},
        timeout=30,
    )
    assert me.status_code == 200
    return [*took, seconds]


def meanwhile(server: LiveServer, call, *args, **kwargs) -> tuple[requests.Response, float, list[float]]:  # type: ignore[no-untyped-def]
    """``call(*args, **kwargs)`` in a thread while another user works: its answer and seconds, and the
    seconds each of the other user's requests took."""
    other = create_account(server.database_url)
    answers: list[tuple[requests.Response, float]] = []
    worker = threading.Thread(target=lambda: answers.append(timed(call, *args, **kwargs)))
    worker.start()
    try:
        took = others_keep_working(server, other, dates.days_ahead(4))
    finally:
        worker.join(timeout=60)
    return (*answers[0], took)


def stored(server: LiveServer, account: Account) -> list[str]:
    listing = requests.request(
        "PROPFIND",
        f"{server.dav_url}{account.slug}/calendar/",
        auth=(account.slug, account.token),
        headers={"Depth": "1"},
        timeout=30,
    )
    return [href for href in listing.text.split("<D:href>")[2:]]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a positive integer"),
        ("FREQ=DAILY;INTERVAL=-2", "INTERVAL must be a positive integer"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a positive integer"),
        ("FREQ=SECONDLY", "must end"),
        ("FREQ=MINUTELY;INTERVAL=5", "must end"),
        ("FREQ=HOURLY;UNTIL=21000101T000000Z", "instances before its UNTIL"),
        ("FREQ=FORTNIGHTLY", "FREQ must be one of"),
    ],
)
def test_recurrence_rules_that_would_stall_are_refused_at_once(
    server: LiveServer, rule: str, reason: str
) -> None:
    account = create_account(server.database_url)
    body = event("rule", dates.days_ahead(3), f"RRULE:{rule}\r\n")
    response, seconds = timed(put, server, account, "rule.ics", body)
    assert response.status_code == 400 and reason in response.text, response.text
    assert seconds < 2
    assert stored(server, account) == []


def test_bounded_dense_rules_are_stored(server: LiveServer) -> None:
    account = create_account(server.database_url)
    body = event("minutes", dates.days_ahead(3), "RRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=20\r\n")
    assert put(server, account, "minutes.ics", body).status_code == 201


def test_a_rule_no_date_satisfies_is_refused_within_the_time_limit_while_others_work(
    server: LiveServer,
) -> None:
    """February 30th never comes: the recurrence library would search for it until the year 9999."""
    attacker = create_account(server.database_url)
    body = event("never", dates.days_ahead(3), "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\n")
    response, seconds, took = meanwhile(server, put, server, attacker, "n.ics", body)
    assert response.status_code == 400 and "too costly to expand" in response.text
    assert seconds < 5
    assert max(took) < 1.5, took
    assert stored(server, attacker) == []


def series_with_overrides(uid: str, components: int) -> str:
    start = dates.days_ahead(3)
    parts = [event(uid, start, f"RRULE:FREQ=DAILY;COUNT={components}\r\n").split("END:VCALENDAR")[0]]
    for index in range(1, components):
        day = dates.ical_day(start + timedelta(days=index))
        parts.append(
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:{day}T100000Z\r\n"
            f"DTSTART:{day}T120000Z\r\nDTEND:{day}T130000Z\r\nSUMMARY:moved {index}\r\nEND:VEVENT\r\n"
        )
    return "".join(parts) + "END:VCALENDAR\r\n"


def test_an_object_with_too_many_components_gets_413_at_once(server: LiveServer) -> None:
    account = create_account(server.database_url)
    response, seconds = timed(put, server, account, "big.ics", series_with_overrides("big", 5000))
    assert response.status_code == 413 and "5000 components" in response.text
    assert seconds < 1
    # Within the limit, a series with many changed instances is stored.
    response, seconds = timed(put, server, account, "many.ics", series_with_overrides("many", 300))
    assert response.status_code == 201
    assert seconds < 5


def test_an_import_of_too_many_events_gets_413_at_once(server: LiveServer) -> None:
    account = create_account(server.database_url)
    url = f"{server.dav_url}{account.slug}/import/"
    assert (
        requests.request("MKCALENDAR", url, auth=(account.slug, account.token), timeout=30).status_code == 201
    )
    day = dates.days_ahead(3)
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
        + "".join(
            event(f"e{i}", day).split("PRODID:-//tests//EN\r\n", 1)[1].replace("END:VCALENDAR\r\n", "")
            for i in range(1001)
        )
        + "END:VCALENDAR\r\n"
    )
    response, seconds = timed(
        requests.put, url, data=body.encode(), auth=(account.slug, account.token), headers=ICS, timeout=60
    )
    assert response.status_code == 413 and "1001 components" in response.text
    assert seconds < 1


def test_health_reports_a_stalled_database(server: LiveServer) -> None:
    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok", "database": "ok"}
    with held_write_lock(server.database_url):
        response, seconds = timed(requests.get, f"{server.url}/health", timeout=10)
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
        assert "could not start" in response.json()["database"]
        assert seconds < 4
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


class held_write_lock:  # noqa: N801 - used as a context manager
    """What a stalled writer does: hold the database's write lock (SQLite) or lock out writes to a
    table (PostgreSQL), from another connection."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def __enter__(self) -> None:
        if self.database_url.startswith("sqlite"):
            self.sqlite = sqlite3.connect(self.database_url.split("///", 1)[1], isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")
            return
        self.engine = create_engine(self.database_url)
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()
        self.connection.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))

    def __exit__(self, *exc_info: object) -> None:
        if self.database_url.startswith("sqlite"):
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
            return
        self.transaction.rollback()
        self.connection.close()
        self.engine.dispose()


# --- Series whose first instance lies beyond the indexing horizon (item 7) -------------------------


def report(server: LiveServer, account: Account, body: str) -> requests.Response:
    return requests.request(
        "REPORT",
        f"{server.dav_url}{account.slug}/calendar/",
        data=body.encode(),
        auth=(account.slug, account.token),
        headers={"Depth": "1", "Content-Type": "application/xml"},
        timeout=30,
    )


def calendar_query(start: date, end: date, expand: bool = False) -> str:
    window = f'start="{dates.ical_day(start)}T000000Z" end="{dates.ical_day(end)}T000000Z"'
    data = f"<C:calendar-data><C:expand {window}/></C:calendar-data>" if expand else ""
    return (
        '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<D:prop><D:getetag/>{data}</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        f'<C:comp-filter name="VEVENT"><C:time-range {window}/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>"
    )


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;COUNT=6", "FREQ=WEEKLY"])
def test_a_series_starting_beyond_the_horizon_is_found_everywhere(server: LiveServer, rule: str) -> None:
    api = api_for(server, create_account(server.database_url))
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    first = dates.next_weekday(2, after_days=HORIZON_DAYS + 10)  # a Wednesday past the horizon
    third = first + timedelta(weeks=2)
    created = put(server, api.account, "far.ics", event("far", first, f"RRULE:{rule}\r\n", hour=10))
    assert created.status_code == 201, created.text

    # calendar-query with a time-range, on the third instance's day
    found = report(server, api.account, calendar_query(third, third + timedelta(days=1)))
    assert "far.ics" in found.text
    # ... and not on a day between instances
    assert (
        "far.ics"
        not in report(
            server, api.account, calendar_query(third + timedelta(days=1), third + timedelta(days=2))
        ).text
    )
    # expand: that instance alone, at its time
    expanded = report(server, api.account, calendar_query(third, third + timedelta(days=1), expand=True))
    assert f"RECURRENCE-ID:{dates.ical_day(third)}T100000Z" in expanded.text.replace("\r\n ", "")
    # free-busy
    client = caldav.DAVClient(url=server.url + "/", username=api.account.slug, password=api.account.token)
    calendar = client.calendar(url=f"{server.dav_url}{api.account.slug}/calendar/")
    freebusy = calendar.freebusy_request(dates.at(third), dates.at(third + timedelta(days=1)))
    data = freebusy.data if isinstance(freebusy.data, str) else freebusy.data.decode()
    assert f"{dates.ical_day(third)}T100000Z" in data
    # the slot engine: 10:00 is taken that day, 11:00 is free
    slots = api.slots(event_type["id"], f"{third.isoformat()}T00:00:00Z", f"{third.isoformat()}T23:59:00Z")
    starts = [s["start"][11:16] for s in slots]
    assert "10:00" not in starts and "11:00" in starts


# --- Objects with bare LF line endings (item 10) ---------------------------------------------------


def test_an_object_with_bare_line_feeds_is_in_every_answer(server: LiveServer) -> None:
    account = create_account(server.database_url)
    day = dates.days_ahead(5)
    assert put(server, account, "lf.ics", event("lf", day).replace("\r\n", "\n")).status_code == 201
    assert put(server, account, "crlf.ics", event("crlf", day, hour=12)).status_code == 201
    export = requests.get(
        f"{server.dav_url}{account.slug}/calendar/", auth=(account.slug, account.token), timeout=30
    )
    assert export.status_code == 200
    assert "UID:lf" in export.text and "UID:crlf" in export.text
    found = report(server, account, calendar_query(day, day + timedelta(days=1)))
    assert "lf.ics" in found.text and "crlf.ics" in found.text


def test_an_unending_hourly_series_begun_long_ago_is_refused(server: LiveServer) -> None:
    """The expansion library walks a series from its start: a million hours before any window."""
    account = create_account(server.database_url)
    response = put(server, account, "old.ics", event("old", date(1900, 1, 1), "RRULE:FREQ=HOURLY\r\n"))
    assert response.status_code == 400 and "has more than 100000 instances by now" in response.text
    daily = put(server, account, "daily.ics", event("daily", date(1990, 1, 1), "RRULE:FREQ=DAILY\r\n"))
    assert daily.status_code == 201


def test_availability_over_a_series_too_costly_to_expand_is_refused_in_bounded_time(
    server: LiveServer,
) -> None:
    """Data stored before the rules above (or under laxer settings): availability answers 422 within
    the expansion time limit instead of computing for a minute, and other users are not held up."""
    api = api_for(server, create_account(server.database_url))
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    lax = WriteLimits(
        horizon_days=HORIZON_DAYS, max_instances=5000, max_size=10**6, series_limit=10**9, time_limit=None
    )
    text = event("legacy", date(1900, 1, 1), "RRULE:FREQ=HOURLY\r\n")
    with db.write_unit(db.engine_for(server.database_url)) as session:
        calendar = store.require_collection(session, f"{api.account.slug}/calendar")
        objects.put_object(session, calendar, "legacy.ics", objects.prepare_object(text, lax, dates.now()))
    day = dates.days_ahead(HORIZON_DAYS + 5)
    params = {"eventTypeId": event_type["id"], "from": f"{day}T09:00:00Z", "to": f"{day}T15:00:00Z"}
    response, seconds, took = meanwhile(server, api.get, "/availability", params=params)
    assert response.status_code == 422 and "too costly" in response.json()["message"]
    assert seconds < 5
    assert max(took) < 1.5, took
