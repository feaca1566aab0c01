"""REST events (/api/v2/calendars/{id}/events, /upcoming, /view) on the live server, against CalDAV
clients and an independent expansion with recurring_ical_events (issue #11, events)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import requests

from caldee_dav import db, store
from caldee_dav.config import Settings
from caldee_dav.models import event_id_for
from tests import dates
from tests.conftest import LiveServer
from tests.scheduling_fixtures import Api, make_event_type, make_schedule, new_api

NEW_YORK = ZoneInfo("America/New_York")
MONDAY = dates.next_weekday(dates.MON, after_days=2)


def calendar_id(api: Api) -> str:
    """The REST id of the account's calendar (read in the database until calendars have a REST API)."""
    with db.read_unit(db.engine_for(api.server.database_url)) as session:
        calendar = store.get_collection(session, f"{api.account.slug}/calendar")
        assert calendar is not None
        return calendar.public_id


class Events:
    """An account's events API on its calendar."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.calendar_id = calendar_id(api)
        self.base = f"/calendars/{self.calendar_id}"

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.api.post(f"{self.base}/events", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def list(self, **params: Any) -> dict[str, Any]:
        response = self.api.get(f"{self.base}/events", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, event_id: str) -> requests.Response:
        return self.api.get(f"{self.base}/events/{event_id}")

    def patch(self, event_id: str, body: dict[str, Any], **headers: str) -> requests.Response:
        return self.api.patch(f"{self.base}/events/{event_id}", json=body, headers=headers)

    def delete(self, event_id: str, mode: str | None = None, **headers: str) -> requests.Response:
        params = {"mode": mode} if mode else {}
        return self.api.delete(f"{self.base}/events/{event_id}", params=params, headers=headers)

    def dav_url(self, uid: str) -> str:
        return f"{self.api.server.dav_url}{self.api.account.slug}/calendar/{uid}.ics"

    def dav(self, method: str, uid: str, text: str | None = None, **headers: str) -> requests.Response:
        auth = (self.api.account.slug, self.api.account.token)
        return requests.request(method, self.dav_url(uid), data=text, auth=auth, headers=headers, timeout=30)

    def dav_calendar(self, uid: str) -> icalendar.Calendar:
        response = self.dav("GET", uid)
        assert response.status_code == 200, response.text
        return icalendar.Calendar.from_ical(response.text)


@pytest.fixture
def events(live_server: LiveServer) -> Events:
    return Events(new_api(live_server, timezone="Europe/Paris"))


def utc(moment: datetime) -> str:
    return dates.api_utc(moment)


# --- create, get, CalDAV ------------------------------------------------------------------------


def test_a_rest_event_is_a_valid_object_for_caldav_clients(events: Events) -> None:
    start = dates.at(MONDAY, 9, zone="America/New_York")
    created = events.create(
        title="Design review",
        start=start.isoformat(),
        end=(start + timedelta(hours=1)).isoformat(),
        timezone="America/New_York",
        location="Room 4",
        description="Bring, the; notes\nplease",
        attendees=["ada@example.com", {"email": "bob@example.com", "name": "Bob"}],
        metadata={"action": "send_email", "nested": {"list": [1, 2, "three,;"]}},
    )
    assert created["id"] == event_id_for(created["uid"]) and not created["uid"].endswith("@caledee")
    assert created["start"] == utc(start) and created["end"] == utc(start + timedelta(hours=1))
    assert (created["timezone"], created["allDay"], created["status"]) == (
        "America/New_York",
        False,
        "confirmed",
    )
    assert created["seriesId"] is None and created["recurrenceId"] is None and created["sequence"] == 0
    assert [(a["email"], a["name"], a["status"]) for a in created["attendees"]] == [
        ("ada@example.com", None, "needs-action"),
        ("bob@example.com", "Bob", "needs-action"),
    ]
    assert created["organizer"]["email"] == events.api.account.email
    got = events.get(created["id"])
    assert got.status_code == 200 and got.json() == created and got.headers["ETag"]
    assert got.json()["metadata"] == {"action": "send_email", "nested": {"list": [1, 2, "three,;"]}}

    # The caldav library finds it; icalendar parses it; it is stored with TZID and SEQUENCE/DTSTAMP.
    dav_event = events.api.calendar().event_by_uid(created["uid"])
    vevent = icalendar.Calendar.from_ical(dav_event.data).walk("VEVENT")[0]
    assert (
        str(vevent["SUMMARY"]) == "Design review"
        and str(vevent["DESCRIPTION"]) == "Bring, the; notes\nplease"
    )
    assert vevent["DTSTART"].params["TZID"] == "America/New_York" and vevent.decoded("DTSTART") == start
    assert int(vevent["SEQUENCE"]) == 0 and "DTSTAMP" in vevent and "CREATED" in vevent
    assert "X-CALEDEE-METADATA" in vevent


def test_create_answers_201_with_location_and_snake_case_input(events: Events) -> None:
    response = events.api.post(
        f"{events.base}/events",
        json={"title": "Holiday", "start": MONDAY.isoformat(), "end": MONDAY.isoformat(), "all_day": True},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v2{events.base}/events/{body['id']}"
    # A naive time is read in the calendar's zone (the owner's here: Europe/Paris).
    naive = events.create(title="Local", start=f"{MONDAY}T09:00:00", end=f"{MONDAY}T10:00:00")
    assert naive["timezone"] == "Europe/Paris" and naive["start"] == utc(
        dates.at(MONDAY, 9, zone="Europe/Paris")
    )


def test_all_day_end_is_inclusive_and_dtend_is_the_day_after(events: Events) -> None:
    last = MONDAY + timedelta(days=2)
    created = events.create(title="Offsite", start=MONDAY.isoformat(), end=last.isoformat(), allDay=True)
    assert (created["start"], created["end"], created["allDay"]) == (
        MONDAY.isoformat(),
        last.isoformat(),
        True,
    )
    vevent = events.dav_calendar(created["uid"]).walk("VEVENT")[0]
    assert vevent.decoded("DTSTART") == MONDAY and vevent.decoded("DTEND") == MONDAY + timedelta(days=3)
    window = {"start": utc(dates.at(MONDAY)), "end": utc(dates.at(MONDAY + timedelta(days=7)))}
    assert [e["title"] for e in events.list(**window)["data"]] == ["Offsite"]


def test_a_caldav_event_patched_over_rest(events: Events) -> None:
    uid = f"dav-{events.api.account.slug}"
    start = dates.at(MONDAY, 14)
    events.api.calendar().save_event(
        dtstart=start, dtend=start + timedelta(hours=1), summary="From DAV", uid=uid
    )
    before = events.dav("GET", uid)
    event_id = event_id_for(uid)
    got = events.get(event_id).json()
    assert (got["title"], got["metadata"], got["start"]) == ("From DAV", {}, utc(start))

    patched = events.patch(event_id, {"title": "Renamed", "location": "Here", "metadata": {"a": 1}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Renamed" and patched.json()["sequence"] == got["sequence"]
    after = events.dav("GET", uid)
    assert after.headers["ETag"] != before.headers["ETag"]
    vevent = icalendar.Calendar.from_ical(after.text).walk("VEVENT")[0]
    assert (str(vevent["SUMMARY"]), str(vevent["LOCATION"])) == ("Renamed", "Here")
    assert vevent.decoded("DTSTART") == start  # untouched fields stay as the client wrote them

    moved = events.patch(event_id, {"start": utc(start + timedelta(hours=1))})
    assert moved.status_code == 200 and moved.json()["sequence"] == got["sequence"] + 1
    assert moved.json()["end"] == utc(start + timedelta(hours=2))  # a new start keeps the duration


def test_a_floating_caldav_event_reads_in_the_calendars_zone(events: Events) -> None:
    uid = f"floating-{events.api.account.slug}"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{dates.ical_local(MONDAY, 8)}\r\n"
        f"DURATION:PT30M\r\nSUMMARY:Floating\r\nX-ODD;FOO=bar:baz\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert events.dav("PUT", uid, text, **{"Content-Type": "text/calendar"}).status_code == 201
    got = events.get(event_id_for(uid)).json()
    paris = dates.at(MONDAY, 8, zone="Europe/Paris")
    assert (got["start"], got["end"], got["timezone"]) == (
        utc(paris),
        utc(paris + timedelta(minutes=30)),
        "Europe/Paris",
    )
    assert got["status"] == "confirmed" and got["sequence"] == 0 and got["attendees"] == []
    assert events.patch(got["id"], {"title": "Renamed"}).status_code == 200
    kept = events.dav("GET", uid).text
    assert "X-ODD;FOO=bar:baz" in kept and f"DTSTART:{dates.ical_local(MONDAY, 8)}" in kept  # still floating


# --- recurring series ---------------------------------------------------------------------------


def expanded_over_caldav(events: Events, uid: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
    calendar = events.dav_calendar(uid)
    instances = recurring_ical_events.of(calendar).between(start, end)
    found = [(utc(i.decoded("DTSTART")), str(i["SUMMARY"])) for i in instances]
    return sorted(found)


def test_series_exceptions_and_deletes_match_an_independent_expansion(events: Events) -> None:
    start = dates.at(MONDAY, 9, zone="America/New_York")
    series = events.create(
        title="Weekly",
        start=start.isoformat(),
        end=(start + timedelta(hours=1)).isoformat(),
        timezone="America/New_York",
        recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )
    assert set(series["recurrence"].split(";")) == {"FREQ=WEEKLY", "BYDAY=MO", "COUNT=10"}
    window = {"start": utc(start - timedelta(days=1)), "end": utc(start + timedelta(days=100))}
    listed = events.list(**window)["data"]
    assert len(listed) == 10 and {e["seriesId"] for e in listed} == {series["id"]}
    assert listed[1]["id"] == f"{series['id']}_{dates.ical_utc(start + timedelta(weeks=1))}"
    assert listed[1]["recurrenceId"] == utc(start + timedelta(weeks=1)) and not listed[1]["isException"]

    # Move the second occurrence by a day, cancel the third, then end the series before the seventh.
    moved_to = start + timedelta(weeks=1, days=1, hours=2)
    patched = events.patch(listed[1]["id"], {"start": moved_to.isoformat(), "title": "Moved"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["isException"] and patched.json()["start"] == utc(moved_to)
    assert events.patch(listed[1]["id"], {"recurrence": "FREQ=DAILY"}).status_code == 400
    assert events.delete(listed[2]["id"]).status_code == 204
    assert events.get(listed[2]["id"]).status_code == 404
    assert events.delete(listed[6]["id"], mode="future").status_code == 204

    listed = events.list(**window)["data"]
    assert [(e["start"], e["title"]) for e in listed] == expanded_over_caldav(
        events, series["uid"], datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    )
    assert len(listed) == 5 and [e["isException"] for e in listed] == [False, True, False, False, False]
    master = events.get(series["id"]).json()
    assert master["recurrence"].startswith("FREQ=WEEKLY;UNTIL=") and master["sequence"] == 2

    # Deleting "this and following" from the first occurrence deletes the whole event.
    assert events.delete(listed[0]["id"], mode="future").status_code == 204
    assert events.get(series["id"]).status_code == 404
    assert events.dav("GET", series["uid"]).status_code == 404


def test_a_new_york_series_stays_at_nine_across_both_dst_changes(events: Events) -> None:
    for forward in (True, False):
        change = dates.next_dst_change("America/New_York", forward=forward)
        first = change - timedelta(days=14)
        start = dates.at(first, 9, zone="America/New_York")
        series = events.create(
            title=f"DST {forward}",
            start=f"{first}T09:00:00",
            end=f"{first}T09:30:00",
            timezone="America/New_York",
            rrule="FREQ=WEEKLY;COUNT=5",
        )
        listed = events.list(start=utc(start - timedelta(hours=1)), end=utc(start + timedelta(days=40)))[
            "data"
        ]
        mine = [e for e in listed if e["seriesId"] == series["id"]]
        local = [datetime.fromisoformat(e["start"]).astimezone(NEW_YORK) for e in mine]
        assert len(local) == 5 and {(t.hour, t.minute) for t in local} == {(9, 0)}
        assert len({datetime.fromisoformat(e["start"]).utcoffset() for e in mine}) == 1  # all in UTC ("Z")
        assert len({t.utcoffset() for t in local}) == 2  # the UTC time moved with the clocks


def test_moving_a_series_keeps_its_exceptions_and_cancellations(events: Events) -> None:
    start = dates.at(MONDAY, 9)
    series = events.create(
        title="S", start=utc(start), end=utc(start + timedelta(hours=1)), recurrence="FREQ=DAILY;COUNT=5"
    )
    window = {"start": utc(start - timedelta(days=1)), "end": utc(start + timedelta(days=10))}
    listed = events.list(**window)["data"]
    assert events.patch(listed[1]["id"], {"title": "Special"}).status_code == 200
    deleted = events.delete(listed[2]["id"], mode="single")
    assert deleted.status_code == 204, deleted.text
    moved = events.patch(series["id"], {"start": utc(start + timedelta(hours=3))})
    assert moved.status_code == 200, moved.text
    listed = events.list(**window)["data"]
    assert [e["title"] for e in listed] == ["S", "Special", "S", "S"]
    assert {datetime.fromisoformat(e["start"]).hour for e in listed} == {12}
    new_rule = events.patch(series["id"], {"recurrence": "FREQ=DAILY;COUNT=7", "title": "Renamed"})
    assert new_rule.status_code == 200
    assert [e["title"] for e in events.list(**window)["data"]] == ["Renamed", "Special", *["Renamed"] * 4]


def test_instances_beyond_the_indexing_horizon_are_listed(events: Events) -> None:
    start = dates.at(MONDAY, 7)
    series = events.create(
        title="Daily", start=utc(start), end=utc(start + timedelta(minutes=15)), recurrence="FREQ=DAILY"
    )
    far = dates.at(dates.days_ahead(800), 0)  # the index holds 730 days
    listed = events.list(start=utc(far), end=utc(far + timedelta(days=3)))["data"]
    assert [e["start"] for e in listed] == [utc(far + timedelta(days=d, hours=7)) for d in range(3)]
    one = events.get(listed[1]["id"])
    assert one.status_code == 200 and one.json()["seriesId"] == series["id"]


def test_a_series_of_100000_instances_lists_a_page_quickly(events: Events) -> None:
    start = dates.at(MONDAY, 0)
    events.create(
        title="Busy",
        start=utc(start),
        end=utc(start + timedelta(seconds=30)),
        recurrence="FREQ=MINUTELY;COUNT=100000",
    )
    began = time.monotonic()
    page = events.list(start=utc(start + timedelta(days=30)), limit=200)
    assert len(page["data"]) == 200 and page["nextCursor"]
    second = events.list(start=utc(start + timedelta(days=30)), limit=200, cursor=page["nextCursor"])
    assert second["data"][0]["start"] == utc(start + timedelta(days=30, minutes=200))
    assert time.monotonic() - began < 5


def test_pages_by_cursor_and_offset_and_status_filter(events: Events) -> None:
    start = dates.at(MONDAY, 10)
    events.create(
        title="A", start=utc(start), end=utc(start + timedelta(hours=1)), recurrence="FREQ=DAILY;COUNT=4"
    )
    events.create(title="B", start=utc(start), end=utc(start + timedelta(hours=1)), status="tentative")
    window = {"start": utc(start - timedelta(hours=1)), "end": utc(start + timedelta(days=5))}
    everything = events.list(**window)["data"]
    assert len(everything) == 5
    first = events.list(**window, limit=2)
    second = events.list(**window, limit=2, cursor=first["nextCursor"])
    third = events.list(**window, limit=2, cursor=second["nextCursor"])
    assert [e["id"] for e in first["data"] + second["data"] + third["data"]] == [e["id"] for e in everything]
    assert third["nextCursor"] is None
    assert [e["id"] for e in events.list(**window, limit=2, offset=2)["data"]] == [
        e["id"] for e in everything[2:4]
    ]
    assert [e["title"] for e in events.list(**window, status="tentative")["data"]] == ["B"]
    too_wide = events.api.get(
        f"{events.base}/events", params={"start": window["start"], "end": utc(start + timedelta(days=400))}
    )
    assert too_wide.status_code == 400 and too_wide.json()["details"][0]["path"] == ["end"]


# --- respond, upcoming, view --------------------------------------------------------------------


def test_respond_sets_the_owners_partstat(events: Events) -> None:
    start = dates.at(MONDAY, 16)
    invited = events.create(
        title="Invite",
        start=utc(start),
        end=utc(start + timedelta(hours=1)),
        attendees=[events.api.account.email.upper()],
    )
    answered = events.api.post(f"{events.base}/events/{invited['id']}/respond", json={"response": "accepted"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["attendees"][0]["status"] == "accepted"
    vevent = events.dav_calendar(invited["uid"]).walk("VEVENT")[0]
    assert vevent["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"

    alone = events.create(
        title="Mine", start=utc(start), end=utc(start + timedelta(hours=1)), attendees=["x@example.com"]
    )
    refused = events.api.post(f"{events.base}/events/{alone['id']}/respond", json={"response": "declined"})
    assert refused.status_code == 409 and "not invited" in refused.json()["message"]
    bad = events.api.post(f"{events.base}/events/{invited['id']}/respond", json={"response": "maybe"})
    assert bad.status_code == 400 and bad.json()["details"][0]["path"] == ["response"]


def test_respond_on_one_occurrence_by_the_inbound_address(events: Events, live_server: LiveServer) -> None:
    inbound = f"cal-{events.calendar_id.removeprefix('cal_')}@"
    start = dates.at(MONDAY, 8)
    uid = f"inv-{events.api.account.slug}"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{dates.ical_utc(start)}\r\n"
        f"DTEND:{dates.ical_utc(start + timedelta(hours=1))}\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
        "SUMMARY:Invited\r\n"
        "ORGANIZER:mailto:boss@example.com\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:MAILTO:{address}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    address = inbound + str(Settings.model_fields["mail_domain"].default)  # the test server's (the default)
    response = events.dav("PUT", uid, text.replace("{address}", address), **{"Content-Type": "text/calendar"})
    assert response.status_code == 201
    occurrence = f"{event_id_for(uid)}_{dates.ical_utc(start + timedelta(days=1))}"
    answered = events.api.post(f"{events.base}/events/{occurrence}/respond", json={"response": "tentative"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["isException"] and body["attendees"][0]["status"] == "tentative"
    window = {"start": utc(start - timedelta(hours=1)), "end": utc(start + timedelta(days=3))}
    assert [e["attendees"][0]["status"] for e in events.list(**window)["data"]] == [
        "needs-action",
        "tentative",
        "needs-action",
    ]


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    assert match and text not in ("P", "PT"), text
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def test_upcoming_says_how_long_until_the_next_event(events: Events) -> None:
    empty = events.api.get(f"{events.base}/upcoming").json()
    assert empty == {"data": [], "nextEventStartsIn": None}
    soon = dates.now().replace(microsecond=0) + timedelta(days=2, hours=3)
    events.create(title="Later", start=utc(soon + timedelta(hours=5)), end=utc(soon + timedelta(hours=6)))
    events.create(title="Soon", start=utc(soon), end=utc(soon + timedelta(hours=1)))
    events.create(title="Off", start=utc(soon), end=utc(soon + timedelta(hours=1)), status="cancelled")
    body = events.api.get(f"{events.base}/upcoming", params={"limit": 5}).json()
    assert [e["title"] for e in body["data"]] == ["Soon", "Later"]
    waited = parse_duration(body["nextEventStartsIn"])
    assert timedelta(days=2, hours=2, minutes=59) <= waited <= timedelta(days=2, hours=3)
    assert body["nextEventStartsIn"].startswith("P2DT")
    assert events.api.get(f"{events.base}/upcoming", params={"limit": 51}).status_code == 400


def test_view_is_a_plain_text_table_in_the_calendars_zone(events: Events) -> None:
    start = dates.at(MONDAY, 9, zone="Europe/Paris")
    events.create(
        title="A title far longer than the column of titles in the view",
        start=utc(start),
        end=utc(start + timedelta(hours=1)),
    )
    response = events.api.get(f"{events.base}/view")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.text.splitlines()
    assert lines[0] == f"Calendar ({events.calendar_id})  tz: Europe/Paris"
    assert lines[2].split() == ["TITLE", "START", "END", "STATUS"]
    row = lines[4]
    assert (
        row.startswith("A title far longer than the c…")
        and f"{MONDAY} 09:00" in row
        and f"{MONDAY} 10:00" in row
    )
    assert row.rstrip().endswith("confirmed") and lines[-1] == "1 event(s)"


# --- bookings, other people, bad input, stale writes ---------------------------------------------


def test_deleting_a_bookings_event_over_rest_cancels_the_booking(live_server: LiveServer) -> None:
    api = new_api(live_server)
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    booked = api.book(event_type["id"], utc(dates.at(MONDAY, 11)))
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    events = Events(api)
    event_id = event_id_for(booking["uid"])
    assert events.patch(event_id, {"description": "agenda"}).status_code == 200
    assert api.get(f"/bookings/{booking['id']}").json()["status"] == "active"
    assert events.delete(event_id).status_code == 204
    after = api.get(f"/bookings/{booking['id']}").json()
    assert after["status"] == "canceled" and after["canceledBy"] == api.account.email


def test_other_peoples_calendars_and_events_are_404(live_server: LiveServer) -> None:
    owner, stranger = Events(new_api(live_server)), Events(new_api(live_server))
    start = dates.at(MONDAY, 9)
    event = owner.create(title="Private", start=utc(start), end=utc(start + timedelta(hours=1)))
    stranger.base = owner.base
    assert stranger.get(event["id"]).status_code == 404
    assert stranger.patch(event["id"], {"title": "x"}).status_code == 404
    assert stranger.delete(event["id"]).status_code == 404
    assert stranger.api.get(f"{owner.base}/events").status_code == 404
    assert stranger.api.get(f"{owner.base}/upcoming").status_code == 404
    # Another calendar's event through one's own calendar: 404 too.
    mine = Events(stranger.api)
    assert mine.get(event["id"]).status_code == 404
    assert mine.get("ev_nope_20270101").status_code == 404


TIMED = {"title": "T", "start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**TIMED, "recurrence": "FREQ=WEEKLY;BYSOMETHING=1"}, ["recurrence"]),
        ({**TIMED, "rrule": "BYDAY=MO;COUNT=3"}, ["recurrence"]),
        ({**TIMED, "recurrence": "FREQ=SECONDLY"}, ["recurrence"]),
        ({**TIMED, "end": "2030-01-07T08:00:00Z"}, ["end"]),
        ({**TIMED, "allDay": True}, ["start"]),
        ({**TIMED, "start": "2030-01-07"}, ["end"]),  # the start makes it all-day: the end's time is wrong
        ({**TIMED, "allDay": False, "start": "2030-01-07"}, ["start"]),
        ({**TIMED, "timezone": "Mars/Olympus"}, ["timezone"]),
        ({**TIMED, "metadata": {"blob": "x" * 17_000}}, ["metadata"]),
        ({**TIMED, "metadata": [1, 2]}, ["metadata"]),
        ({**TIMED, "colour": "red"}, ["colour"]),
        ({**TIMED, "title": 5}, ["title"]),
        ({**TIMED, "title": "x" * 1025}, ["title"]),
        ({**TIMED, "status": "maybe"}, ["status"]),
        ({**TIMED, "attendees": ["not-an-email"]}, ["attendees", "0", "email"]),
        ({**TIMED, "attendees": [f"p{i}@example.com" for i in range(101)]}, ["attendees"]),
        ({"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"}, ["title"]),
        # PostgreSQL text cannot hold NUL: these were 500s there. Other controls are not iCalendar TEXT.
        ({**TIMED, "title": "a\x00b"}, ["title"]),
        ({**TIMED, "metadata": {"note": "a\x00b"}}, ["metadata", "note"]),
        ({**TIMED, "attendees": [{"email": "a@example.com", "name": "A\x00"}]}, ["attendees", "0", "name"]),
        ({**TIMED, "description": "ring \x07"}, ["description"]),
        ({**TIMED, "attendees": [{"email": "a@example.com", "name": "A\nB"}]}, ["attendees", "0", "name"]),
        # At datetime's own limits date arithmetic overflows: these were 500s.
        ({**TIMED, "start": "9999-12-31T22:00:00Z", "end": "9999-12-31T23:00:00Z"}, ["start"]),
        ({**TIMED, "start": "0001-01-01T00:00:00Z"}, ["start"]),
        ({**TIMED, "allDay": True, "start": "9999-12-31", "end": "9999-12-31"}, ["end"]),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    events: Events, body: dict, path: list[str]
) -> None:
    response = events.api.post(f"{events.base}/events", json=body)
    assert response.status_code == 400, response.text
    assert path in [d["path"] for d in response.json()["details"]], response.json()
    assert events.list(start="2030-01-01T00:00:00Z", end="2030-02-01T00:00:00Z")["data"] == []


@pytest.mark.parametrize(
    "query", ["start=0001-01-01T00:00:00Z&end=0001-02-01T00:00:00Z", "start=9999-12-01T00:00:00Z"]
)
def test_a_window_at_the_limits_of_time_is_400(events: Events, query: str) -> None:
    response = events.api.get(f"{events.base}/events?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["code"] == "out_of_range"


def test_an_occurrence_id_at_the_limits_of_time_is_404(events: Events) -> None:
    start = dates.at(MONDAY, 9)
    series = events.create(
        title="Daily", start=utc(start), end=utc(start + timedelta(hours=1)), recurrence="FREQ=DAILY"
    )
    for key in ("99991231T090000Z", "00010101", "99991231"):
        assert events.api.get(f"{events.base}/events/{series['id']}_{key}").status_code == 404


def test_bad_patch_and_delete_change_nothing(events: Events) -> None:
    start = dates.at(MONDAY, 9)
    event = events.create(title="Keep", start=utc(start), end=utc(start + timedelta(hours=1)))
    before = events.dav("GET", event["uid"]).headers["ETag"]
    for body, path in [
        ({"end": utc(start - timedelta(hours=1))}, ["end"]),
        ({"title": None}, ["title"]),
        ({"recurrence": "FREQ=NEVER"}, ["recurrence"]),
        ({"start": MONDAY.isoformat()}, ["start"]),
    ]:
        response = events.patch(event["id"], body)
        assert response.status_code == 400 and path in [d["path"] for d in response.json()["details"]], (
            response.text
        )
    assert events.delete(event["id"], mode="sometimes").status_code == 400
    assert events.dav("GET", event["uid"]).headers["ETag"] == before


def test_a_stale_if_match_is_412_and_writes_nothing(events: Events) -> None:
    start = dates.at(MONDAY, 9)
    event = events.create(title="Shared", start=utc(start), end=utc(start + timedelta(hours=1)))
    etag = events.get(event["id"]).headers["ETag"]
    calendar = events.dav_calendar(event["uid"])
    calendar.walk("VEVENT")[0]["SUMMARY"] = icalendar.vText("Changed in a CalDAV client")
    put = events.dav(
        "PUT",
        event["uid"],
        calendar.to_ical().decode(),
        **{"If-Match": etag, "Content-Type": "text/calendar"},
    )
    assert put.status_code == 204, put.text
    stale = events.patch(event["id"], {"title": "Mine"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert events.delete(event["id"], **{"If-Match": etag}).status_code == 412
    assert events.get(event["id"]).json()["title"] == "Changed in a CalDAV client"
    fresh = events.get(event["id"]).headers["ETag"]
    assert events.patch(event["id"], {"title": "Mine"}, **{"If-Match": fresh}).status_code == 200


def test_every_route_needs_the_calendar_scopes(live_server: LiveServer) -> None:
    from tests.conftest import create_account
    from tests.scheduling_fixtures import api_for

    reader = Events(api_for(live_server, create_account(live_server.database_url, scopes=["read:calendars"])))
    start = dates.at(MONDAY, 9)
    assert (
        reader.api.post(
            f"{reader.base}/events", json={"title": "x", "start": utc(start), "end": utc(start)}
        ).status_code
        == 403
    )
    assert reader.api.get(f"{reader.base}/events").status_code == 200
