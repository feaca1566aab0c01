"""The .ics feeds on the live server: a calendar's full and busy-only feed and a user's bookings feed,
read back with icalendar and checked against an independent expansion (recurring_ical_events) of what
a CalDAV client PUT; headers, conditional requests, gzip, token rotation, hostile requests, the rate
limit, and a real subscriber (vdirsyncer) syncing the feed into a folder."""

from __future__ import annotations

import gzip
import os
import secrets
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
import requests

from caldee_dav import db
from caldee_dav.calendars import accounts, feed_tokens
from caldee_dav.models import Collection
from tests import dates
from tests.conftest import LiveServer, create_account, start_server, stop_server
from tests.scheduling_fixtures import api_for, make_event_type, make_schedule

CALENDAR_NAME = "Team Plans"
CALENDAR_DESCRIPTION = "Where the team's plans live"
# Everything a busy-only feed must never show (titles, descriptions, places, people, metadata, UIDs
# naming the organiser's domain, the calendar's own name).
SECRETS = [
    "Dentist appointment",
    "Bring the x-ray",
    "Hauptstrasse 5",
    "guest.person@example.org",
    "boss@organiser.example",
    "organiser.example",
    "Weekly standup",
    "Moved standup",
    "Company offsite",
    "Focus time",
    "Confidential-category",
    "m3tadata-secret",
    "https://secret.example/agenda",
    "Alarm text",
    CALENDAR_NAME,
    CALENDAR_DESCRIPTION,
]
WINDOW_DAYS = 420  # the next DST change may be a year away


@dataclass
class FeedCalendar:
    slug: str
    password: str
    user_id: str
    calendar_id: str
    full_token: str
    busy_token: str


def new_feed_calendar(database_url: str) -> FeedCalendar:
    """A user with a calendar (Europe/Berlin, named and described) and its feed tokens, made as the
    REST calendars endpoint will make them."""
    account = create_account(database_url, calendar=False)
    with db.write_unit(db.engine_for(database_url)) as session:
        user = accounts.get_user(session, account.user_id)
        assert user is not None
        calendar = accounts.create_calendar(
            session,
            user,
            name=CALENDAR_NAME,
            slug="calendar",
            timezone="Europe/Berlin",
            description=CALENDAR_DESCRIPTION,
        )
        tokens = feed_tokens.issue_calendar_feed_tokens(calendar)
        session.flush()
        calendar_id = calendar.public_id
    return FeedCalendar(
        account.slug, account.password, account.user_id, calendar_id, tokens.full, tokens.busy
    )


def rotate_tokens(database_url: str, calendar_id: str) -> feed_tokens.FeedTokens:
    with db.write_unit(db.engine_for(database_url)) as session:
        calendar = session.query(Collection).filter_by(public_id=calendar_id).one()
        return feed_tokens.issue_calendar_feed_tokens(calendar)


def feed_url(server: LiveServer, cal: FeedCalendar, *, busy: bool = False) -> str:
    if busy:
        return server.url + feed_tokens.busy_feed_path(cal.calendar_id, cal.busy_token)
    return server.url + feed_tokens.calendar_feed_path(cal.calendar_id, cal.full_token)


def put_event(server: LiveServer, cal: FeedCalendar, uid: str, text: str) -> None:
    href = f"{server.dav_url}{cal.slug}/calendar/{secrets.token_hex(6)}.ics"
    response = requests.put(
        href,
        data=text.replace("\n", "\r\n").encode(),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        auth=(cal.slug, cal.password),
        timeout=30,
    )
    assert response.status_code in (201, 204), response.text


# --- the events a CalDAV client PUTs ---------------------------------------------------------------

BERLIN_ZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
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
END:VTIMEZONE"""


def vcalendar(*components: str) -> str:
    return "\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Feeds//EN", *components, "END:VCALENDAR"]
    )


STAMP = "DTSTAMP:" + dates.ical_utc(dates.now())


@dataclass
class Scenario:
    texts: list[str]  # what was PUT
    uids: dict[str, str]  # name -> UID


def put_scenario(server: LiveServer, cal: FeedCalendar) -> Scenario:
    """A one-off in New York (no VTIMEZONE carried: the feed makes one), an all-day event, a
    transparent one, and a weekly Berlin series across a DST change with an EXDATE, a moved instance
    and a cancelled one (its object and the one-off in Berlin both carry a Berlin VTIMEZONE)."""
    token = secrets.token_hex(4)
    uids = {
        "oneoff": f"oneoff-{token}@organiser.example",
        "berlin": f"berlin-{token}@organiser.example",
        "allday": f"allday-{token}",
        "transparent": f"focus-{token}",
        "series": f"series-{token}@organiser.example",
    }
    oneoff_day = dates.next_weekday(dates.TUE, after_days=3)
    dst_day = dates.next_dst_change("Europe/Berlin", forward=True, after_days=1)
    first = dst_day - timedelta(days=21)  # three weeks before the change: instances on both sides
    allday = dates.days_ahead(10)
    local = dates.ical_local
    texts = [
        vcalendar(
            "BEGIN:VEVENT",
            f"UID:{uids['oneoff']}",
            STAMP,
            f"DTSTART;TZID=America/New_York:{local(oneoff_day, 9, 30)}",
            f"DTEND;TZID=America/New_York:{local(oneoff_day, 10, 15)}",
            "SUMMARY:Dentist appointment " + "ü" * 40,
            "DESCRIPTION:Bring the x-ray",
            "LOCATION:Hauptstrasse 5",
            "ORGANIZER;CN=Boss:mailto:boss@organiser.example",
            "ATTENDEE;CN=Guest;PARTSTAT=ACCEPTED:mailto:guest.person@example.org",
            "CATEGORIES:Confidential-category",
            "URL:https://secret.example/agenda",
            'X-CALEDEE-METADATA:{"note":"m3tadata-secret"}',
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER:-PT15M",
            "DESCRIPTION:Alarm text",
            "END:VALARM",
            "END:VEVENT",
        ),
        vcalendar(
            BERLIN_ZONE,
            "BEGIN:VEVENT",
            f"UID:{uids['berlin']}",
            STAMP,
            f"DTSTART;TZID=Europe/Berlin:{local(oneoff_day, 15)}",
            f"DTEND;TZID=Europe/Berlin:{local(oneoff_day, 16)}",
            "SUMMARY:Company offsite planning",
            "END:VEVENT",
        ),
        vcalendar(
            "BEGIN:VEVENT",
            f"UID:{uids['allday']}",
            STAMP,
            f"DTSTART;VALUE=DATE:{dates.ical_day(allday)}",
            f"DTEND;VALUE=DATE:{dates.ical_day(allday + timedelta(days=2))}",
            "SUMMARY:Company offsite",
            "END:VEVENT",
        ),
        vcalendar(
            "BEGIN:VEVENT",
            f"UID:{uids['transparent']}",
            STAMP,
            f"DTSTART:{dates.ical_utc(dates.at(oneoff_day, 6))}",
            f"DTEND:{dates.ical_utc(dates.at(oneoff_day, 7))}",
            "SUMMARY:Focus time",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ),
        vcalendar(
            BERLIN_ZONE,
            "BEGIN:VEVENT",
            f"UID:{uids['series']}",
            STAMP,
            f"DTSTART;TZID=Europe/Berlin:{local(first, 9)}",
            f"DTEND;TZID=Europe/Berlin:{local(first, 10)}",
            "RRULE:FREQ=WEEKLY;COUNT=8",
            f"EXDATE;TZID=Europe/Berlin:{local(first + timedelta(days=7), 9)}",
            "SUMMARY:Weekly standup",
            "ORGANIZER:mailto:boss@organiser.example",
            "END:VEVENT",
            "BEGIN:VEVENT",
            f"UID:{uids['series']}",
            STAMP,
            f"RECURRENCE-ID;TZID=Europe/Berlin:{local(first + timedelta(days=28), 9)}",
            f"DTSTART;TZID=Europe/Berlin:{local(first + timedelta(days=29), 11)}",
            f"DTEND;TZID=Europe/Berlin:{local(first + timedelta(days=29), 12)}",
            "SUMMARY:Moved standup",
            "END:VEVENT",
            "BEGIN:VEVENT",
            f"UID:{uids['series']}",
            STAMP,
            f"RECURRENCE-ID;TZID=Europe/Berlin:{local(first + timedelta(days=35), 9)}",
            f"DTSTART;TZID=Europe/Berlin:{local(first + timedelta(days=35), 9)}",
            f"DTEND;TZID=Europe/Berlin:{local(first + timedelta(days=35), 10)}",
            "SUMMARY:Weekly standup",
            "STATUS:CANCELLED",
            "END:VEVENT",
        ),
    ]
    for name, text in zip(uids, texts, strict=True):
        put_event(server, cal, uids[name], text)
    return Scenario(texts, uids)


Occurrence = tuple[str, datetime, datetime]


def occurrences(calendar: icalendar.Calendar) -> list[tuple[icalendar.Event, datetime, datetime]]:
    """Every instance in a wide window around today, expanded by recurring_ical_events, times in UTC
    (all-day dates as midnight UTC)."""
    start, end = dates.days_ahead(-WINDOW_DAYS), dates.days_ahead(WINDOW_DAYS)
    found = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        found.append((event, _utc(event["DTSTART"].dt), _utc(event["DTEND"].dt)))
    return found


def _utc(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.astimezone(UTC)


def expected_calendar(scenario: Scenario) -> icalendar.Calendar:
    """What was PUT, as one calendar (each object parsed on its own, then merged)."""
    merged = icalendar.Calendar()
    zones: set[str] = set()
    for text in scenario.texts:
        for component in icalendar.Calendar.from_ical(text).subcomponents:
            if component.name == "VTIMEZONE":
                if str(component["TZID"]) in zones:
                    continue
                zones.add(str(component["TZID"]))
            merged.add_component(component)
    return merged


def taking_time(event: icalendar.Event) -> bool:
    return str(event.get("STATUS", "")).upper() != "CANCELLED" and (
        str(event.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT"
    )


def check_wire_format(body: bytes) -> None:
    assert body.endswith(b"\r\n") and body.count(b"\n") == body.count(b"\r\n"), "bare LF in the feed"
    for line in body.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # each physical line is valid UTF-8: no sequence split by a fold


def zone_ids(calendar: icalendar.Calendar) -> list[str]:
    return [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]


def used_tzids(calendar: icalendar.Calendar) -> set[str]:
    used = set()
    for event in calendar.walk("VEVENT"):
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE"):
            values = event.get(name)
            for value in values if isinstance(values, list) else [values]:
                if value is not None and "TZID" in value.params:
                    used.add(str(value.params["TZID"]))
    return used


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario_calendar(live_server: LiveServer) -> tuple[FeedCalendar, Scenario]:
    cal = new_feed_calendar(live_server.database_url)
    return cal, put_scenario(live_server, cal)


# --- the full feed ----------------------------------------------------------------------------------


def test_full_feed_holds_every_occurrence_of_what_was_put(
    live_server: LiveServer, scenario_calendar: tuple[FeedCalendar, Scenario]
) -> None:
    cal, scenario = scenario_calendar
    response = requests.get(feed_url(live_server, cal), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content
    check_wire_format(body)

    feed = icalendar.Calendar.from_ical(body)
    assert str(feed["VERSION"]) == "2.0" and str(feed["CALSCALE"]) == "GREGORIAN"
    assert str(feed["METHOD"]) == "PUBLISH" and "PRODID" in feed
    assert str(feed["X-WR-CALNAME"]) == CALENDAR_NAME
    assert str(feed["X-WR-CALDESC"]) == CALENDAR_DESCRIPTION
    assert str(feed["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body and b"X-PUBLISHED-TTL:PT1H\r\n" in body
    assert body.count(b"BEGIN:VCALENDAR") == 1

    # One VTIMEZONE per TZID used: Berlin carried by two objects (deduplicated), New York made.
    assert sorted(zone_ids(feed)) == sorted(used_tzids(feed)) == ["America/New_York", "Europe/Berlin"]

    # The same instances, UTC times and UIDs as an independent expansion of what was PUT.
    got = Counter((str(e["UID"]), s, t) for e, s, t in occurrences(feed))
    want = Counter((str(e["UID"]), s, t) for e, s, t in occurrences(expected_calendar(scenario)))
    assert got == want
    series = sorted(s for uid, s, _ in got if uid == scenario.uids["series"])
    assert len(series) == 7  # 8 weekly, one EXDATE (the cancelled one is still listed, as CANCELLED)
    assert len({s.hour for s in series}) >= 2  # the series crosses a DST change: its UTC hour moves
    summaries = {str(e["SUMMARY"]) for e in feed.walk("VEVENT")}
    assert {"Moved standup", "Company offsite", "Dentist appointment " + "ü" * 40} <= summaries
    assert b"VTODO" not in body


def test_busy_feed_keeps_the_times_and_leaks_nothing(
    live_server: LiveServer, scenario_calendar: tuple[FeedCalendar, Scenario]
) -> None:
    cal, scenario = scenario_calendar
    response = requests.get(feed_url(live_server, cal, busy=True), timeout=30)
    assert response.status_code == 200, response.text
    body = response.content
    check_wire_format(body)
    text = body.decode()
    for secret in SECRETS + list(scenario.uids.values()):
        assert secret not in text, secret
    for name in (
        "DESCRIPTION",
        "LOCATION",
        "ATTENDEE",
        "ORGANIZER",
        "URL",
        "CATEGORIES",
        "VALARM",
        "X-CALEDEE",
    ):
        assert name not in text, name

    feed = icalendar.Calendar.from_ical(body)
    assert all(str(event["SUMMARY"]) == "Busy" for event in feed.walk("VEVENT"))
    got = Counter((s, t) for _, s, t in occurrences(feed))
    want = Counter((s, t) for e, s, t in occurrences(expected_calendar(scenario)) if taking_time(e))
    assert got == want  # cancelled instance and transparent event gone; the rest at the same times
    assert sorted(zone_ids(feed)) == sorted(used_tzids(feed))
    # Stable UIDs: the same on the next render.
    again = requests.get(
        feed_url(live_server, cal, busy=True), headers={"Cache-Control": "no-cache"}, timeout=30
    )
    assert [str(e["UID"]) for e in icalendar.Calendar.from_ical(again.content).walk("VEVENT")] == [
        str(e["UID"]) for e in feed.walk("VEVENT")
    ]


# --- HTTP -------------------------------------------------------------------------------------------


def test_headers_conditional_requests_gzip_and_head(live_server: LiveServer) -> None:
    cal = new_feed_calendar(live_server.database_url)
    uid = f"cond-{secrets.token_hex(4)}"
    day = dates.days_ahead(5)
    put_event(
        live_server,
        cal,
        uid,
        vcalendar(
            "BEGIN:VEVENT",
            f"UID:{uid}",
            STAMP,
            f"DTSTART;VALUE=DATE:{dates.ical_day(day)}",
            "SUMMARY:One",
            "END:VEVENT",
        ),
    )
    url = feed_url(live_server, cal)
    first = requests.get(url, timeout=30)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, max-age=3600"
    assert first.headers["Vary"] == "Accept-Encoding"
    assert first.headers["Content-Encoding"] == "gzip"  # requests accepts gzip and unpacks it
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag and modified

    raw = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30, stream=True).raw.read()
    assert gzip.decompress(raw) == first.content
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert "Content-Encoding" not in plain.headers and plain.content == first.content

    not_modified = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"] == etag
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=30).status_code == 200

    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b"" and head.headers["ETag"] == etag

    # A change over CalDAV: a new ETag, and the new event is in the feed.
    new_uid = f"added-{secrets.token_hex(4)}"
    put_event(
        live_server,
        cal,
        new_uid,
        vcalendar(
            "BEGIN:VEVENT",
            f"UID:{new_uid}",
            STAMP,
            f"DTSTART;VALUE=DATE:{dates.ical_day(day)}",
            "SUMMARY:Two",
            "END:VEVENT",
        ),
    )
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert new_uid.encode() in changed.content and uid.encode() in changed.content


def test_wrong_rotated_and_hostile_requests_are_one_404(live_server: LiveServer) -> None:
    cal = new_feed_calendar(live_server.database_url)
    full, busy = feed_url(live_server, cal), feed_url(live_server, cal, busy=True)
    assert requests.get(full, timeout=30).status_code == 200
    unknown = requests.get(
        f"{live_server.url}/feeds/cal_0000000000000000.ics?token={cal.full_token}", timeout=30
    )
    assert unknown.status_code == 404
    base = f"{live_server.url}/feeds/{cal.calendar_id}"
    refused = [
        f"{base}.ics",  # no token
        f"{base}.ics?token=",
        f"{base}.ics?token={cal.busy_token}",  # each URL takes only its own token
        f"{base}/busy.ics?token={cal.full_token}",
        f"{base}.ics?token=feed_{'x' * 1000}",
        f"{base}.ics?token=%00%ff%fe",
    ]
    for url in refused:
        response = requests.get(url, timeout=30)
        assert (response.status_code, response.content) == (404, unknown.content), url[:120]
    # Beyond the server's request line limit: refused before the app, never a 500.
    assert requests.get(f"{base}.ics?token=feed_{'x' * 20000}", timeout=30).status_code == 414

    tokens = rotate_tokens(live_server.database_url, cal.calendar_id)
    for old in (full, busy):
        response = requests.get(old, timeout=30)
        assert (response.status_code, response.content) == (404, unknown.content)
    assert requests.get(f"{base}.ics?token={tokens.full}", timeout=30).status_code == 200
    assert requests.get(f"{base}/busy.ics?token={tokens.busy}", timeout=30).status_code == 200

    for path in (
        "/feeds/..%2F..%2Fetc%2Fpasswd.ics?token=feed_x",
        "/feeds/cal_%00.ics?token=feed_x",
        "/feeds/%3Cscript%3E.ics?token=feed_x",
        "/feeds/" + "a" * 3000 + ".ics?token=feed_x",
        "/feeds/bookings/..%2Fusr.ics?token=feed_x",
        "/feeds/bookings/usr_unknown.ics?token=feed_x",
    ):
        assert requests.get(live_server.url + path, timeout=30).status_code == 404, path[:120]


# --- the bookings feed --------------------------------------------------------------------------------


def test_bookings_feed_shows_bookings_and_cancellations(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, timezone="Europe/Paris")
    api = api_for(live_server, account)
    make_schedule(api, "Europe/Paris")
    event_type = make_event_type(api)
    monday = dates.next_weekday(dates.MON, after_days=2)
    kept = api.book(event_type["id"], dates.at(monday, 10, zone="Europe/Paris").isoformat())
    dropped = api.book(event_type["id"], dates.at(monday, 14, zone="Europe/Paris").isoformat())
    assert kept.status_code == dropped.status_code == 201, (kept.text, dropped.text)
    assert api.delete(f"/bookings/{dropped.json()['id']}").status_code == 200

    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        user = accounts.get_user(session, account.user_id)
        assert user is not None
        token = feed_tokens.issue_bookings_feed_token(user)
    url = live_server.url + feed_tokens.bookings_feed_path(account.user_id, token)
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    check_wire_format(response.content)
    feed = icalendar.Calendar.from_ical(response.content)
    status = {str(e["UID"]): str(e["STATUS"]) for e in feed.walk("VEVENT")}
    assert status == {kept.json()["uid"]: "CONFIRMED", dropped.json()["uid"]: "CANCELLED"}
    start = next(e for e in feed.walk("VEVENT") if str(e["UID"]) == kept.json()["uid"])["DTSTART"].dt
    assert start == dates.at(monday, 10, zone="Europe/Paris")
    assert str(feed["X-WR-TIMEZONE"]) == "Europe/Paris"

    etag = response.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    wrong = requests.get(url.replace(token, token[:-2] + "xy"), timeout=30)
    unknown = requests.get(
        f"{live_server.url}/feeds/bookings/usr_0000000000000000.ics?token={token}", timeout=30
    )
    assert wrong.status_code == unknown.status_code == 404 and wrong.content == unknown.content


# --- the rate limit ---------------------------------------------------------------------------------


def test_rate_limit_per_token(live_server: LiveServer, tmp_path: Path) -> None:
    server = start_server(
        live_server.database_url, tmp_path, extra_env={"CALEDEE_FEED_REQUESTS_PER_MINUTE": "3"}
    )
    try:
        cal = new_feed_calendar(live_server.database_url)
        url = feed_url(server, cal)
        assert [requests.get(url, timeout=30).status_code for _ in range(3)] == [200, 200, 200]
        refused = requests.get(url, timeout=30)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert len(refused.content) < 300 and cal.full_token not in refused.text
        # Another token (the busy feed's) has its own count.
        assert requests.get(feed_url(server, cal, busy=True), timeout=30).status_code == 200
        assert cal.full_token not in server.log()
    finally:
        stop_server(server)


# --- a real subscriber ------------------------------------------------------------------------------


def test_vdirsyncer_subscribes_to_the_feed(
    live_server: LiveServer, scenario_calendar: tuple[FeedCalendar, Scenario], tmp_path: Path
) -> None:
    pytest.importorskip("vdirsyncer", reason="vdirsyncer is not installed (pip install -e '.[test]')")
    cal, scenario = scenario_calendar
    local = tmp_path / "local"
    local.mkdir()
    config = tmp_path / "config"
    config.write_text(
        f"""[general]
status_path = "{tmp_path / "status"}/"

[pair feed]
a = "feed_remote"
b = "feed_local"
collections = null
conflict_resolution = "a wins"

[storage feed_remote]
type = "http"
url = "{feed_url(live_server, cal)}"

[storage feed_local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"
"""
    )
    command = shutil.which("vdirsyncer", path=str(Path(sys.executable).parent)) or "vdirsyncer"
    env = {**os.environ, "VDIRSYNCER_CONFIG": str(config)}
    for step in ("discover", "sync"):
        done = subprocess.run([command, step], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    written = [path.read_text() for path in local.glob("*.ics")]
    joined = "\n".join(written)
    # vdirsyncer's http storage files each item under a hash of its text (it replaces the UID, which a
    # feed may change), so the items are recognised by their contents: one per UID, overrides with it.
    for summary in (
        "Dentist appointment",
        "Weekly standup",
        "Moved standup",
        "Company offsite",
        "Focus time",
    ):
        assert summary in joined, summary
    assert len(written) == len(scenario.uids)
    series = next(text for text in written if "RRULE:FREQ=WEEKLY;COUNT=8" in text)
    assert series.count("RECURRENCE-ID") == 2 and "EXDATE" in series and "Moved standup" in series
