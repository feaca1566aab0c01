"""The fast CalDAV path against Radicale's own answers, on one database.

Two servers share the database: one with the fast path (the default), one with
``CALEDEE_DAV_FAST_PATH=false`` where Radicale answers everything. For a calendar holding the cases
that make time-range queries hard (DST, all-day, recurring with EXDATE and an overridden instance, an
unbounded series beyond the index horizon, floating time, a task), every query must give the same
objects, ETags and data, and expanded instances at the same times, from both.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote
from xml.etree import ElementTree as ET

import icalendar
import pytest
import requests

from caldee_dav import db, store
from tests import dates
from tests.conftest import Account, LiveServer, create_account, start_server, stop_server

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
FAST_HEADER = "X-Caledee-Answered-By"
PARIS_TZ = """BEGIN:VTIMEZONE\r
TZID:Europe/Paris\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""


def calendar(*components: str, timezone: bool = False) -> str:
    body = "".join(components)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Caledee tests//EN\r\n"
        + (PARIS_TZ if timezone else "")
        + body
        + "END:VCALENDAR\r\n"
    )


# Every date below is placed around the next spring change in Paris after the clock's today (a Sunday:
# at 02:00 CET the clocks go to 03:00 CEST), so within the indexing horizon (730 days) whatever the date.
CHANGE = dates.next_dst_change("Europe/Paris", forward=True)


def day(offset: int) -> date:
    """``offset`` days after the spring change (negative: before)."""
    return CHANGE + timedelta(days=offset)


def ical(offset: int, time: str = "") -> str:
    """``YYYYMMDD`` of ``day(offset)``, followed by ``time`` (``T090000``, ``T100000Z``...)."""
    return dates.ical_day(day(offset)) + time


def iso(offset: int, time: str = "") -> str:
    """``YYYY-MM-DD`` of ``day(offset)``, followed by ``time`` (``T07:00:00+00:00``...)."""
    return day(offset).isoformat() + time


# The yearly series (2 July, from the summer before the change) is looked for in the first July that
# starts more than a month after the horizon: the index holds none of its instances there.
FAR_YEAR = next(
    year for year in range(CHANGE.year, CHANGE.year + 10) if date(year, 7, 1) > dates.days_ahead(730 + 31)
)


def vevent(uid: str, *lines: str) -> str:
    return (
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        + "".join(line + "\r\n" for line in lines)
        + "END:VEVENT\r\n"
    )


OBJECTS = {
    # Crosses the spring-forward night in Paris (01:30 CET to 03:30 CEST is one hour).
    "dst.ics": calendar(
        vevent(
            "dst",
            f"DTSTART;TZID=Europe/Paris:{ical(0, 'T013000')}",
            f"DTEND;TZID=Europe/Paris:{ical(0, 'T033000')}",
            "SUMMARY:Night shift",
        ),
        timezone=True,
    ),
    "allday.ics": calendar(
        vevent("allday", f"DTSTART;VALUE=DATE:{ical(2)}", f"DTEND;VALUE=DATE:{ical(3)}", "SUMMARY:Offsite")
    ),
    # Mondays from three weeks before the change; the Monday before it excluded, the one after moved.
    "weekly.ics": calendar(
        vevent(
            "weekly",
            f"DTSTART;TZID=Europe/Paris:{ical(-20, 'T090000')}",
            f"DTEND;TZID=Europe/Paris:{ical(-20, 'T093000')}",
            "RRULE:FREQ=WEEKLY;COUNT=8",
            f"EXDATE;TZID=Europe/Paris:{ical(-6, 'T090000')}",
            "SUMMARY:Standup",
        ),
        vevent(
            "weekly",
            f"RECURRENCE-ID;TZID=Europe/Paris:{ical(1, 'T090000')}",
            f"DTSTART;TZID=Europe/Paris:{ical(3, 'T140000')}",
            f"DTEND;TZID=Europe/Paris:{ical(3, 'T143000')}",
            "SUMMARY:Standup (moved)",
        ),
        timezone=True,
    ),
    # Unbounded: instances years ahead are beyond the occurrence index's horizon.
    "yearly.ics": calendar(
        vevent(
            "yearly",
            f"DTSTART:{CHANGE.year - 1}0702T120000Z",
            f"DTEND:{CHANGE.year - 1}0702T130000Z",
            "RRULE:FREQ=YEARLY",
            "SUMMARY:Anniversary lunch",
        )
    ),
    "daily-allday.ics": calendar(
        vevent(
            "daily-allday",
            f"DTSTART;VALUE=DATE:{ical(-3)}",
            f"DTEND;VALUE=DATE:{ical(-2)}",
            "RRULE:FREQ=DAILY;COUNT=10",
            f"EXDATE;VALUE=DATE:{ical(1)}",
            "SUMMARY:Conference",
        )
    ),
    "plain.ics": calendar(
        vevent(
            "plain",
            f"DTSTART:{ical(4, 'T100000Z')}",
            f"DTEND:{ical(4, 'T110000Z')}",
            "SUMMARY:Call & <notes>",
            # Non-ASCII text and iCalendar's backslash escapes must come back byte for byte.
            "DESCRIPTION:Café with Zoë ☕\\, then notes\\nline two",
        )
    ),
    # Floating time: no zone, read as UTC by the index (and by Radicale's filter).
    "floating.ics": calendar(
        vevent(
            "floating",
            f"DTSTART:{ical(3, 'T150000')}",
            f"DTEND:{ical(3, 'T160000')}",
            "SUMMARY:Wherever I am",
        )
    ),
    # A name that must be quoted in hrefs.
    "team lunch+1.ics": calendar(
        vevent("lunch", f"DTSTART:{ical(2, 'T110000Z')}", f"DTEND:{ical(2, 'T120000Z')}", "SUMMARY:Lunch")
    ),
    "elsewhen.ics": calendar(
        vevent(
            "elsewhen", f"DTSTART:{ical(65, 'T100000Z')}", f"DTEND:{ical(65, 'T110000Z')}", "SUMMARY:Later"
        )
    ),
    "task.ics": calendar(
        f"BEGIN:VTODO\r\nUID:task\r\nDTSTAMP:20261101T000000Z\r\nDUE:{ical(2, 'T170000Z')}\r\n"
        "SUMMARY:File the report\r\nEND:VTODO\r\n"
    ),
}

WEEK = (ical(-2, "T000000Z"), ical(4, "T120000Z"))  # holds the DST change and every case above
FAR_START = dates.at(date(FAR_YEAR, 7, 1))
FAR = (dates.ical_utc(FAR_START), dates.ical_utc(FAR_START + timedelta(days=2)))  # only the yearly series


@dataclass
class Servers:
    fast: LiveServer
    radicale: LiveServer
    account: Account

    def url(self, server: LiveServer, name: str = "") -> str:
        return f"{server.dav_url}{self.account.slug}/calendar/{name}"

    def request(self, server: LiveServer, method: str, name: str = "", body: str = "", **headers: str):
        return requests.request(
            method,
            self.url(server, name),
            data=body.encode(),
            auth=(self.account.slug, self.account.token),
            headers=headers,
            timeout=30,
        )


@pytest.fixture(scope="module")
def servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    fast = start_server(database_url, tmp_path_factory.mktemp("fast"))
    radicale = start_server(
        database_url, tmp_path_factory.mktemp("radicale"), extra_env={"CALEDEE_DAV_FAST_PATH": "false"}
    )
    try:
        pair = Servers(fast, radicale, create_account(database_url))
        for name, text in OBJECTS.items():
            stored = pair.request(radicale, "PUT", name, text, **{"Content-Type": "text/calendar"})
            assert stored.status_code == 201, (name, stored.text)
        yield pair
    finally:
        stop_server(fast)
        stop_server(radicale)


def calendar_query(
    window: tuple[str, str] | None, *, component: str = "VEVENT", expand: bool = False, extra: str = ""
) -> str:
    data = (
        f'<C:calendar-data><C:expand start="{window[0]}" end="{window[1]}"/></C:calendar-data>'
        if expand and window
        else "<C:calendar-data/>"
    )
    time_range = f'<C:time-range start="{window[0]}" end="{window[1]}"/>' if window else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/>{data}{extra}</D:prop>"
        f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="{component}">{time_range}'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def report(servers: Servers, server: LiveServer, body: str) -> requests.Response:
    answer = servers.request(
        server, "REPORT", "", body, Depth="1", **{"Content-Type": "application/xml; charset=utf-8"}
    )
    assert answer.status_code == 207, answer.text
    return answer


def by_href(answer: requests.Response) -> dict[str, dict[str, tuple[int, str]]]:
    """href -> {property: (propstat status, text)} of a multistatus."""
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for response in ET.fromstring(answer.content).findall(f"{DAV}response"):
        props = found.setdefault(response.findtext(f"{DAV}href", ""), {})
        for propstat in response.findall(f"{DAV}propstat"):
            status = int(propstat.findtext(f"{DAV}status", "").split()[1])
            for prop in propstat.find(f"{DAV}prop") or []:
                props[prop.tag] = (status, (prop.text or "").replace("\r\n", "\n").strip())
    return found


def instants(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return value.isoformat()


def expanded_instances(answer: requests.Response) -> dict[str, set[tuple[str, ...]]]:
    """href -> {(UID, RECURRENCE-ID, DTSTART, DTEND, SUMMARY)} with every time in UTC."""
    found: dict[str, set[tuple[str, ...]]] = {}
    for href, props in by_href(answer).items():
        status, text = props[f"{CALDAV}calendar-data"]
        assert status == 200
        rows = found.setdefault(href, set())
        for event in icalendar.Calendar.from_ical(text).walk("VEVENT"):
            recurrence = event.get("RECURRENCE-ID")
            rows.add(
                (
                    str(event["UID"]),
                    instants(recurrence.dt) if recurrence else "",
                    instants(event["DTSTART"].dt),
                    instants(event["DTEND"].dt) if "DTEND" in event else "",
                    str(event.get("SUMMARY", "")),
                )
            )
    return found


def test_time_range_query_matches_radicale(servers: Servers) -> None:
    body = calendar_query(WEEK, extra="<D:getcontenttype/><D:displayname/>")
    fast, slow = report(servers, servers.fast, body), report(servers, servers.radicale, body)
    assert fast.headers.get(FAST_HEADER) == "store" and FAST_HEADER not in slow.headers
    answer = by_href(fast)
    assert answer == by_href(slow)
    names = {href.rsplit("/", 1)[1] for href in answer}
    assert names == {
        "dst.ics",
        "allday.ics",
        "weekly.ics",
        "daily-allday.ics",
        "plain.ics",
        "floating.ics",
        "team%20lunch%2B1.ics",
    }
    plain = next(props for href, props in answer.items() if href.endswith("/plain.ics"))
    assert "SUMMARY:Call & <notes>" in plain[f"{CALDAV}calendar-data"][1]
    assert "DESCRIPTION:Café with Zoë ☕\\, then notes\\nline two" in plain[f"{CALDAV}calendar-data"][1]
    assert plain[f"{DAV}displayname"][0] == 404  # asked for, not a property of an event


def test_expanded_query_matches_radicale(servers: Servers) -> None:
    body = calendar_query(WEEK, expand=True)
    fast, slow = report(servers, servers.fast, body), report(servers, servers.radicale, body)
    assert fast.headers.get(FAST_HEADER) == "store"
    ours = expanded_instances(fast)
    assert ours == expanded_instances(slow)
    weekly = next(rows for href, rows in ours.items() if href.endswith("/weekly.ics"))
    # The day after the change was moved two days on (14:00 CEST = 12:00 UTC); the series keeps its UID.
    assert weekly == {
        (
            "weekly",
            iso(1, "T07:00:00+00:00"),
            iso(3, "T12:00:00+00:00"),
            iso(3, "T12:30:00+00:00"),
            "Standup (moved)",
        ),
    }
    conference = next(rows for href, rows in ours.items() if href.endswith("/daily-allday.ics"))
    assert {row[2] for row in conference} == {iso(-2), iso(-1), iso(0), iso(2), iso(3), iso(4)}
    for href, rows in ours.items():
        text = by_href(fast)[href][f"{CALDAV}calendar-data"][1]
        if any(row[1] for row in rows):
            assert "RRULE" not in text and "EXDATE" not in text and "VTIMEZONE" not in text


def test_instance_starting_at_the_end_of_the_range_is_not_returned(servers: Servers) -> None:
    # RFC 4791 9.9: the range's end is exclusive. (Radicale 3.9's expansion returns the next day's instance.)
    body = calendar_query((ical(4, "T000000Z"), ical(5, "T000000Z")), expand=True)
    instances = expanded_instances(report(servers, servers.fast, body))
    conference = next(rows for href, rows in instances.items() if href.endswith("/daily-allday.ics"))
    assert {row[2] for row in conference} == {iso(4)}


def test_instances_beyond_the_index_horizon_are_found(servers: Servers) -> None:
    # The premise: FAR is beyond the horizon, so the index cannot tell; the series must be parsed.
    with db.read_unit(db.engine_for(servers.fast.database_url)) as session:
        calendar_row = store.require_collection(session, f"{servers.account.slug}/calendar")
        start = int(FAR_START.timestamp())
        candidates = store.find_in_range(session, calendar_row, start, start + 2 * 86400, "VEVENT")
        assert {c.obj.href: c.exact for c in candidates} == {"yearly.ics": False}
    body = calendar_query(FAR)
    fast, slow = report(servers, servers.fast, body), report(servers, servers.radicale, body)
    assert fast.headers.get(FAST_HEADER) == "store"
    assert by_href(fast) == by_href(slow)
    assert [href.rsplit("/", 1)[1] for href in by_href(fast)] == ["yearly.ics"]
    # Expanded. (Radicale 3.9 answers 400 here: it prefilters and then expands one parsed object twice.)
    expanded = expanded_instances(report(servers, servers.fast, calendar_query(FAR, expand=True)))
    assert list(expanded.values()) == [
        {
            (
                "yearly",
                f"{FAR_YEAR}-07-02T12:00:00+00:00",
                f"{FAR_YEAR}-07-02T12:00:00+00:00",
                f"{FAR_YEAR}-07-02T13:00:00+00:00",
                "Anniversary lunch",
            )
        }
    ]


def test_a_range_without_an_end_is_answered_like_radicale(servers: Servers) -> None:
    body = calendar_query(FAR).replace(f' end="{FAR[1]}"', "")
    fast, slow = report(servers, servers.fast, body), report(servers, servers.radicale, body)
    assert fast.headers.get(FAST_HEADER) == "store"
    assert by_href(fast) == by_href(slow)
    assert [href.rsplit("/", 1)[1] for href in by_href(fast)] == ["yearly.ics"]


def test_expanding_a_daily_series_over_centuries_is_bounded(servers: Servers) -> None:
    # An unbounded daily series: ten years expand to one instance a day; a thousand years pass
    # Radicale's cap of 10,000 instances, and the fast path hands the request over instead of
    # expanding 365,000 instances (before, it held a worker for minutes).
    first = day(-55)
    daily = calendar(
        vevent("daily-forever", f"DTSTART:{ical(-55, 'T100000Z')}", "DURATION:PT1H", "RRULE:FREQ=DAILY")
    )
    assert servers.request(servers.radicale, "PUT", "daily-forever.ics", daily).status_code == 201
    try:
        decade_end = first.replace(year=first.year + 10)
        decade = (ical(-55, "T000000Z"), dates.ical_day(decade_end) + "T000000Z")
        ten_years = report(servers, servers.fast, calendar_query(decade, expand=True))
        rows = next(rows for href, rows in expanded_instances(ten_years).items() if "daily-forever" in href)
        assert len(rows) == (decade_end - first).days
        thousand_years = dates.ical_day(first.replace(year=first.year + 1000)) + "T000000Z"
        centuries = calendar_query((ical(-55, "T000000Z"), thousand_years), expand=True)
        answers = [
            servers.request(server, "REPORT", "", centuries, Depth="1", **{"Content-Type": "application/xml"})
            for server in (servers.fast, servers.radicale)
        ]
        assert [a.status_code for a in answers] == [400, 400]
    finally:
        assert servers.request(servers.radicale, "DELETE", "daily-forever.ics").status_code == 200


def test_queries_without_time_range_list_the_component(servers: Servers) -> None:
    for component in ("VEVENT", "VTODO"):
        body = calendar_query(None, component=component)
        fast, slow = report(servers, servers.fast, body), report(servers, servers.radicale, body)
        assert fast.headers.get(FAST_HEADER) == "store"
        assert by_href(fast) == by_href(slow)
    assert [href.rsplit("/", 1)[1] for href in by_href(fast)] == ["task.ics"]


def test_depth_one_listing_matches_radicale(servers: Servers) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
        "<D:getetag/><D:resourcetype/><D:getcontenttype/><D:getlastmodified/></D:prop></D:propfind>"
    )
    answers = [
        servers.request(server, "PROPFIND", "", body, Depth="1", **{"Accept-Encoding": "gzip"})
        for server in (servers.fast, servers.radicale)
    ]
    fast, slow = answers
    assert fast.status_code == slow.status_code == 207
    assert fast.headers.get(FAST_HEADER) == "store" and fast.headers["Content-Encoding"] == "gzip"
    assert by_href(fast) == by_href(slow)
    assert len(by_href(fast)) == len(OBJECTS) + 1  # the calendar itself, then every object
    kinds = [
        {child.tag for child in ET.fromstring(answer.content).find(f".//{DAV}resourcetype") or []}
        for answer in answers
    ]
    assert kinds[0] == kinds[1] == {f"{DAV}collection", f"{CALDAV}calendar"}


def test_listing_follows_changes_made_by_any_process(servers: Servers) -> None:
    """The fast listing is kept per process and updated from the change log: after edits, deletions,
    new names, changes made by the other server process and a calendar deleted and made again, it
    still equals Radicale's."""
    view = Servers(servers.fast, servers.radicale, create_account(servers.fast.database_url))
    body = (
        '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
        "<D:getetag/><D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>"
    )
    ics = {"Content-Type": "text/calendar"}

    def put(server: LiveServer, name: str, summary: str) -> None:
        text = calendar(
            vevent(
                name, f"DTSTART:{ical(4, 'T100000Z')}", f"DTEND:{ical(4, 'T110000Z')}", f"SUMMARY:{summary}"
            )
        )
        assert view.request(server, "PUT", name, text, **ics).status_code in (201, 204)

    def delete(server: LiveServer, name: str) -> None:
        assert view.request(server, "DELETE", name).status_code in (200, 204)

    def listings_agree() -> set[str]:
        fast = view.request(view.fast, "PROPFIND", "", body, Depth="1")
        slow = view.request(view.radicale, "PROPFIND", "", body, Depth="1")
        assert fast.headers.get(FAST_HEADER) == "store" and FAST_HEADER not in slow.headers
        assert by_href(fast) == by_href(slow)
        return {unquote(href.rstrip("/").rsplit("/", 1)[1]) for href in by_href(fast)}

    for name in ("a.ics", "b.ics", "c.ics"):
        put(view.radicale, name, "First")
    assert listings_agree() == {"calendar", "a.ics", "b.ics", "c.ics"}
    put(view.radicale, "a.ics", "Edited elsewhere")
    delete(view.radicale, "b.ics")
    put(view.radicale, "d e.ics", "A name to quote")
    assert listings_agree() == {"calendar", "a.ics", "c.ics", "d e.ics"}
    put(view.fast, "f.ics", "Here")
    delete(view.radicale, "c.ics")
    put(view.fast, "a.ics", "Edited here")
    assert listings_agree() == {"calendar", "a.ics", "d e.ics", "f.ics"}
    assert view.request(view.radicale, "DELETE").status_code in (200, 204)
    made = view.request(view.radicale, "MKCALENDAR", "", "", **{"Content-Type": "application/xml"})
    assert made.status_code == 201, made.text
    put(view.radicale, "g.ics", "In the new calendar")
    assert listings_agree() == {"calendar", "g.ics"}


def test_unsupported_requests_are_answered_by_radicale(servers: Servers) -> None:
    selective = calendar_query(WEEK).replace(
        "<C:calendar-data/>", '<C:calendar-data><C:comp name="VCALENDAR"/></C:calendar-data>'
    )
    answer = report(servers, servers.fast, selective)
    assert FAST_HEADER not in answer.headers and len(by_href(answer)) == 7
    stranger = create_account(servers.fast.database_url)
    other = requests.request(
        "REPORT",
        servers.url(servers.fast),
        data=calendar_query(WEEK).encode(),
        auth=(stranger.slug, stranger.token),
        headers={"Depth": "1"},
        timeout=30,
    )
    assert other.status_code in (403, 404) and "Night shift" not in other.text
    bad = requests.request(
        "REPORT",
        servers.url(servers.fast),
        data=calendar_query(WEEK).encode(),
        auth=(servers.account.slug, "wrong"),
        timeout=30,
    )
    assert bad.status_code == 401 and "WWW-Authenticate" in bad.headers


def sync_token(servers: Servers) -> str:
    body = '<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>'
    answer = servers.request(servers.radicale, "PROPFIND", "", body, Depth="0")
    return ET.fromstring(answer.content).findtext(f".//{DAV}sync-token", "")


def changed_since(servers: Servers, token: str) -> list[str]:
    body = (
        f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    answer = servers.request(servers.radicale, "REPORT", "", body)
    return sorted(href.rsplit("/", 1)[1] for href in by_href(answer))


def test_put_is_stored_as_sent_and_seen_by_radicale(servers: Servers) -> None:
    text = calendar(
        vevent(
            "put-1",
            f"DTSTART;TZID=Europe/Paris:{ical(1, 'T100000')}",
            f"DTEND;TZID=Europe/Paris:{ical(1, 'T110000')}",
            "SUMMARY:Fast put",
        ),
        timezone=True,
    )
    before = sync_token(servers)
    created = servers.request(servers.fast, "PUT", "put-1.ics", text, **{"If-None-Match": "*"})
    assert created.status_code == 201 and created.headers.get(FAST_HEADER) == "store"
    got = servers.request(servers.radicale, "GET", "put-1.ics")
    assert got.text == text and got.headers["ETag"] == created.headers["ETag"]
    assert changed_since(servers, before) == ["put-1.ics"]
    # The new event is in the index: a time-range query through Radicale finds it.
    found = report(servers, servers.radicale, calendar_query(WEEK))
    assert any(href.endswith("/put-1.ics") for href in by_href(found))

    again = servers.request(servers.fast, "PUT", "put-1.ics", text, **{"If-None-Match": "*"})
    assert again.status_code == 412
    stale = servers.request(servers.fast, "PUT", "put-1.ics", text, **{"If-Match": '"stale"'})
    assert stale.status_code == 412
    clash = servers.request(servers.fast, "PUT", "put-2.ics", text)
    assert clash.status_code == 409 and "no-uid-conflict" in clash.text
    garbage = servers.request(servers.fast, "PUT", "put-3.ics", "BEGIN:VCALENDAR\r\nnonsense\r\n")
    assert garbage.status_code == 400
    middle = sync_token(servers)
    assert changed_since(servers, before) == ["put-1.ics"]  # refusals changed nothing

    changed = text.replace("Fast put", "Fast put, moved")
    replaced = servers.request(
        servers.fast, "PUT", "put-1.ics", changed, **{"If-Match": created.headers["ETag"]}
    )
    assert replaced.status_code == 204 and replaced.headers["ETag"] != created.headers["ETag"]
    assert servers.request(servers.radicale, "GET", "put-1.ics").text == changed
    assert changed_since(servers, middle) == ["put-1.ics"]


# Bodies icalendar reads (keeping what it cannot parse as text) where vobject, under Radicale, may not;
# and odd but valid ones. The fast path must accept exactly what Radicale accepts.
START, END = f"DTSTART:{ical(-27, 'T100000Z')}", f"DTEND:{ical(-27, 'T110000Z')}"
ODD_EVENT_LINES = {
    "bad-start": ("DTSTART:hello", END),
    "bad-end": (START, "DTEND:2027"),
    "bad-created": (START, "CREATED:yesterday"),
    "bad-recurrence-id": (START, "RECURRENCE-ID:abc"),
    "bad-dtstamp-line": (START, "DTSTAMP:x"),
    "no-colon": (START, "GARBAGE LINE"),
    "open-quote": (START, 'X-FOO;A="b:c'),
    "date-start-datetime-end": (f"DTSTART;VALUE=DATE:{ical(-27)}", END),
    "bad-geo": (START, "GEO:abc"),
    "bad-priority": (START, "PRIORITY:high"),
    "unknown-tzid": (f"DTSTART;TZID=Nowhere/City:{ical(-27, 'T100000')}",),
    "end-before-start": (START, f"DTEND:{ical(-55, 'T100000Z')}"),
}


def test_put_accepts_and_refuses_what_radicale_does(servers: Servers) -> None:
    answers = {}
    for case, lines in ODD_EVENT_LINES.items():
        for server, side in ((servers.fast, "fast"), (servers.radicale, "radicale")):
            name = f"odd-{case}-{side}"
            answer = servers.request(server, "PUT", f"{name}.ics", calendar(vevent(name, *lines)))
            answers.setdefault(case, {})[side] = answer.status_code
            if answer.status_code == 201:
                assert servers.request(server, "DELETE", f"{name}.ics").status_code == 200
    assert {case: a["fast"] for case, a in answers.items()} == {
        case: a["radicale"] for case, a in answers.items()
    }
    assert {case for case, a in answers.items() if a["fast"] == 201} == {
        "bad-geo",
        "bad-priority",
        "unknown-tzid",
        "end-before-start",
    }


def test_a_task_list_takes_no_events_on_either_path(servers: Servers) -> None:
    # RFC 4791 5.3.2.1: a calendar made for VTODO only refuses a VEVENT, by PUT or by MOVE.
    mkcol = (
        '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set>'
        "<D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>Tasks</D:displayname>"
        '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>'
        "</D:prop></D:set></D:mkcol>"
    )
    auth = (servers.account.slug, servers.account.token)
    for server, side in ((servers.fast, "fast"), (servers.radicale, "radicale")):
        tasks = f"{server.dav_url}{servers.account.slug}/tasks-{side}/"
        assert requests.request("MKCOL", tasks, data=mkcol, auth=auth, timeout=30).status_code == 201
        event = calendar(vevent(f"meeting-{side}", START, END))
        todo = calendar(
            f"BEGIN:VTODO\r\nUID:todo-{side}\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Do\r\nEND:VTODO\r\n"
        )
        refused = requests.put(tasks + "meeting.ics", data=event, auth=auth, timeout=30)
        assert refused.status_code == 400, (side, refused.status_code)
        assert requests.put(tasks + "todo.ics", data=todo, auth=auth, timeout=30).status_code == 201
        assert (
            servers.request(
                server, "PUT", f"move-me-{side}.ics", event.replace("meeting", "moving")
            ).status_code
            == 201
        )
        moved = servers.request(server, "MOVE", f"move-me-{side}.ics", Destination=tasks + "moved.ics")
        assert moved.status_code == 400
        listing = requests.request("PROPFIND", tasks, auth=auth, headers={"Depth": "1"}, timeout=30)
        assert (
            "todo.ics" in listing.text
            and "meeting.ics" not in listing.text
            and "moved.ics" not in listing.text
        )
        assert servers.request(server, "DELETE", f"move-me-{side}.ics").status_code == 200
        assert requests.delete(tasks, auth=auth, timeout=30).status_code == 200


def test_recurring_put_takes_radicales_checks(servers: Servers) -> None:
    text = calendar(
        vevent(
            "put-rec",
            START,
            END,
            "RRULE:FREQ=DAILY;COUNT=3",
            "SUMMARY:Series",
        )
    )
    created = servers.request(servers.fast, "PUT", "put-rec.ics", text)
    assert created.status_code == 201 and FAST_HEADER not in created.headers
    listed = report(servers, servers.fast, calendar_query((ical(-26, "T000000Z"), ical(-25, "T000000Z"))))
    assert any(href.endswith("/put-rec.ics") for href in by_href(listed))


def test_gzip_answers_decompress_to_the_same_document(servers: Servers) -> None:
    body = calendar_query(WEEK)
    raw = requests.request(
        "REPORT",
        servers.url(servers.fast),
        data=body.encode(),
        auth=(servers.account.slug, servers.account.token),
        headers={"Accept-Encoding": "gzip", "Depth": "1"},
        timeout=30,
        stream=True,
    )
    compressed = raw.raw.read(decode_content=False)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert int(raw.headers["Content-Length"]) == len(compressed)
    plain = report(servers, servers.fast, body)
    assert gzip.decompress(compressed) == plain.content


def sync_report(servers: Servers, server: LiveServer, token: str) -> requests.Response:
    body = (
        f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:sync-collection>"
    )
    return servers.request(server, "REPORT", "", body, **{"Content-Type": "application/xml"})


def sync_answer(answer: requests.Response) -> tuple[str, dict[str, object]]:
    """(new token, href -> properties, or the status of a response without properties)."""
    root = ET.fromstring(answer.content)
    found: dict[str, object] = {}
    for response in root.findall(f"{DAV}response"):
        href = response.findtext(f"{DAV}href", "")
        status = response.findtext(f"{DAV}status")
        found[href] = status.split()[1] if status else by_href_one(response)
    return root.findtext(f"{DAV}sync-token", ""), found


def by_href_one(response: ET.Element) -> dict[str, str]:
    return {
        prop.tag: prop.text or ""
        for propstat in response.findall(f"{DAV}propstat")
        for prop in propstat.find(f"{DAV}prop") or []
    }


def test_sync_collection_matches_radicale(servers: Servers) -> None:
    first_fast, first_slow = (sync_report(servers, s, "") for s in (servers.fast, servers.radicale))
    assert first_fast.status_code == first_slow.status_code == 207
    assert first_fast.headers.get(FAST_HEADER) == "store"
    token, everything = sync_answer(first_fast)
    assert (token, everything) == sync_answer(first_slow)
    assert {unquote(href.rsplit("/", 1)[1]) for href in everything} >= set(OBJECTS)

    extra = calendar(vevent("sync-new", f"DTSTART:{ical(34, 'T100000Z')}", f"DTEND:{ical(34, 'T110000Z')}"))
    assert servers.request(servers.fast, "PUT", "sync-new.ics", extra).status_code == 201
    assert servers.request(servers.radicale, "DELETE", "elsewhen.ics").status_code in (200, 204)
    changes = [sync_answer(sync_report(servers, s, token)) for s in (servers.fast, servers.radicale)]
    assert changes[0] == changes[1]
    new_token, changed = changes[0]
    assert new_token != token
    by_name = {href.rsplit("/", 1)[1]: value for href, value in changed.items()}
    assert by_name.keys() == {"sync-new.ics", "elsewhen.ics"}
    assert by_name["elsewhen.ics"] == "404"
    assert by_name["sync-new.ics"][f"{DAV}getcontenttype"] == "text/calendar;charset=utf-8;component=VEVENT"
    # Nothing since the newest token; a token that is not ours gets RFC 6578's error.
    assert sync_answer(sync_report(servers, servers.fast, new_token))[1] == {}
    bad = sync_report(servers, servers.fast, "http://example.com/not-a-token")
    assert bad.status_code == 403 and "valid-sync-token" in bad.text
