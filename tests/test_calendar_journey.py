"""One store, seen from every side, through public surfaces only: an agent makes a calendar and its
events over REST, a subscriber reads them from the feed URL the create answer gave, a CalDAV client
edits one, and the feed and REST both show the edit; rotation kills the old feed URLs at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import caldav
import icalendar
import recurring_ical_events
import requests

from tests import dates
from tests.conftest import LiveServer, create_account
from tests.scheduling_fixtures import api_for

ZONE = "America/New_York"


def _feed(url: str) -> icalendar.Calendar:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def _starts(calendar: icalendar.Calendar, start: datetime, end: datetime) -> dict[str, list[datetime]]:
    """Every occurrence's start in UTC by title, from an independent expansion."""
    found: dict[str, list[datetime]] = {}
    for event in recurring_ical_events.of(calendar).between(start, end):
        moment = event.decoded("DTSTART")
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC)
        found.setdefault(str(event["SUMMARY"]), []).append(moment)
    return {title: sorted(times, key=str) for title, times in found.items()}


def test_rest_calendar_events_reach_the_feed_caldav_and_back(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, calendar=False)
    api = api_for(live_server, account)
    created = api.post("/calendars", json={"name": "Agent plans", "timezone": ZONE})
    assert created.status_code == 201, created.text
    calendar = created.json()
    assert calendar["webcalUrl"].startswith("webcal://")
    base = f"/calendars/{calendar['id']}/events"

    monday = dates.next_weekday(dates.MON, after_days=3)
    nine = dates.at(monday, 9, zone=ZONE)
    standup = api.post(
        base,
        json={
            "title": "Standup",
            "start": nine.replace(tzinfo=None).isoformat(),
            "end": (nine + timedelta(minutes=15)).replace(tzinfo=None).isoformat(),
            "timezone": ZONE,
            "recurrence": "FREQ=WEEKLY;COUNT=6",
            "description": "Daily plans",
        },
    ).json()
    offsite = api.post(
        base,
        json={
            "title": "Offsite",
            "start": (monday + timedelta(days=2)).isoformat(),
            "end": (monday + timedelta(days=3)).isoformat(),
            "allDay": True,
        },
    ).json()
    # The second standup moves to 11:00, the third is cancelled, the fifth ends the series.
    second = f"{standup['id']}_{(nine + timedelta(weeks=1)).astimezone(UTC):%Y%m%dT%H%M%SZ}"
    third = f"{standup['id']}_{(nine + timedelta(weeks=2)).astimezone(UTC):%Y%m%dT%H%M%SZ}"
    fifth = f"{standup['id']}_{(nine + timedelta(weeks=4)).astimezone(UTC):%Y%m%dT%H%M%SZ}"
    moved = (nine + timedelta(weeks=1, hours=2)).astimezone(UTC)
    assert api.patch(f"{base}/{second}", json={"start": moved.isoformat()}).status_code == 200
    assert api.delete(f"{base}/{third}", params={"mode": "single"}).status_code == 204
    assert api.delete(f"{base}/{fifth}", params={"mode": "future"}).status_code == 204

    window = (nine - timedelta(days=1), nine + timedelta(weeks=8))
    expected_standups = [nine.astimezone(UTC), moved, (nine + timedelta(weeks=3)).astimezone(UTC)]
    listed = api.get(base, params={"start": window[0].isoformat(), "end": window[1].isoformat()}).json()
    assert [e["start"] for e in listed["data"] if e["title"] == "Standup"] == [
        t.isoformat().replace("+00:00", "Z") for t in expected_standups
    ]

    # The feed the create answer named holds exactly that, in UTC, with the all-day event's days.
    feed = _feed(calendar["feedUrl"])
    assert str(feed["X-WR-CALNAME"]) == "Agent plans"
    assert str(feed["X-WR-TIMEZONE"]) == ZONE
    starts = _starts(feed, *window)
    assert starts["Standup"] == expected_standups
    assert starts["Offsite"] == [monday + timedelta(days=2)]
    (offsite_event,) = [e for e in feed.walk("VEVENT") if str(e["SUMMARY"]) == "Offsite"]
    assert offsite_event.decoded("DTEND") == monday + timedelta(days=4)  # "end" was inclusive
    busy = requests.get(calendar["busyFeedUrl"], timeout=30)
    assert busy.status_code == 200
    assert b"Standup" not in busy.content and b"Daily plans" not in busy.content
    busy_starts = _starts(icalendar.Calendar.from_ical(busy.content), *window)
    assert list(busy_starts) == ["Busy"] and len(busy_starts["Busy"]) == len(expected_standups) + 1

    # A CalDAV client renames the all-day event; REST and the feed both show it.
    client = caldav.DAVClient(url=live_server.url + "/", username=account.slug, password=account.token)
    dav_calendar = client.calendar(url=calendar["caldavUrl"])
    dav_event = dav_calendar.event_by_uid(offsite["uid"])
    dav_event.icalendar_component["SUMMARY"] = "Offsite (Lisbon)"
    dav_event.save()
    assert api.get(f"{base}/{offsite['id']}").json()["title"] == "Offsite (Lisbon)"
    assert "Offsite (Lisbon)" in _starts(_feed(calendar["feedUrl"]), *window)

    # New tokens: the old URLs are dead at once, with the same 404 as an unknown calendar.
    rotated = api.post(f"/calendars/{calendar['id']}/feed-token").json()
    for old in (calendar["feedUrl"], calendar["busyFeedUrl"]):
        gone = requests.get(old, timeout=30)
        unknown = requests.get(old.replace(calendar["id"], "cal_0000000000000000"), timeout=30)
        assert gone.status_code == unknown.status_code == 404
        assert gone.content == unknown.content
    assert "Standup" in _starts(_feed(rotated["feedUrl"]), *window)

    # Deleting the calendar deletes its events and its feed.
    assert api.delete(f"/calendars/{calendar['id']}").status_code == 204
    assert requests.get(rotated["feedUrl"], timeout=30).status_code == 404
