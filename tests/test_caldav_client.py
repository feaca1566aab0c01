"""The real server driven by the `caldav` client library, as Apple Calendar or DAVx5 would drive it."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import caldav
import pytest
import requests
from caldav.lib.error import AuthorizationError, NotFoundError

from tests import dates
from tests.conftest import Account, LiveServer

PARIS = ZoneInfo("Europe/Paris")
# Events are placed from the clock's today: a Monday ahead for the weekly series, a month ahead for
# single events.
FIRST_MONDAY = dates.next_weekday(dates.MON, after_days=2)
SOON = dates.at(dates.days_ahead(30), 10)


def recurring(first: date, *, exdate: bool = True, moved: bool = True) -> str:
    """Weekly on Mondays from ``first`` at 09:00 Paris, ten times; with ``exdate`` the second week is
    excluded, with ``moved`` the third is moved to 14:00."""
    week = [dates.ical_day(first + timedelta(weeks=n)) for n in range(3)]
    excluded = f"EXDATE;TZID=Europe/Paris:{week[1]}T090000\n" if exdate else ""
    moved_instance = (
        f"""BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20261101T000000Z
RECURRENCE-ID;TZID=Europe/Paris:{week[2]}T090000
DTSTART;TZID=Europe/Paris:{week[2]}T140000
DTEND;TZID=Europe/Paris:{week[2]}T143000
SUMMARY:Standup (moved)
END:VEVENT
"""
        if moved
        else ""
    )
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Caledee tests//EN
BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Paris:{week[0]}T090000
DTEND;TZID=Europe/Paris:{week[0]}T093000
RRULE:FREQ=WEEKLY;COUNT=10
{excluded}SUMMARY:Standup
END:VEVENT
{moved_instance}END:VCALENDAR
"""


def client(server: LiveServer, login: str, password: str) -> caldav.DAVClient:
    return caldav.DAVClient(url=server.url + "/", username=login, password=password)


def new_calendar(account: Account, server: LiveServer, name: str = "Work") -> caldav.Calendar:
    principal = client(server, account.slug, account.token).principal()
    return principal.make_calendar(name=name)


def test_discovery_finds_the_principal_and_its_calendar(live_server: LiveServer, account: Account) -> None:
    # Log in with the email and the password, starting from the bare server URL (/.well-known/caldav).
    principal = client(live_server, account.email, account.password).principal()
    calendars = principal.calendars()
    assert [c.get_display_name() for c in calendars] == ["Calendar"]
    assert calendars[0].url.path == f"/dav/{account.slug}/calendar/"


def test_wrong_password_is_refused(live_server: LiveServer, account: Account) -> None:
    with pytest.raises(AuthorizationError):
        client(live_server, account.slug, "wrong").principal()


def test_create_calendar_and_save_events(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    start = SOON
    holiday = SOON.date() + timedelta(days=2)
    calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="Plain", uid="plain-1")
    calendar.save_event(dtstart=holiday, dtend=holiday + timedelta(days=1), summary="Holiday", uid="allday-1")
    calendar.save_event(recurring(FIRST_MONDAY))

    summaries = sorted(str(e.icalendar_component["SUMMARY"]) for e in calendar.events())
    assert summaries == ["Holiday", "Plain", "Standup"]
    assert calendar.event_by_uid("plain-1").icalendar_component["DTSTART"].dt == start


def test_time_range_search_with_and_without_expand(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    monday = FIRST_MONDAY
    calendar.save_event(recurring(monday))
    calendar.save_event(
        dtstart=dates.at(monday + timedelta(days=8), 8),
        dtend=dates.at(monday + timedelta(days=8), 9),
        summary="Dentist",
        uid="dentist",
    )
    # The second week holds the EXDATE'd standup (nothing) and the dentist.
    week = calendar.search(
        start=dates.at(monday + timedelta(weeks=1)), end=dates.at(monday + timedelta(weeks=2)), event=True
    )
    assert sorted(e.icalendar_component["UID"] for e in week) == ["dentist"]

    # The third week holds only the moved instance, at 14:00 Paris.
    expanded = calendar.search(
        start=dates.at(monday + timedelta(weeks=2)),
        end=dates.at(monday + timedelta(weeks=3)),
        event=True,
        expand=True,
    )
    instances = [e.icalendar_component for e in expanded]
    assert [str(i["SUMMARY"]) for i in instances] == ["Standup (moved)"]
    assert instances[0]["DTSTART"].dt.astimezone(PARIS).hour == 14

    # A month from three days before the first Monday, expanded: 4 Mondays, one excluded, one moved.
    month = calendar.search(
        start=dates.at(monday - timedelta(days=3)),
        end=dates.at(monday + timedelta(days=28)),
        event=True,
        expand=True,
    )
    starts = sorted(
        e.icalendar_component["DTSTART"].dt.astimezone(PARIS)
        for e in month
        if e.icalendar_component["UID"] == "weekly-standup"
    )
    assert [(s.date(), s.hour) for s in starts] == [
        (monday, 9),
        (monday + timedelta(weeks=2), 14),
        (monday + timedelta(weeks=3), 9),
    ]


def test_dst_crossing_event_keeps_wall_clock_time(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    # Weekly at 09:00 Paris across the next spring change (a Sunday): 08:00 UTC before, 07:00 UTC after.
    change = dates.next_dst_change("Europe/Paris", forward=True)
    monday_before = change - timedelta(days=6)
    calendar.save_event(recurring(monday_before, exdate=False, moved=False))
    found = calendar.search(
        start=dates.at(monday_before), end=dates.at(change + timedelta(days=4)), event=True, expand=True
    )
    utc_hours = sorted(
        (
            e.icalendar_component["DTSTART"].dt.astimezone(UTC).date(),
            e.icalendar_component["DTSTART"].dt.astimezone(UTC).hour,
        )
        for e in found
        if str(e.icalendar_component["SUMMARY"]) == "Standup"
    )
    assert utc_hours == [(monday_before, 8), (monday_before + timedelta(weeks=1), 7)]


def test_etag_conflicts_on_concurrent_edit(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    start = SOON
    event = calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="v1", uid="etag-1")
    url = str(event.url)
    auth = (account.slug, account.token)
    first = requests.get(url, auth=auth, timeout=10)
    etag = first.headers["ETag"]
    body = first.text.replace("SUMMARY:v1", "SUMMARY:v2")
    ok = requests.put(
        url, data=body, auth=auth, headers={"If-Match": etag, "Content-Type": "text/calendar"}, timeout=10
    )
    assert ok.status_code in (201, 204)
    stale = requests.put(
        url,
        data=body.replace("v2", "v3"),
        auth=auth,
        headers={"If-Match": etag, "Content-Type": "text/calendar"},
        timeout=10,
    )
    assert stale.status_code == 412
    create_only = requests.put(
        url, data=body, auth=auth, headers={"If-None-Match": "*", "Content-Type": "text/calendar"}, timeout=10
    )
    assert create_only.status_code == 412
    assert "SUMMARY:v2" in requests.get(url, auth=auth, timeout=10).text


def test_sync_token_reports_only_changes(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    start = SOON
    calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="one", uid="s1")
    keep = calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="two", uid="s2")
    first = calendar.objects_by_sync_token(load_objects=False)
    assert len(list(first)) == 2
    token = first.sync_token

    calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="three", uid="s3")
    keep.delete()
    changed = calendar.objects_by_sync_token(sync_token=token, load_objects=False)
    hrefs = sorted(str(o.url).rsplit("/", 1)[1] for o in changed)
    assert len(hrefs) == 2
    assert any("s3" in h for h in hrefs) and any("s2" in h for h in hrefs)
    assert changed.sync_token != token

    unchanged = calendar.objects_by_sync_token(sync_token=changed.sync_token, load_objects=False)
    assert list(unchanged) == []


def sync_report(calendar: caldav.Calendar, account: Account, token: str) -> requests.Response:
    """A sync-collection REPORT from ``token``, as a client sends it."""
    body = f"""<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""
    return requests.request(
        "REPORT",
        str(calendar.url),
        data=body,
        auth=(account.slug, account.token),
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )


def test_unknown_sync_token_is_refused(live_server: LiveServer, account: Account) -> None:
    response = sync_report(new_calendar(account, live_server), account, "http://caledee.org/ns/sync/999-5")
    assert response.status_code == 403
    assert "valid-sync-token" in response.text


def test_a_deleted_calendars_sync_token_is_refused_by_its_successor(
    live_server: LiveServer, account: Account
) -> None:
    # A client that synced a calendar which was then deleted and made again under the same URL must
    # be told to start over, not handed the new calendar's changes as if it had the ones before.
    principal = client(live_server, account.slug, account.token).principal()
    start = SOON
    old = principal.make_calendar(name="Reused", cal_id="reused")
    for uid in ("old-1", "old-2"):
        old.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary=uid, uid=uid)
    token = old.objects_by_sync_token(load_objects=False).sync_token
    old.delete()

    new = principal.make_calendar(name="Reused", cal_id="reused")
    for uid in ("new-1", "new-2", "new-3", "new-4"):
        new.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary=uid, uid=uid)
    response = sync_report(new, account, token)
    assert response.status_code == 403, response.text
    assert "valid-sync-token" in response.text
    assert sorted(str(o.url).rsplit("/", 1)[1] for o in new.objects_by_sync_token(load_objects=False)) == [
        f"new-{n}.ics" for n in range(1, 5)
    ]


def test_free_busy_query(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server)
    start = SOON
    calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="busy", uid="fb1")
    freebusy = calendar.freebusy_request(dates.at(start.date()), dates.at(start.date() + timedelta(days=1)))
    text = freebusy.data if isinstance(freebusy.data, str) else freebusy.data.decode()
    assert "FREEBUSY" in text and dates.ical_utc(start) in text


def test_delete_event_and_calendar(live_server: LiveServer, account: Account) -> None:
    calendar = new_calendar(account, live_server, name="Temp")
    start = SOON
    event = calendar.save_event(dtstart=start, dtend=start + timedelta(hours=1), summary="bye", uid="d1")
    event.delete()
    assert list(calendar.events()) == []
    calendar.delete()
    principal = client(live_server, account.slug, account.token).principal()
    assert "Temp" not in [c.get_display_name() for c in principal.calendars()]
    with pytest.raises(NotFoundError):
        calendar.events()
