"""Bookings and the hosts' calendars, on the live server (issue #10 items 8 and 9):

* a booking keeps the buffers of its own event type around it, whatever event type is asked for next
  (item 8);
* the calendar is the source of truth: deleting a booking's event from a CalDAV client, or marking it
  STATUS:CANCELLED, cancels the booking; moving it reschedules the booking, or is refused with 403
  when the new time is not free (item 9).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import icalendar
import requests

from tests import dates
from tests.conftest import LiveServer, create_account
from tests.scheduling_fixtures import (
    Api,
    api_for,
    local_times,
    make_event_type,
    make_schedule,
    make_team,
    new_api,
)

# A Monday at least two days ahead of the clock: every time below is in the future.
MONDAY_DATE = dates.next_weekday(dates.MON, after_days=2)
MONDAY = MONDAY_DATE.isoformat()
TUESDAY = (MONDAY_DATE + timedelta(days=1)).isoformat()


def at(hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` UTC on MONDAY."""
    return dates.at(MONDAY_DATE, hour, minute)


def booked(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def monday_times(api: Api, event_type: dict[str, Any]) -> list[str]:
    return local_times(api.slots(event_type["id"], MONDAY, TUESDAY, tz="UTC"), MONDAY)


# --- item 8: the buffers of existing bookings ---------------------------------------------------


def test_a_bookings_own_buffers_widen_its_busy_time_for_every_event_type(live_server: LiveServer) -> None:
    api = new_api(live_server)
    make_schedule(api, "UTC")
    plain = make_event_type(api, durationsMin=[30])
    padded_after = make_event_type(api, durationsMin=[30], bufferAfterMin=10)
    padded_before = make_event_type(api, durationsMin=[30], bufferBeforeMin=15)
    booked(api.book(padded_after["id"], dates.api_utc(at(14)), duration=30))
    booked(api.book(padded_before["id"], dates.api_utc(at(11)), duration=30))

    # The example: a booking 14:00-14:30 whose type has bufferAfterMin 10 keeps 14:30-14:40
    # busy, so no event type offers 14:30, its own included; 15:00 is free again. Likewise the
    # 11:00 booking's 15 minutes before it take 10:30 away; 10:00 stays.
    for asked in (plain, padded_after):
        times = monday_times(api, asked)
        assert "14:30" not in times and "15:00" in times, asked["name"]
        assert "10:30" not in times and "10:00" in times, asked["name"]
    refused = api.book(plain["id"], dates.api_utc(at(14, 30)), duration=30)
    assert refused.status_code == 409, refused.text

    # The opposite: the asked type's buffers keep their distance from a booking without any. The
    # plain booking at 16:00 leaves 15:30 to the plain type, not to one needing 10 minutes after.
    booked(api.book(plain["id"], dates.api_utc(at(16)), duration=30))
    assert "15:30" in monday_times(api, plain)
    assert "15:30" not in monday_times(api, padded_after) and "16:30" in monday_times(api, padded_after)


def test_buffers_of_a_canceled_booking_free_nothing_more(live_server: LiveServer) -> None:
    api = new_api(live_server)
    make_schedule(api, "UTC")
    plain = make_event_type(api, durationsMin=[30])
    padded = make_event_type(api, durationsMin=[30], bufferBeforeMin=30, bufferAfterMin=30)
    booking = booked(api.book(padded["id"], dates.api_utc(at(12)), duration=30))
    times = monday_times(api, plain)
    assert "11:30" not in times and "12:30" not in times and "11:00" in times and "13:00" in times
    assert api.delete(f"/bookings/{booking['id']}").status_code == 200
    assert {"11:30", "12:00", "12:30"} <= set(monday_times(api, plain))


# --- item 9: the calendar is the source of truth -------------------------------------------------


def event_url(api: Api, uid: str) -> str:
    return f"{api.server.dav_url}{api.account.slug}/calendar/{uid}.ics"


def dav(api: Api, method: str, url: str, text: str | None = None, **headers: str) -> requests.Response:
    auth = (api.account.slug, api.account.token)
    return requests.request(method, url, data=text, auth=auth, headers=headers, timeout=30)


def edited(text: str, **changes: Any) -> str:
    """The booking's event with properties replaced (``dtstart=...``, ``status="CANCELLED"``) or
    removed (``dtend=None``)."""
    calendar = icalendar.Calendar.from_ical(text)
    event = next(c for c in calendar.walk("VEVENT"))
    for name, value in changes.items():
        event.pop(name.upper(), None)
        if value is not None:
            event.add(name, value)
    return calendar.to_ical().decode()


def host_with_booking(server: LiveServer, hour: int = 10) -> tuple[Api, dict[str, Any], dict[str, Any]]:
    api = new_api(server)
    make_schedule(api, "UTC")
    event_type = make_event_type(api, durationsMin=[60, 30], slotIntervalMin=30)
    booking = booked(api.book(event_type["id"], dates.api_utc(at(hour)), duration=60))
    return api, event_type, booking


def test_deleting_the_event_in_a_calendar_client_cancels_the_booking(live_server: LiveServer) -> None:
    api, event_type, booking = host_with_booking(live_server)
    assert "10:00" not in monday_times(api, event_type)

    api.calendar().event_by_uid(booking["uid"]).delete()  # what Apple Calendar's delete sends

    after = api.get(f"/bookings/{booking['id']}").json()
    assert after["status"] == "canceled" and after["canceledBy"] == api.account.email
    assert after["canceledAt"] and after["cancelReason"]
    assert "10:00" in monday_times(api, event_type)
    assert dav(api, "GET", event_url(api, booking["uid"])).status_code == 404
    assert booked(api.book(event_type["id"], dates.api_utc(at(10)), duration=60))["id"] != booking["id"]


def test_deleting_the_whole_calendar_cancels_its_bookings(live_server: LiveServer) -> None:
    api, event_type, booking = host_with_booking(live_server)
    other = booked(api.book(event_type["id"], dates.api_utc(at(14)), duration=60))

    api.calendar().delete()  # the host deletes the whole calendar in a client

    for made in (booking, other):
        after = api.get(f"/bookings/{made['id']}").json()
        assert after["status"] == "canceled" and after["canceledBy"] == api.account.email
    times = monday_times(api, event_type)
    assert "10:00" in times and "14:00" in times


def test_a_cancelled_status_cancels_the_booking(live_server: LiveServer) -> None:
    api, event_type, booking = host_with_booking(live_server)
    url = event_url(api, booking["uid"])
    current = dav(api, "GET", url)
    changed = edited(current.text, status="CANCELLED")

    # Only the hosts' calendars speak for a booking: the same event in a stranger's calendar, cancelled
    # or deleted there, is just an event.
    stranger = new_api(live_server)
    elsewhere = event_url(stranger, booking["uid"])
    assert dav(stranger, "PUT", elsewhere, changed).status_code == 201
    assert dav(stranger, "DELETE", elsewhere).status_code == 200
    assert api.get(f"/bookings/{booking['id']}").json()["status"] == "active"

    stored = dav(api, "PUT", url, changed, **{"If-Match": current.headers["ETag"]})
    assert stored.status_code == 204, stored.text

    after = api.get(f"/bookings/{booking['id']}").json()
    assert after["status"] == "canceled" and after["canceledBy"] == api.account.email
    assert "10:00" in monday_times(api, event_type)
    # The client's own version stays in its calendar, under the ETag it was given.
    again = dav(api, "GET", url)
    assert again.headers["ETag"] == stored.headers["ETag"]
    assert str(icalendar.Calendar.from_ical(again.text).walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


def test_moving_the_event_to_a_free_time_reschedules_the_booking(live_server: LiveServer) -> None:
    api, event_type, booking = host_with_booking(live_server)
    url = event_url(api, booking["uid"])
    current = dav(api, "GET", url)

    moved = dav(api, "PUT", url, edited(current.text, dtstart=at(13), dtend=at(13, 30)))
    assert moved.status_code == 204, moved.text

    after = api.get(f"/bookings/{booking['id']}").json()
    assert (after["startAt"], after["endAt"], after["durationMin"]) == (
        dates.api_utc(at(13)),
        dates.api_utc(at(13, 30)),
        30,
    )
    assert after["status"] == "active"
    times = monday_times(api, event_type)
    assert "10:00" in times and "13:00" not in times
    assert dav(api, "GET", url).headers["ETag"] == moved.headers["ETag"]

    # An edit that moves nothing (a new title) is stored and leaves the booking as it is.
    renamed = dav(api, "PUT", url, edited(dav(api, "GET", url).text, summary="Call Ada"))
    assert renamed.status_code == 204
    assert api.get(f"/bookings/{booking['id']}").json() == after
    assert "SUMMARY:Call Ada" in dav(api, "GET", url).text


def test_moving_the_event_onto_busy_time_is_refused(live_server: LiveServer) -> None:
    api, event_type, booking = host_with_booking(live_server)
    other = booked(api.book(event_type["id"], dates.api_utc(at(14)), duration=60))
    url = event_url(api, booking["uid"])
    current = dav(api, "GET", url)

    refused = dav(api, "PUT", url, edited(current.text, dtstart=at(14, 30), dtend=at(15, 30)))
    assert refused.status_code == 403, refused.text
    assert booking["id"] in refused.text and "already taken" in refused.text

    # Nothing changed: the booking, its event, the other booking, and what is offered.
    assert api.get(f"/bookings/{booking['id']}").json()["startAt"] == dates.api_utc(at(10))
    assert api.get(f"/bookings/{other['id']}").json()["status"] == "active"
    unchanged = dav(api, "GET", url)
    assert (unchanged.headers["ETag"], unchanged.text) == (current.headers["ETag"], current.text)
    times = monday_times(api, event_type)
    assert "10:00" not in times and "14:00" not in times and "12:00" in times

    # Outside the host's hours, or for a length the event type does not offer: refused, saying why.
    evening = dav(api, "PUT", url, edited(current.text, dtstart=at(20), dtend=at(21)))
    assert evening.status_code == 403 and "DTSTART" in evening.text and "available hours" in evening.text
    odd = dav(api, "PUT", url, edited(current.text, dtstart=at(12), dtend=at(12, 45)))
    assert odd.status_code == 403 and "45 minutes" in odd.text
    assert dav(api, "GET", url).headers["ETag"] == current.headers["ETag"]


def test_radicales_path_applies_the_same_rules(live_server: LiveServer) -> None:
    """A body with DURATION (or a recurrence rule) is stored by Radicale's plugin, not the fast PUT."""
    api, event_type, booking = host_with_booking(live_server)
    booked(api.book(event_type["id"], dates.api_utc(at(14)), duration=60))
    url = event_url(api, booking["uid"])
    current = dav(api, "GET", url)

    onto_busy = edited(current.text, dtstart=at(14), dtend=None, duration=timedelta(hours=1))
    refused = dav(api, "PUT", url, onto_busy)
    assert refused.status_code == 403, refused.text
    assert api.get(f"/bookings/{booking['id']}").json()["startAt"] == dates.api_utc(at(10))
    assert dav(api, "GET", url).headers["ETag"] == current.headers["ETag"]

    to_free = edited(current.text, dtstart=at(12), dtend=None, duration=timedelta(hours=1))
    moved = dav(api, "PUT", url, to_free)
    assert moved.status_code == 204, moved.text
    assert api.get(f"/bookings/{booking['id']}").json()["startAt"] == dates.api_utc(at(12))
    assert "12:00" not in monday_times(api, event_type) and "10:00" in monday_times(api, event_type)

    recurring = dav(api, "PUT", url, edited(dav(api, "GET", url).text, rrule={"FREQ": "DAILY"}))
    assert recurring.status_code == 403
    assert "RRULE" not in dav(api, "GET", url).text


def test_a_co_host_deleting_a_collective_booking_cancels_it_for_everyone(live_server: LiveServer) -> None:
    owner = new_api(live_server)
    partner = api_for(live_server, create_account(live_server.database_url))
    for api in (owner, partner):
        make_schedule(api, "UTC")
    team = make_team(live_server, owner.account, partner.account)
    hosts = [owner.account.slug, partner.account.slug]
    event_type = make_event_type(owner, kind="collective", hosts=hosts, teamId=team["id"])
    booking = booked(owner.book(event_type["id"], dates.api_utc(at(11))))

    assert dav(partner, "DELETE", event_url(partner, booking["uid"])).status_code == 200

    after = owner.get(f"/bookings/{booking['id']}").json()
    assert after["status"] == "canceled" and after["canceledBy"] == partner.account.email
    owner_copy = icalendar.Calendar.from_ical(dav(owner, "GET", event_url(owner, booking["uid"])).text)
    assert str(owner_copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert "11:00" in monday_times(owner, event_type)
