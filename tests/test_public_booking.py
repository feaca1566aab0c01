"""Booking without a token (issue #12): ``POST /api/v2/public/{userSlug}/{eventSlug}/bookings`` takes the
body of the host's own ``POST /bookings`` (without ``eventTypeId``: the URL names the event type), checks
it the same way, answers the same, honours ``Idempotency-Key``, and puts the booking in the host's
calendar. Secret event types only by their exact slug; inactive ones are not found."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests

from tests import dates
from tests.conftest import LiveServer
from tests.scheduling_fixtures import Api, iso, local_times, make_event_type, make_schedule, new_api

MONDAY_DATE = dates.next_weekday(dates.MON, after_days=2)
MONDAY = MONDAY_DATE.isoformat()
TUESDAY = (MONDAY_DATE + timedelta(days=1)).isoformat()
QUESTIONS = [
    {"id": "company", "label": "Company", "type": "text", "required": True},
    {"id": "size", "label": "Team size", "type": "select", "options": ["1-10", "11-50"]},
]


def host_with_hours(server: LiveServer, zone: str = "UTC", **event_fields: Any) -> tuple[Api, dict[str, Any]]:
    api = new_api(server, zone)
    make_schedule(api, zone)
    return api, make_event_type(api, **event_fields)


def public_url(api: Api, event_type: dict[str, Any], what: str = "bookings") -> str:
    return f"{api.server.url}/api/v2/public/{api.account.slug}/{event_type['slug']}/{what}"


def booking_body(start: str, email: str = "ada@example.com", **fields: Any) -> dict[str, Any]:
    return {
        "start": start,
        "durationMin": 60,
        "invitee": {"name": "Ada Lovelace", "email": email, "timezone": "Europe/London"},
        **fields,
    }


def public_book(url: str, body: Any, **headers: str) -> requests.Response:
    """An anonymous POST: no Authorization header at all."""
    return requests.post(url, json=body, headers=headers, timeout=30)


def test_a_public_booking_is_the_hosts_booking_and_event(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server, "Europe/Paris", questions=QUESTIONS)
    start = iso(MONDAY_DATE, 10, tz="Europe/Paris")
    response = public_book(
        public_url(api, event_type),
        booking_body(start, answers=[{"questionId": "company", "value": "ACME"}], notes="Hello"),
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert response.headers["Location"] == f"/api/v2/bookings/{booking['id']}"
    assert booking["eventType"] == {
        "id": event_type["id"],
        "name": event_type["name"],
        "slug": event_type["slug"],
    }
    assert booking["startAt"] == dates.api_utc(dates.at(MONDAY_DATE, 10, zone="Europe/Paris"))
    assert booking["status"] == "active" and booking["hostId"] == api.account.user_id
    assert booking["answers"] == [{"questionId": "company", "label": "Company", "value": "ACME"}]

    # The host sees exactly that answer as their own booking, and the event in their calendar.
    assert api.get(f"/bookings/{booking['id']}").json() == booking
    assert api.calendar().event_by_uid(booking["uid"]).icalendar_component["SUMMARY"]
    # The slot is gone for everyone.
    slots = requests.get(
        public_url(api, event_type, "slots"),
        params={"from": MONDAY, "to": TUESDAY, "tz": "Europe/Paris"},
        timeout=30,
    ).json()["data"]
    assert "10:00" not in local_times(slots, MONDAY) and "11:00" in local_times(slots, MONDAY)


def test_the_answer_has_the_shape_of_the_authenticated_one(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    public = public_book(public_url(api, event_type), booking_body(iso(MONDAY_DATE, 9))).json()
    own = api.post("/bookings", json={**booking_body(iso(MONDAY_DATE, 11)), "eventTypeId": event_type["id"]})
    assert own.status_code == 201 and set(public) == set(own.json())

    # eventTypeId may be sent when it is this event type's.
    named = booking_body(iso(MONDAY_DATE, 13), eventTypeId=event_type["id"])
    assert public_book(public_url(api, event_type), named).status_code == 201
    other = make_event_type(api)
    wrong = public_book(
        public_url(api, event_type), booking_body(iso(MONDAY_DATE, 14), eventTypeId=other["id"])
    )
    assert wrong.status_code == 400 and wrong.json()["details"][0]["path"] == ["eventTypeId"]


def test_bad_bodies_get_the_authenticated_answers(live_server: LiveServer) -> None:
    """The same rules: each bad body gets the status and the problems POST /bookings gives it."""
    api, event_type = host_with_hours(
        live_server, questions=QUESTIONS, minimumNoticeMin=120, bookingWindowDays=30
    )
    far = iso(dates.days_ahead(45), 10)
    bodies = {
        "missing required answer": booking_body(iso(MONDAY_DATE, 10)),
        "not an option": booking_body(
            iso(MONDAY_DATE, 10),
            answers=[{"questionId": "company", "value": "A"}, {"questionId": "size", "value": "huge"}],
        ),
        "unknown question": booking_body(
            iso(MONDAY_DATE, 10), answers=[{"questionId": "nope", "value": "x"}]
        ),
        "malformed email": booking_body(iso(MONDAY_DATE, 10), email="not-an-email"),
        # 212 characters, 412 once lower-cased (as bookings keep it): over the column's 320.
        "email longer lower-cased": booking_body(
            iso(MONDAY_DATE, 10),
            email="\u0130" * 200 + "@example.com",
            answers=[{"questionId": "company", "value": "A"}],
        ),
        "outside hours": booking_body(iso(MONDAY_DATE, 3), answers=[{"questionId": "company", "value": "A"}]),
        "beyond the window": booking_body(far, answers=[{"questionId": "company", "value": "A"}]),
        "in the past": booking_body(
            iso(dates.days_ahead(-7), 10), answers=[{"questionId": "company", "value": "A"}]
        ),
        "duration not offered": {**booking_body(iso(MONDAY_DATE, 10)), "durationMin": 45},
        "unknown field": {**booking_body(iso(MONDAY_DATE, 10)), "colour": "red"},
        "NUL": booking_body(iso(MONDAY_DATE, 10), notes="a\x00b"),
        "wrong types": {"start": 5, "durationMin": "60", "invitee": []},
    }
    for case, body in bodies.items():
        public = public_book(public_url(api, event_type), body)
        own = api.post("/bookings", json={**body, "eventTypeId": event_type["id"]})
        assert public.status_code in (400, 409), (case, public.text)
        assert public.status_code == own.status_code, case
        assert public.json()["details"] == own.json()["details"], case
    for not_json in (b"not json", b"[1, 2]", b'{"start": '):
        response = requests.post(public_url(api, event_type), data=not_json, timeout=30)
        assert response.status_code == 400 and response.json()["title"] == "Invalid Argument"


def test_secret_by_exact_slug_inactive_and_unknown_not_found(live_server: LiveServer) -> None:
    api = new_api(live_server)
    make_schedule(api, "UTC")
    secret = make_event_type(api, secret=True)
    inactive = make_event_type(api, active=False)
    assert public_book(public_url(api, secret), booking_body(iso(MONDAY_DATE, 10))).status_code == 201
    upper = {**secret, "slug": secret["slug"].upper()}
    for event_type in (upper, inactive, {"slug": "no-such-type"}):
        response = public_book(public_url(api, event_type), booking_body(iso(MONDAY_DATE, 12)))
        assert response.status_code == 404 and response.json()["title"] == "Not Found"
    nobody = f"{live_server.url}/api/v2/public/nobody-{api.account.slug}/{secret['slug']}/bookings"
    assert public_book(nobody, booking_body(iso(MONDAY_DATE, 12))).status_code == 404
    # Nothing was booked by the refused requests.
    assert len(api.get("/bookings").json()["data"]) == 1


def test_a_taken_slot_is_409_for_the_second_booker(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    start = iso(MONDAY_DATE, 15)
    assert public_book(public_url(api, event_type), booking_body(start)).status_code == 201
    again = public_book(public_url(api, event_type), booking_body(start, email="grace@example.com"))
    assert again.status_code == 409 and again.json()["title"] == "Conflict"
    own = api.post("/bookings", json={**booking_body(start), "eventTypeId": event_type["id"]})
    assert own.status_code == 409
    assert len(api.get("/bookings").json()["data"]) == 1


def test_idempotency_key_makes_one_booking(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    url = public_url(api, event_type)
    body = booking_body(iso(MONDAY_DATE, 10))
    first = public_book(url, body, **{"Idempotency-Key": "k-1"})
    retry = public_book(url, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert len(api.get("/bookings").json()["data"]) == 1

    # The same key with another body: 409, as on POST /bookings, naming the request, not its scope.
    changed = public_book(url, booking_body(iso(MONDAY_DATE, 12)), **{"Idempotency-Key": "k-1"})
    assert changed.status_code == 409 and "Idempotency-Key" in changed.json()["message"]
    assert f"/public/{api.account.slug}/" in changed.json()["message"]
    assert event_type["id"] not in changed.json()["message"]
    assert len(api.get("/bookings").json()["data"]) == 1

    # The host's own key of the same name is another key; a key on another event type is too.
    own = api.post(
        "/bookings",
        json={**booking_body(iso(MONDAY_DATE, 14)), "eventTypeId": event_type["id"]},
        headers={"Idempotency-Key": "k-1"},
    )
    assert own.status_code == 201 and "Idempotent-Replayed" not in own.headers
    other = make_event_type(api)
    elsewhere = public_book(
        public_url(api, other), booking_body(iso(MONDAY_DATE, 16)), **{"Idempotency-Key": "k-1"}
    )
    assert elsewhere.status_code == 201 and "Idempotent-Replayed" not in elsewhere.headers

    # A refused request stores no answer: the key books once the body is right.
    bad = public_book(url, booking_body(iso(MONDAY_DATE, 3)), **{"Idempotency-Key": "k-2"})
    assert bad.status_code in (400, 409), bad.text
    good = public_book(url, booking_body(iso(MONDAY_DATE, 9)), **{"Idempotency-Key": "k-2"})
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers
    for key in ("", "k" * 256):
        response = public_book(url, booking_body(iso(MONDAY_DATE, 17)), **{"Idempotency-Key": key})
        assert response.status_code == 400 and "Idempotency-Key header" in response.json()["message"]


def test_hostile_paths_are_404_never_500(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    base = f"{live_server.url}/api/v2/public"
    for user, event in (
        ("x" * 2000, event_type["slug"]),
        (api.account.slug, "y" * 2000),
        ("a%00b", event_type["slug"]),
        (api.account.slug, "%C3%A9%00"),
    ):
        for what in ("bookings", "leads"):
            response = requests.post(
                f"{base}/{user}/{event}/{what}", json=booking_body(iso(MONDAY_DATE, 10)), timeout=30
            )
            assert response.status_code in (400, 404), (user[:10], event[:10], response.text)
        for what in ("", "/slots"):  # the public reads were a 500 on a NUL too (PostgreSQL)
            response = requests.get(f"{base}/{user}/{event}{what}", timeout=30)
            assert response.status_code in (400, 404), (user[:10], event[:10], response.text)
    assert requests.get(f"{base}/a%00b", timeout=30).status_code == 404
