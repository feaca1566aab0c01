"""/api/v2/bookings on the live server: create, get, list, cancel, reschedule, confirm, decline, no-show,
idempotent retries, validation, team kinds, and the booking's VEVENT as CalDAV clients see it."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import caldav
import pytest
import requests

from tests import dates
from tests.conftest import CLOCK_OFFSET_DAYS, LiveServer, create_account, start_server, stop_server
from tests.scheduling_fixtures import (
    Api,
    api_for,
    iso,
    local_times,
    make_event_type,
    make_schedule,
    make_team,
    new_api,
)

CONTRACT_FIELDS = {
    "id",
    "eventType",
    "startAt",
    "endAt",
    "durationMin",
    "status",
    "location",
    "invitee",
    "canceledAt",
    "cancelReason",
    "canceledBy",
    "createdAt",
}
# A Monday at least two days ahead of the clock, and its week: every booking below is in the future.
MONDAY_DATE = dates.next_weekday(dates.MON, after_days=2)
MONDAY = MONDAY_DATE.isoformat()
TUESDAY = (MONDAY_DATE + timedelta(days=1)).isoformat()
A_PAST_MONDAY = (MONDAY_DATE - timedelta(weeks=4)).isoformat()


def weekday(days_after_monday: int) -> str:
    """The day ``days_after_monday`` days after MONDAY, as YYYY-MM-DD."""
    return (MONDAY_DATE + timedelta(days=days_after_monday)).isoformat()


def owner_with_hours(
    server: LiveServer, zone: str = "UTC", **event_fields: Any
) -> tuple[Api, dict[str, Any]]:
    api = new_api(server, zone)
    make_schedule(api, zone)
    return api, make_event_type(api, **event_fields)


def vevent(api: Api, uid: str) -> Any:
    return api.calendar().event_by_uid(uid).icalendar_component


def addresses(component: Any, name: str) -> list[str]:
    values = component.get(name, [])
    values = values if isinstance(values, list) else [values]
    return [str(v).lower() for v in values]


def booked(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def test_create_booking_json_and_calendar(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(
        live_server,
        "Europe/Paris",
        location={"kind": "link", "value": "https://meet.example.com/abc"},
        questions=[{"id": "company", "label": "Company", "type": "text", "required": True}],
    )
    start = dates.at(MONDAY_DATE, 10, zone="Europe/Paris")
    response = api.book(
        event_type["id"],
        start.isoformat(),
        answers=[{"questionId": "company", "value": "ACME"}],
        guests=["bob@example.com"],
        notes="Looking forward",
    )
    booking = booked(response)
    assert response.headers["Location"] == f"/api/v2/bookings/{booking['id']}"
    assert CONTRACT_FIELDS <= set(booking)
    assert booking["eventType"] == {
        "id": event_type["id"],
        "name": event_type["name"],
        "slug": event_type["slug"],
    }
    assert (booking["startAt"], booking["endAt"], booking["durationMin"]) == (
        dates.api_utc(start),
        dates.api_utc(start + timedelta(hours=1)),
        60,
    )
    assert booking["status"] == "active"
    assert booking["location"] == {"kind": "link", "value": "https://meet.example.com/abc"}
    assert booking["invitee"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "timezone": "Europe/London",
    }
    assert booking["canceledAt"] is None and booking["cancelReason"] is None and booking["canceledBy"] is None
    assert booking["answers"] == [{"questionId": "company", "label": "Company", "value": "ACME"}]
    assert booking["guests"] == ["bob@example.com"] and booking["hostId"] == api.account.user_id
    assert api.get(f"/bookings/{booking['id']}").json() == booking

    # The slot is taken; the rest of the day is still offered.
    slots = api.slots(event_type["id"], MONDAY, TUESDAY)
    assert "10:00" not in local_times(slots, MONDAY) and "11:00" in local_times(slots, MONDAY)

    # CalDAV clients see the booking as an event organized by the host with the invitee invited.
    event = vevent(api, booking["uid"])
    assert addresses(event, "ORGANIZER") == [f"mailto:{api.account.email}"]
    assert {"mailto:ada@example.com", "mailto:bob@example.com"} <= set(addresses(event, "ATTENDEE"))
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 0
    assert str(event["SUMMARY"]) == f"{event_type['name']} with Ada Lovelace"
    assert "Company: ACME" in str(event["DESCRIPTION"]) and "Looking forward" in str(event["DESCRIPTION"])
    assert str(event["LOCATION"]) == "https://meet.example.com/abc"
    assert event["DTSTART"].dt == start.astimezone(UTC)

    # Another user cannot see it.
    stranger = new_api(live_server)
    assert stranger.get(f"/bookings/{booking['id']}").status_code == 404
    assert stranger.delete(f"/bookings/{booking['id']}").status_code == 404
    assert api.get("/bookings/bkg_unknown").status_code == 404


def test_cancel_frees_the_slot_and_cancels_the_vevent(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server)
    booking = booked(api.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    assert "10:00" not in local_times(api.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)

    canceled = api.delete(f"/bookings/{booking['id']}", params={"reason": "Sick"})
    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert body["status"] == "canceled" and body["cancelReason"] == "Sick"
    assert body["canceledBy"] == api.account.email and body["canceledAt"]
    again = api.delete(f"/bookings/{booking['id']}")
    assert again.status_code == 200 and again.json()["canceledAt"] == body["canceledAt"]
    assert api.delete("/bookings/bkg_unknown").status_code == 404

    assert "10:00" in local_times(api.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    event = vevent(api, booking["uid"])
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    # The freed slot can be booked again.
    assert booked(api.book(event_type["id"], f"{MONDAY}T10:00:00Z"))["id"] != booking["id"]


def test_reschedule_moves_the_booking_and_its_event(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server, durationsMin=[60, 30], slotIntervalMin=30)
    booking = booked(api.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    other = booked(api.book(event_type["id"], f"{MONDAY}T14:00:00Z"))

    # 10:30 overlaps the booking's own old time, which does not count against it.
    moved = api.post(f"/bookings/{booking['id']}/reschedule", json={"start": f"{MONDAY}T10:30:00Z"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == booking["id"]
    assert (moved.json()["startAt"], moved.json()["endAt"]) == (f"{MONDAY}T10:30:00Z", f"{MONDAY}T11:30:00Z")
    times = local_times(api.slots(event_type["id"], MONDAY, TUESDAY, duration=60), MONDAY)
    assert "09:30" in times and "10:00" not in times and "11:30" in times

    event = vevent(api, booking["uid"])
    assert event["DTSTART"].dt == dates.at(MONDAY_DATE, 10, 30) and int(event["SEQUENCE"]) == 1

    shorter = api.post(
        f"/bookings/{booking['id']}/reschedule", json={"start": f"{MONDAY}T16:00:00Z", "durationMin": 30}
    )
    assert shorter.status_code == 200 and shorter.json()["durationMin"] == 30
    assert int(vevent(api, booking["uid"])["SEQUENCE"]) == 2

    onto_other = api.post(f"/bookings/{booking['id']}/reschedule", json={"start": f"{MONDAY}T14:00:00Z"})
    assert onto_other.status_code == 409 and "unavailable" in onto_other.json()["message"].lower()
    wrong = api.post(
        f"/bookings/{booking['id']}/reschedule", json={"start": f"{MONDAY}T12:00:00Z", "durationMin": 45}
    )
    assert wrong.status_code == 400 and "30, 60" in wrong.json()["message"]
    api.delete(f"/bookings/{other['id']}")
    assert (
        api.post(f"/bookings/{other['id']}/reschedule", json={"start": f"{MONDAY}T12:00:00Z"}).status_code
        == 409
    )


def test_confirm_decline_and_no_show(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server, requiresConfirmation=True)
    first = booked(api.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    second = booked(api.book(event_type["id"], f"{MONDAY}T11:00:00Z"))
    assert first["status"] == "pending" and str(vevent(api, first["uid"])["STATUS"]) == "TENTATIVE"
    # Pending bookings hold their slot.
    assert not {"10:00", "11:00"} & set(local_times(api.slots(event_type["id"], MONDAY, TUESDAY), MONDAY))

    confirmed = api.post(f"/bookings/{first['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"
    assert confirmed.json()["confirmedAt"]
    event = vevent(api, first["uid"])
    assert str(event["STATUS"]) == "CONFIRMED" and int(event["SEQUENCE"]) == 1
    again = api.post(f"/bookings/{first['id']}/confirm")  # already active: as declining it is, a 409
    assert again.status_code == 409 and "pending" in again.json()["message"]

    declined = api.post(f"/bookings/{second['id']}/decline", json={"reason": "Double booked"})
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "canceled" and declined.json()["cancelReason"] == "Double booked"
    assert declined.json()["canceledBy"] == api.account.email
    assert str(vevent(api, second["uid"])["STATUS"]) == "CANCELLED"
    assert "11:00" in local_times(api.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    assert api.post(f"/bookings/{second['id']}/confirm").status_code == 409
    assert api.post(f"/bookings/{first['id']}/decline").status_code == 409  # active: cancel instead
    listed = api.get("/bookings", params={"status": "declined"}).json()["data"]
    assert [b["id"] for b in listed] == [second["id"]]  # the declined status filter

    assert api.post(f"/bookings/{first['id']}/no-show", json={}).status_code == 400
    assert api.post(f"/bookings/{second['id']}/no-show", json={"noShow": True}).status_code == 409


def test_no_show_only_once_the_booking_has_started(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    api, event_type = owner_with_hours(live_server)
    booking = booked(api.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    early = api.post(f"/bookings/{booking['id']}/no-show", json={"noShow": True})
    assert early.status_code == 409 and "not started" in early.json()["message"]
    assert api.get(f"/bookings/{booking['id']}").json()["noShow"] is False

    # The same data served with the clock a month ahead: the booking has started (and ended) there.
    later = start_server(
        live_server.database_url,
        tmp_path_factory.mktemp("later"),
        extra_env={"CALEDEE_CLOCK_OFFSET_DAYS": str(CLOCK_OFFSET_DAYS + 30)},
    )
    try:
        later_api = api_for(later, api.account)
        marked = later_api.post(f"/bookings/{booking['id']}/no-show", json={"noShow": True})
        assert marked.status_code == 200 and marked.json()["noShow"] is True
        unmarked = later_api.post(f"/bookings/{booking['id']}/no-show", json={"noShow": False})
        assert unmarked.json()["noShow"] is False
    finally:
        stop_server(later)


def test_list_filters_and_cursor_pagination(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server)
    week = [weekday(n) for n in range(5)]  # Monday to Friday
    ids = [booked(api.book(event_type["id"], f"{week[n]}T10:00:00Z"))["id"] for n in (4, 0, 2, 1, 3)]
    api.delete(f"/bookings/{ids[2]}")  # Wednesday
    pages: list[list[str]] = []
    cursor = None
    for _ in range(5):  # bounded: 5 bookings, 2 per page
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/bookings", params=params).json()
        pages.append([b["startAt"][:10] for b in page["data"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == [[week[0], week[1]], [week[2], week[3]], [week[4]]]

    def days(**params: Any) -> list[str]:
        response = api.get("/bookings", params=params)
        assert response.status_code == 200, response.text
        return [b["startAt"][:10] for b in response.json()["data"]]

    assert days(status="canceled") == [week[2]]
    assert days(status="active") == [week[0], week[1], week[3], week[4]]
    assert days(**{"from": f"{week[1]}T00:00:00Z", "to": f"{week[3]}T10:00:00Z"}) == [
        week[1],
        week[2],
        week[3],
    ]
    assert api.get("/bookings", params={"limit": 101}).status_code == 400
    assert api.get("/bookings", params={"cursor": "garbage"}).status_code == 400
    assert api.get("/bookings", params={"status": "lost"}).status_code == 400
    assert new_api(live_server).get("/bookings").json() == {"data": [], "nextCursor": None}


def test_invalid_requests_say_what_is_wrong(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(
        live_server,
        questions=[
            {"id": "company", "label": "Company", "type": "text", "required": True},
            {"id": "size", "label": "Team size", "type": "select", "options": ["1-10", "11+"]},
        ],
    )
    inactive = make_event_type(api, active=False)
    good_answers = [{"questionId": "company", "value": "ACME"}]
    booked(api.book(event_type["id"], f"{MONDAY}T09:00:00Z", answers=good_answers))
    base = {
        "eventTypeId": event_type["id"],
        "start": f"{MONDAY}T10:00:00Z",
        "durationMin": 60,
        "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"},
        "answers": good_answers,
    }
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"answers": []}, 400, "Company"),
        ({"answers": [*good_answers, {"questionId": "shoe", "value": "42"}]}, 400, "shoe"),
        ({"answers": [*good_answers, {"questionId": "size", "value": "huge"}]}, 400, "1-10"),
        ({"eventTypeId": "evt_nope"}, 404, "evt_nope"),
        ({"eventTypeId": inactive["id"]}, 409, "inactive"),
        ({"durationMin": 45}, 400, "60"),
        ({"start": f"{A_PAST_MONDAY}T10:00:00Z"}, 400, "past"),
        ({"start": f"{MONDAY}T10:15:00Z"}, 400, "aligned"),
        ({"start": f"{MONDAY}T20:00:00Z"}, 400, "available hours"),
        ({"start": f"{MONDAY}T09:00:00Z"}, 409, "unavailable"),
        ({"start": f"{MONDAY}T10:00:00"}, 400, "start"),
        ({"invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Mars/Base"}}, 400, "Mars/Base"),
        # Names that made ZoneInfo fail with OSError (too long for a file name) or a NUL: were 500s.
        ({"invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "E" * 300}}, 400, "time zone"),
        ({"invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Europe/\u0000"}}, 400, "zone"),
        # Times at datetime's limits overflowed the slot arithmetic: were 500s.
        ({"start": "9999-12-31T23:59:59Z"}, 400, "between the years 1970 and 9000"),
        ({"start": "0001-01-01T00:00:00Z"}, 400, "between the years 1970 and 9000"),
        ({"invitee": {"name": "Ada", "email": "not-an-email", "timezone": "UTC"}}, 400, "not-an-email"),
        ({"invitee": {"name": "Ada", "timezone": "UTC"}}, 400, "email"),
        ({"colour": "red"}, 400, "colour"),
    ]
    for change, status, words in cases:
        response = api.post("/bookings", json={**base, **change})
        assert (response.status_code, words in response.text) == (status, True), (change, response.text)
    not_json = api.post("/bookings", data="eventTypeId=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["message"]
    read_only = api_for(live_server, create_account(live_server.database_url, scopes=["read:bookings"]))
    assert read_only.post("/bookings", json=base).status_code == 403
    assert (
        api.get("/bookings", params={"status": "active"}).json()["data"][0]["startAt"]
        == f"{MONDAY}T09:00:00Z"
    )
    assert len(api.get("/bookings").json()["data"]) == 1  # nothing else was created


def test_idempotent_retries(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server)
    body = {
        "eventTypeId": event_type["id"],
        "start": f"{MONDAY}T10:00:00Z",
        "durationMin": 60,
        "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"},
    }
    headers = {"Idempotency-Key": "retry-1"}
    first = api.post("/bookings", json=body, headers=headers)
    retry = api.post("/bookings", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json() and retry.headers.get("Idempotent-Replayed") == "true"
    assert [b["id"] for b in api.get("/bookings").json()["data"]] == [first.json()["id"]]

    changed = api.post("/bookings", json={**body, "start": f"{MONDAY}T11:00:00Z"}, headers=headers)
    assert changed.status_code == 409 and "Idempotency-Key" in changed.json()["message"]
    # A new key is a new request: this one finds the slot taken.
    assert api.post("/bookings", json=body, headers={"Idempotency-Key": "retry-2"}).status_code == 409

    path = f"/bookings/{first.json()['id']}"
    move = {"start": f"{MONDAY}T12:00:00Z"}
    moved = api.post(f"{path}/reschedule", json=move, headers={"Idempotency-Key": "move-1"})
    moved_again = api.post(f"{path}/reschedule", json=move, headers={"Idempotency-Key": "move-1"})
    assert moved.status_code == moved_again.status_code == 200 and moved.json() == moved_again.json()
    assert int(vevent(api, first.json()["uid"])["SEQUENCE"]) == 1  # moved once, not twice
    cancel = api.delete(path, params={"reason": "x"}, headers={"Idempotency-Key": "cancel-1"})
    cancel_again = api.delete(path, params={"reason": "x"}, headers={"Idempotency-Key": "cancel-1"})
    assert cancel.status_code == cancel_again.status_code == 200 and cancel.json() == cancel_again.json()
    # A key that cannot be one is a 400 naming the header as sent.
    bad_key = api.post("/bookings", json=body, headers={"Idempotency-Key": "x" * 300})
    assert bad_key.status_code == 400 and bad_key.json()["details"][0]["path"] == ["Idempotency-Key"]
    # Keys belong to one user: another user's identical key is unrelated to this one.
    other, other_type = owner_with_hours(live_server)
    assert booked(other.post("/bookings", json={**body, "eventTypeId": other_type["id"]}, headers=headers))


def test_round_robin_assigns_hosts_fairly(live_server: LiveServer) -> None:
    owner = new_api(live_server)
    partner = api_for(live_server, create_account(live_server.database_url))
    for api in (owner, partner):
        make_schedule(api, "UTC")
    team = make_team(live_server, owner.account, partner.account)
    event_type = make_event_type(
        owner, kind="round_robin", hosts=[owner.account.slug, partner.account.slug], teamId=team["id"]
    )
    by_id = {owner.account.user_id: owner, partner.account.user_id: partner}
    first_host, second_host = sorted(by_id)  # never booked: ties go by id

    hosts = []
    hosts.append(booked(owner.book(event_type["id"], f"{MONDAY}T10:00:00Z"))["hostId"])
    # One host is still free at 10:00, so the slot is still offered.
    assert "10:00" in local_times(owner.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    hosts.append(booked(owner.book(event_type["id"], f"{MONDAY}T10:00:00Z"))["hostId"])
    assert "10:00" not in local_times(owner.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    third = booked(owner.book(event_type["id"], f"{MONDAY}T11:00:00Z"))  # 1-1: least recently booked
    hosts.append(third["hostId"])
    hosts.append(booked(owner.book(event_type["id"], f"{MONDAY}T12:00:00Z"))["hostId"])  # 2-1
    assert hosts == [first_host, second_host, first_host, second_host]

    # The booking is in the assigned host's own calendar.
    assigned = by_id[third["hostId"]]
    assert addresses(vevent(assigned, third["uid"]), "ORGANIZER") == [f"mailto:{assigned.account.email}"]

    # When one host is busy the other gets the booking, whatever the counts say.
    by_id[first_host].calendar().save_event(
        dtstart=dates.at(MONDAY_DATE, 15),
        dtend=dates.at(MONDAY_DATE, 16),
        summary="x",
        uid="x",
    )
    assert booked(owner.book(event_type["id"], f"{MONDAY}T15:00:00Z"))["hostId"] == second_host


def test_collective_booking_is_in_every_hosts_calendar(live_server: LiveServer) -> None:
    owner = new_api(live_server)
    partner = api_for(live_server, create_account(live_server.database_url))
    for api in (owner, partner):
        make_schedule(api, "UTC")
    team = make_team(live_server, owner.account, partner.account)
    event_type = make_event_type(
        owner, kind="collective", hosts=[owner.account.slug, partner.account.slug], teamId=team["id"]
    )
    partner_solo = make_event_type(partner)
    booking = booked(owner.book(event_type["id"], f"{MONDAY}T11:00:00Z"))
    assert sorted(booking["hostIds"]) == sorted([owner.account.user_id, partner.account.user_id])
    for api, other in ((owner, partner), (partner, owner)):
        event = vevent(api, booking["uid"])
        assert f"mailto:{other.account.email}" in addresses(event, "ATTENDEE") + addresses(event, "ORGANIZER")
        assert "mailto:ada@example.com" in addresses(event, "ATTENDEE")
    # Both hosts' time is blocked: the partner's own event type no longer offers 11:00.
    assert "11:00" not in local_times(partner.slots(partner_solo["id"], MONDAY, TUESDAY), MONDAY)
    owner.delete(f"/bookings/{booking['id']}")
    assert str(vevent(partner, booking["uid"])["STATUS"]) == "CANCELLED"
    assert "11:00" in local_times(partner.slots(partner_solo["id"], MONDAY, TUESDAY), MONDAY)


def test_booking_in_the_event_types_booking_calendar(live_server: LiveServer) -> None:
    api = new_api(live_server)
    make_schedule(api, "UTC")
    client = caldav.DAVClient(
        url=live_server.url + "/", username=api.account.slug, password=api.account.token
    )
    client.principal().make_calendar(name="Bookings", cal_id="bookings")
    event_type = make_event_type(api, bookingCalendarId=f"{api.account.slug}/bookings")
    booking = booked(api.book(event_type["id"], iso(MONDAY_DATE, 13)))
    bookings_calendar = client.calendar(url=f"{live_server.url}/dav/{api.account.slug}/bookings/")
    assert str(bookings_calendar.event_by_uid(booking["uid"]).icalendar_component["UID"]) == booking["uid"]
    assert [e for e in api.calendar().events()] == []


def test_every_400_names_its_fields_all_at_once(live_server: LiveServer) -> None:
    api, event_type = owner_with_hours(live_server)

    def paths(response: requests.Response) -> list[list[str]]:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["title"] == "Invalid Argument" and body["message"]
        return [detail["path"] for detail in body["details"]]

    several = {
        "eventTypeId": "",
        "start": f"{MONDAY}T10:00:00Z",
        "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Mars/Base"},
        "guests": ["charles@example.com", "not-an-email"],
    }
    assert sorted(paths(api.post("/bookings", json=several))) == sorted(
        [["eventTypeId"], ["durationMin"], ["invitee", "timezone"], ["guests", "1"]]
    )
    empty_id = api.book("", f"{MONDAY}T10:00:00Z")  # an empty eventTypeId is a 400, not a 404
    assert paths(empty_id) == [["eventTypeId"]]
    bad_zone = api.book(
        event_type["id"],
        f"{MONDAY}T10:00:00Z",
        invitee={"name": "Ada", "email": "ada@example.com", "timezone": "Mars/Base"},
    )
    assert paths(bad_zone) == [["invitee", "timezone"]] and "Mars/Base" in bad_zone.json()["message"]
    assert paths(api.book(event_type["id"], f"{MONDAY}T10:15:00Z")) == [["start"]]
    assert paths(api.book(event_type["id"], f"{MONDAY}T10:00:00Z", duration=45)) == [["durationMin"]]

    # Query parameters of the list: every malformed date, number or enum, each named.
    assert paths(api.get("/bookings", params={"to": "0.5"})) == [["to"]]
    assert paths(api.get("/bookings", params={"from": f"{MONDAY}T10:00:00"})) == [["from"]]  # no offset
    assert sorted(
        paths(api.get("/bookings", params={"from": "yesterday", "limit": "ten", "status": "lost"}))
    ) == [["from"], ["limit"], ["status"]]
    assert paths(api.get("/bookings", params={"cursor": "garbage"})) == [["cursor"]]
    assert paths(api.delete("/bookings/bkg_x", params={"reason": "x" * 501})) == [["reason"]]
    assert paths(api.post("/bookings", data="[1]", headers={"Content-Type": "application/json"})) == [[]]
