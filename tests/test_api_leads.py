"""Leads (issue #12): anyone leaves their details on a public event type
(``POST /api/v2/public/{userSlug}/{eventSlug}/leads``); the host lists them (``GET /leads``, the
contract's), reads one and moves it through the pipeline (``GET``/``PATCH /leads/{id}``); a lead
becomes booked when that email books that event type, by the public path or the host's token."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import requests

from tests import dates
from tests.conftest import LiveServer
from tests.scheduling_fixtures import Api, api_for, iso, make_event_type, make_schedule, new_api

MONDAY_DATE = dates.next_weekday(dates.MON, after_days=2)
QUESTIONS = [
    {"id": "company", "label": "Company", "type": "text", "required": True},
    {"id": "size", "label": "Team size", "type": "select", "options": ["1-10", "11-50"]},
    {"id": "phone", "label": "Phone", "type": "phone"},
]
LEAD_FIELDS = {
    "id",
    "name",
    "email",
    "timezone",
    "status",
    "eventType",
    "booked",
    "bookingId",
    "createdAt",
    "completedAt",
}


def host_with_hours(server: LiveServer, zone: str = "UTC", **event_fields: Any) -> tuple[Api, dict[str, Any]]:
    api = new_api(server, zone)
    make_schedule(api, zone)
    return api, make_event_type(api, questions=QUESTIONS, **event_fields)


def public_url(api: Api, event_type: dict[str, Any], what: str) -> str:
    return f"{api.server.url}/api/v2/public/{api.account.slug}/{event_type['slug']}/{what}"


def leave_details(api: Api, event_type: dict[str, Any], body: Any) -> requests.Response:
    """The public form, without a token."""
    return requests.post(public_url(api, event_type, "leads"), json=body, timeout=30)


def captured(api: Api, event_type: dict[str, Any], email: str, **fields: Any) -> dict[str, Any]:
    response = leave_details(api, event_type, {"email": email, **fields})
    assert response.status_code in (200, 201), response.text
    return response.json()


def book_publicly(api: Api, event_type: dict[str, Any], start: str, email: str) -> dict[str, Any]:
    body = {
        "start": start,
        "durationMin": 60,
        "invitee": {"name": "Ada", "email": email, "timezone": "UTC"},
        "answers": [{"questionId": "company", "value": "ACME"}],
    }
    response = requests.post(public_url(api, event_type, "bookings"), json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def lead(api: Api, lead_id: str) -> dict[str, Any]:
    response = api.get(f"/leads/{lead_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_leaving_details_creates_then_updates_one_lead(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server, "Europe/Paris")
    first = leave_details(
        api, event_type, {"email": "Ada@Example.com", "answers": [{"questionId": "size", "value": "1-10"}]}
    )
    assert first.status_code == 201
    body = first.json()
    # The anonymous caller gets back what they sent, the host's time zone by default; nothing else.
    assert body == {
        "id": body["id"],
        "name": None,
        "email": "Ada@Example.com",
        "timezone": "Europe/Paris",
        "eventType": {"name": event_type["name"], "slug": event_type["slug"]},
        "answers": [{"questionId": "size", "label": "Team size", "value": "1-10"}],
    }

    # The same email in another case, more answers: the same lead, updated (200).
    second = leave_details(
        api,
        event_type,
        {
            "name": "Ada Lovelace",
            "email": "ada@example.COM",
            "timezone": "America/New_York",
            "answers": [{"questionId": "phone", "value": "+1 555"}, {"questionId": "size", "value": "11-50"}],
        },
    )
    assert second.status_code == 200 and second.json()["id"] == body["id"]
    assert second.json()["answers"] == [
        {"questionId": "phone", "label": "Phone", "value": "+1 555"},
        {"questionId": "size", "label": "Team size", "value": "11-50"},
    ]
    # A third submission with only the email does not echo the earlier name or answers.
    third = leave_details(api, event_type, {"email": "ADA@example.com"})
    assert third.status_code == 200 and third.json()["name"] is None and third.json()["answers"] == []

    shown = lead(api, body["id"])
    assert LEAD_FIELDS <= set(shown)
    assert (shown["name"], shown["email"], shown["timezone"]) == (
        "Ada Lovelace",
        "ADA@example.com",
        "America/New_York",
    )
    assert (shown["status"], shown["booked"], shown["bookingId"], shown["completedAt"]) == (
        "new",
        False,
        None,
        None,
    )
    assert shown["eventType"] == {
        "id": event_type["id"],
        "name": event_type["name"],
        "slug": event_type["slug"],
    }
    assert shown["answers"] == [
        {"questionId": "size", "label": "Team size", "value": "11-50"},
        {"questionId": "phone", "label": "Phone", "value": "+1 555"},
    ]
    listed = api.get("/leads").json()
    assert [item["id"] for item in listed["data"]] == [body["id"]] and listed["nextCursor"] is None
    assert set(listed["data"][0]) == LEAD_FIELDS  # the contract's Lead, exactly
    # The same email on another event type is another lead.
    other = make_event_type(api)
    assert leave_details(api, other, {"email": "ada@example.com"}).status_code == 201
    assert len(api.get("/leads").json()["data"]) == 2


def test_a_public_booking_converts_the_lead(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    lead_id = captured(api, event_type, "grace@example.com", name="Grace")["id"]
    booking = book_publicly(api, event_type, iso(MONDAY_DATE, 10), "Grace@Example.com")
    shown = lead(api, lead_id)
    assert shown["booked"] is True and shown["bookingId"] == booking["id"]
    completed_at = shown["completedAt"]
    assert abs(datetime.fromisoformat(completed_at.replace("Z", "+00:00")) - dates.now()) < timedelta(
        minutes=5
    )

    # A reschedule and a cancellation leave it booked; a new submission too.
    moved = api.post(f"/bookings/{booking['id']}/reschedule", json={"start": iso(MONDAY_DATE, 12)})
    assert moved.status_code == 200, moved.text
    assert captured(api, event_type, "GRACE@example.com", name="Grace H.")["id"] == lead_id
    assert api.delete(f"/bookings/{booking['id']}").status_code == 200
    shown = lead(api, lead_id)
    assert (shown["booked"], shown["bookingId"], shown["completedAt"]) == (True, booking["id"], completed_at)
    assert shown["name"] == "Grace H."


def test_an_authenticated_booking_with_the_email_in_another_case_converts_it(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    lead_id = captured(api, event_type, "Linus@Example.org")["id"]
    other_type = make_event_type(api)
    other_lead = captured(api, other_type, "linus@example.org")["id"]
    body = {
        "eventTypeId": event_type["id"],
        "start": iso(MONDAY_DATE, 11),
        "durationMin": 60,
        "invitee": {"name": "Linus", "email": "LINUS@EXAMPLE.ORG", "timezone": "UTC"},
        "answers": [{"questionId": "company", "value": "Kernel"}],
    }
    response = api.post("/bookings", json=body)
    assert response.status_code == 201, response.text
    shown = lead(api, lead_id)
    assert shown["booked"] is True and shown["bookingId"] == response.json()["id"] and shown["completedAt"]
    # Only the lead of the event type booked.
    assert lead(api, other_lead)["booked"] is False


def test_a_booking_without_a_lead_creates_none(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    book_publicly(api, event_type, iso(MONDAY_DATE, 9), "nolead@example.com")
    assert api.get("/leads").json() == {"data": [], "nextCursor": None}


def test_pages_run_to_the_end_without_repeats_or_gaps(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    created = [captured(api, event_type, f"person{n}@example.com")["id"] for n in range(25)]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):  # bounded: 25 leads are 4 pages of 7
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/leads", params=params)
        assert page.status_code == 200, page.text
        seen += page.json()["data"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    ids = [item["id"] for item in seen]
    assert len(ids) == 25 and set(ids) == set(created)  # no repeats, no gaps
    assert ids == list(reversed(created))  # newest first
    stamps = [item["createdAt"] for item in seen]
    assert stamps == sorted(stamps, reverse=True)
    # The default page holds them all (50).
    assert len(api.get("/leads").json()["data"]) == 25


def test_filters_and_pipeline_status(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    booked_id = captured(api, event_type, "booked@example.com")["id"]
    contacted_id = captured(api, event_type, "contacted@example.com")["id"]
    new_id = captured(api, event_type, "new@example.com")["id"]
    book_publicly(api, event_type, iso(MONDAY_DATE, 14), "booked@example.com")

    moved = api.patch(f"/leads/{contacted_id}", json={"status": "contacted"})
    assert moved.status_code == 200 and moved.json()["status"] == "contacted"
    assert lead(api, contacted_id)["status"] == "contacted"
    assert api.patch(f"/leads/{booked_id}", json={"status": "qualified"}).json()["status"] == "qualified"

    def listed(**params: str) -> list[str]:
        response = api.get("/leads", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert listed(booked="true") == [booked_id]
    assert listed(booked="false") == [new_id, contacted_id]
    assert listed(status="contacted") == [contacted_id]
    assert listed(status="qualified", booked="true") == [booked_id]
    assert listed(status="lost") == []
    assert listed(status="new", unknownParameter="x") == [new_id]  # unknown parameters are ignored


def test_bad_input_is_a_400_naming_the_field(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    lead_id = captured(api, event_type, "someone@example.com")["id"]

    def problem_paths(response: requests.Response) -> list[list[Any]]:
        assert response.status_code == 400, response.text
        assert response.json()["title"] == "Invalid Argument"
        return [d["path"] for d in response.json()["details"]]

    public_bodies = {
        "malformed email": ({"email": "not-an-email"}, ["email"]),
        "no email": ({"name": "X"}, ["email"]),
        "email not a string": ({"email": 5}, ["email"]),
        "email too long": ({"email": "a" * 320 + "@example.com"}, ["email"]),
        "name too long": ({"email": "a@example.com", "name": "n" * 201}, ["name"]),
        "bad time zone": ({"email": "a@example.com", "timezone": "Mars/Olympus"}, ["timezone"]),
        "unknown question": (
            {"email": "a@example.com", "answers": [{"questionId": "x", "value": "1"}]},
            None,
        ),
        "not an option": (
            {"email": "a@example.com", "answers": [{"questionId": "size", "value": "all"}]},
            None,
        ),
        "answer too long": (
            {"email": "a@example.com", "answers": [{"questionId": "phone", "value": "9" * 10_001}]},
            None,
        ),
        "too many answers": (
            {"email": "a@example.com", "answers": [{"questionId": "phone"}] * 101},
            ["answers"],
        ),
        "unknown field": ({"email": "a@example.com", "status": "qualified"}, ["status"]),
        "NUL": ({"email": "a@example.com", "name": "a\x00b"}, ["name"]),
    }
    for case, (body, path) in public_bodies.items():
        paths = problem_paths(leave_details(api, event_type, body))
        if path is not None:
            assert paths == [path], case
        else:
            assert paths and paths[0][0] == "answers", case
    for not_json in (b"nope", b"[]", b"null"):
        response = requests.post(public_url(api, event_type, "leads"), data=not_json, timeout=30)
        assert response.status_code == 400
    # A required question may stay unanswered (the answers so far), and none of the above made a lead.
    assert leave_details(api, event_type, {"email": "partial@example.com"}).status_code == 201
    assert len(api.get("/leads").json()["data"]) == 2

    assert problem_paths(api.patch(f"/leads/{lead_id}", json={"status": "won"})) == [["status"]]
    assert problem_paths(api.patch(f"/leads/{lead_id}", json={})) == [["status"]]
    assert problem_paths(api.patch(f"/leads/{lead_id}", json={"status": "lost", "name": "x"})) == [["name"]]
    assert lead(api, lead_id)["status"] == "new"
    for params, path in (
        ({"limit": "101"}, ["limit"]),
        ({"limit": "0"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"status": "won"}, ["status"]),
        ({"booked": "perhaps"}, ["booked"]),
        ({"cursor": "not-a-cursor"}, ["cursor"]),
        ({"cursor": "a\x00"}, ["cursor"]),
    ):
        assert problem_paths(api.get("/leads", params=params)) == [path], params
    for forged in (
        ["lead", "2030-01-01T00:00:00+00:00", "lead_\u0000"],  # PostgreSQL refuses a NUL
        ["lead", "0001-01-01T00:00:00+01:00", "lead_x"],  # before the year 1 in UTC
        ["lead", "2030-01-01T00:00:00", "lead_x"],  # no offset
        ["lead", "2030-01-01T00:00:00+00:00", 5],
        "[" * 3000,  # nested past the JSON parser's depth
    ):
        text = forged if isinstance(forged, str) else json.dumps(forged)
        cursor = base64.urlsafe_b64encode(text.encode()).decode()
        assert problem_paths(api.get("/leads", params={"cursor": cursor})) == [["cursor"]], forged
    # A cursor of another list (GET /bookings) is refused too.
    for hour in (9, 10):
        book_publicly(api, event_type, iso(MONDAY_DATE, hour), f"b{hour}@example.com")
    bookings_cursor = api.get("/bookings", params={"limit": 1}).json()["nextCursor"]
    assert bookings_cursor and problem_paths(api.get("/leads", params={"cursor": bookings_cursor})) == [
        ["cursor"]
    ]


def test_secret_by_exact_slug_inactive_and_unknown_not_found(live_server: LiveServer) -> None:
    api = new_api(live_server)
    secret = make_event_type(api, secret=True)
    inactive = make_event_type(api, active=False)
    assert leave_details(api, secret, {"email": "s@example.com"}).status_code == 201
    for event_type in ({"slug": secret["slug"].upper()}, inactive, {"slug": "nope"}):
        response = leave_details(api, event_type, {"email": "s@example.com"})
        assert response.status_code == 404 and response.json()["title"] == "Not Found"
    assert len(api.get("/leads").json()["data"]) == 1


def test_only_the_owner_sees_and_moves_a_lead(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    lead_id = captured(api, event_type, "mine@example.com")["id"]
    stranger = new_api(live_server)
    assert stranger.get(f"/leads/{lead_id}").status_code == 404
    response = stranger.patch(f"/leads/{lead_id}", json={"status": "lost"})
    assert response.status_code == 404 and response.json()["title"] == "Not Found"
    assert stranger.get("/leads").json()["data"] == []
    assert lead(api, lead_id)["status"] == "new"
    for made_up in ("lead_doesnotexist", "x" * 2000, "a%00"):
        assert api.get(f"/leads/{made_up}").status_code == 404
        assert api.patch(f"/leads/{made_up}", json={"status": "lost"}).status_code == 404


def test_scopes(live_server: LiveServer) -> None:
    api, event_type = host_with_hours(live_server)
    lead_id = captured(api, event_type, "scoped@example.com")["id"]

    def as_token(scopes: list[str]) -> Api:
        """The host, with another token holding only ``scopes``."""
        return api_for(
            live_server, dataclasses.replace(api.account, token=_token_for(live_server, api, scopes))
        )

    reader = as_token(["read:leads"])
    writer = as_token(["write:leads"])
    neither = as_token(["read:bookings"])
    assert reader.get("/leads").status_code == 200 and reader.get(f"/leads/{lead_id}").status_code == 200
    refused = reader.patch(f"/leads/{lead_id}", json={"status": "lost"})
    assert refused.status_code == 403 and "write:leads" in refused.json()["message"]
    for path in ("/leads", f"/leads/{lead_id}"):
        response = writer.get(path)
        assert response.status_code == 403 and "read:leads" in response.json()["message"]
        assert neither.get(path).status_code == 403
    assert writer.patch(f"/leads/{lead_id}", json={"status": "lost"}).json()["status"] == "lost"
    assert requests.get(f"{live_server.url}/api/v2/leads", timeout=30).status_code == 401


def _token_for(server: LiveServer, api: Api, scopes: list[str]) -> str:
    """Another token of the host's account, with only ``scopes``."""
    from caldee_dav import db
    from caldee_dav.calendars import accounts
    from caldee_dav.models import User

    with db.write_unit(db.engine_for(server.database_url)) as session:
        user = session.get(User, api.account.user_id)
        assert user is not None
        return accounts.create_token(session, user, name="scoped", scopes=scopes).secret


def test_racing_first_submissions_make_one_lead(live_server: LiveServer) -> None:
    """Several first submissions of one email at once (a double click, a retry): one lead, one 201."""
    api, event_type = host_with_hours(live_server)
    start = threading.Barrier(6)

    def submit(n: int) -> int:
        start.wait(timeout=30)
        return leave_details(
            api, event_type, {"email": "Racer@Example.com", "name": f"Racer {n}"}
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(submit, range(6)))
    assert statuses == [200] * 5 + [201]
    listed = api.get("/leads").json()["data"]
    assert len(listed) == 1 and listed[0]["name"].startswith("Racer ")
