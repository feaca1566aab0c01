"""``/api/v2/event-types`` on the real server: the contract's list, CRUD, validation, references."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests

from caldee_dav import db
from caldee_dav.calendars import accounts
from caldee_dav.models import Booking, User
from tests import dates
from tests.conftest import Account, LiveServer, create_account
from tests.conftest import api_request as call
from tests.scheduling_fixtures import make_team

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# The EventType schema of the REST contract (caledee-api-v2.openapi.json), field by field.
CONTRACT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "slug": (str,),
    "url": (str,),
    "kind": (str,),
    "durationsMin": (list,),
    "bufferBeforeMin": (int,),
    "bufferAfterMin": (int,),
    "color": (str,),
    "active": (bool,),
    "secret": (bool,),
    "organizationId": (str, type(None)),
    "createdAt": (str,),
    "updatedAt": (str,),
}


def create(server: LiveServer, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    response = call(server, account, "POST", "/event-types", body)
    assert response.status_code == 201, response.text
    return response.json()


def listed(server: LiveServer, account: Account) -> list[dict[str, Any]]:
    response = call(server, account, "GET", "/event-types")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def host(account: Account) -> dict[str, Any]:
    return {"id": account.user_id, "slug": account.slug, "name": account.slug.upper()}


def add_calendar(server: LiveServer, account: Account, slug: str) -> None:
    with db.write_unit(db.engine_for(server.database_url)) as session:
        user = session.get(User, account.user_id)
        accounts.create_calendar(session, user, name=slug.title(), slug=slug)


def test_create_with_defaults(live_server: LiveServer, account: Account) -> None:
    response = call(live_server, account, "POST", "/event-types", {"name": "Intro Call"})
    assert response.status_code == 201, response.text
    event_type = response.json()
    assert response.headers["Location"] == f"/api/v2/event-types/{event_type['id']}"
    assert event_type["id"].startswith("evt_")
    assert RFC3339_UTC.match(event_type["createdAt"]) and RFC3339_UTC.match(event_type["updatedAt"])
    fixed = {k: v for k, v in event_type.items() if k not in ("id", "createdAt", "updatedAt")}
    assert fixed == {
        "name": "Intro Call",
        "slug": "intro-call",
        "url": f"{live_server.url}/{account.slug}/intro-call",
        "kind": "one_on_one",
        "durationsMin": [30],
        "bufferBeforeMin": 0,
        "bufferAfterMin": 0,
        "color": "#0069ff",
        "active": True,
        "secret": False,
        "organizationId": None,
        "description": None,
        "minimumNoticeMin": 0,
        "bookingWindowDays": None,
        "maxBookingsPerDay": None,
        "slotIntervalMin": None,
        "reminderMinutes": [1440, 60],
        "location": None,
        "requiresConfirmation": False,
        "questions": [],
        "scheduleId": None,
        "bookingCalendarId": None,
        "busyCalendarIds": [],
        "hosts": [host(account)],
        "teamId": None,
    }


def test_event_type_lifecycle(live_server: LiveServer, account: Account) -> None:
    add_calendar(live_server, account, "work")
    schedule = call(live_server, account, "POST", "/schedules", {"name": "Mornings"}).json()
    body = {
        "name": "Strategy Session",
        "slug": "strategy",
        "description": "Plan the quarter.",
        "durationsMin": [60, 15, 30],
        "bufferBeforeMin": 10,
        "bufferAfterMin": 5,
        "minimumNoticeMin": 240,
        "bookingWindowDays": 60,
        "maxBookingsPerDay": 4,
        "slotIntervalMin": 15,
        "color": "#FF8800",
        "secret": True,
        "requiresConfirmation": True,
        "location": {"kind": "link", "value": "https://meet.example.com/strategy"},
        "questions": [
            {"label": "What is this about?", "type": "textarea", "required": True},
            {"id": "size", "label": "Company size", "type": "select", "options": ["1-10", "11-50"]},
            {"label": "What is this about?"},
        ],
        "scheduleId": schedule["id"],
        "bookingCalendarId": f"{account.slug}/work",
        "busyCalendarIds": [f"/dav/{account.slug}/work/", f"{account.slug}/calendar", f"{account.slug}/work"],
    }
    event_type = create(live_server, account, body)
    assert event_type["durationsMin"] == [15, 30, 60]
    assert event_type["color"] == "#ff8800"
    assert event_type["location"] == {"kind": "link", "value": "https://meet.example.com/strategy"}
    assert event_type["questions"] == [
        {
            "id": "what-is-this-about",
            "label": "What is this about?",
            "type": "textarea",
            "required": True,
            "options": [],
        },
        {
            "id": "size",
            "label": "Company size",
            "type": "select",
            "required": False,
            "options": ["1-10", "11-50"],
        },
        {
            "id": "what-is-this-about-2",
            "label": "What is this about?",
            "type": "text",
            "required": False,
            "options": [],
        },
    ]
    assert event_type["scheduleId"] == schedule["id"]
    assert event_type["bookingCalendarId"] == f"{account.slug}/work"
    assert event_type["busyCalendarIds"] == [f"{account.slug}/work", f"{account.slug}/calendar"]
    for field in ("description", "bufferBeforeMin", "minimumNoticeMin", "bookingWindowDays", "secret"):
        assert event_type[field] == body[field]
    assert event_type["url"] == f"{live_server.url}/{account.slug}/strategy"

    assert call(live_server, account, "GET", f"/event-types/{event_type['id']}").json() == event_type
    assert listed(live_server, account) == [event_type]

    # PATCH changes what is sent and nothing else; null clears what may be empty.
    changes = {
        "durationsMin": [45],
        "active": False,
        "location": None,
        "bookingWindowDays": None,
        "questions": [],
        "slug": "strategy-session",
    }
    response = call(live_server, account, "PATCH", f"/event-types/{event_type['id']}", changes)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert {k: patched[k] for k in changes} == changes
    assert patched["url"] == f"{live_server.url}/{account.slug}/strategy-session"
    unchanged = set(event_type) - set(changes) - {"url", "updatedAt"}
    assert {k: patched[k] for k in unchanged} == {k: event_type[k] for k in unchanged}
    assert patched["updatedAt"] >= event_type["updatedAt"]
    response = call(live_server, account, "PATCH", f"/event-types/{event_type['id']}", {})
    assert response.json() == patched

    response = call(live_server, account, "DELETE", f"/event-types/{event_type['id']}")
    assert response.status_code == 204 and response.content == b""
    assert call(live_server, account, "GET", f"/event-types/{event_type['id']}").status_code == 404
    assert listed(live_server, account) == []


def test_list_matches_the_contract(live_server: LiveServer, account: Account) -> None:
    create(live_server, account, {"name": "Quick Chat", "durationsMin": [15]})
    create(live_server, account, {"name": "Deep Dive", "durationsMin": [90, 120], "kind": "one_on_one"})
    response = call(live_server, account, "GET", "/event-types")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["data"]
    assert [item["name"] for item in body["data"]] == ["Quick Chat", "Deep Dive"]  # oldest first
    for item in body["data"]:
        for field, types in CONTRACT_FIELDS.items():
            assert field in item, field
            value = item[field]
            assert isinstance(value, types) and (bool not in types or type(value) is bool), (field, value)
            if int in types:
                assert type(value) is int, (field, value)
        assert item["kind"] in ("one_on_one", "round_robin", "collective")
        assert item["durationsMin"] and all(type(minutes) is int for minutes in item["durationsMin"])
        assert item["url"].startswith(("http://", "https://"))
        assert RFC3339_UTC.match(item["createdAt"]) and RFC3339_UTC.match(item["updatedAt"])


def _error(title: str, path: list[str], message: str, code: str) -> dict[str, Any]:
    return {
        "title": title,
        "message": f"`{'.'.join(path)}`: {message}",
        "details": [{"path": path, "message": message, "code": code}],
    }


def test_validation_error_body(live_server: LiveServer, account: Account) -> None:
    response = call(live_server, account, "POST", "/event-types", {"name": "X", "durationsMin": []})
    assert response.status_code == 400
    assert response.json() == _error(
        "Invalid Argument", ["durationsMin"], "must list at least one duration in minutes", "required"
    )
    response = call(live_server, account, "POST", "/event-types", {"name": "X", "bufferBeforeMin": -5})
    assert response.json() == _error(
        "Invalid Argument", ["bufferBeforeMin"], "must be a whole number from 0 to 1440", "range"
    )
    response = call(live_server, account, "POST", "/event-types", {"name": "X", "kind": "group"})
    assert response.json() == _error(
        "Invalid Argument",
        ["kind"],
        "Input should be 'one_on_one', 'round_robin' or 'collective'",
        "literal_error",
    )
    assert listed(live_server, account) == []


OMIT = object()  # leaves the field out of the request


def _question(**fields: Any) -> dict[str, Any]:
    return {"label": "Question", **fields}


INVALID_EVENT_TYPES = [
    pytest.param({"name": OMIT}, ["name"], "required", id="no-name"),
    pytest.param({"name": " "}, ["name"], "required", id="blank-name"),
    pytest.param({"durationsMin": [30, 30]}, ["durationsMin", "1"], "duplicate", id="duplicate-duration"),
    pytest.param({"durationsMin": [0]}, ["durationsMin", "0"], "range", id="zero-duration"),
    pytest.param({"durationsMin": [1441]}, ["durationsMin", "0"], "range", id="over-a-day"),
    pytest.param({"durationsMin": ["30"]}, ["durationsMin", "0"], "int_type", id="string-duration"),
    pytest.param({"durationsMin": None}, ["durationsMin"], "required", id="null-durations"),
    pytest.param({"bufferAfterMin": -1}, ["bufferAfterMin"], "range", id="negative-buffer"),
    pytest.param({"minimumNoticeMin": -1}, ["minimumNoticeMin"], "range", id="negative-notice"),
    pytest.param({"bookingWindowDays": 0}, ["bookingWindowDays"], "range", id="zero-window"),
    pytest.param({"maxBookingsPerDay": 0}, ["maxBookingsPerDay"], "range", id="zero-per-day"),
    pytest.param({"slotIntervalMin": 0}, ["slotIntervalMin"], "range", id="zero-interval"),
    pytest.param({"bufferBeforeMin": True}, ["bufferBeforeMin"], "int_type", id="boolean-buffer"),
    pytest.param({"active": None}, ["active"], "invalid_bool", id="null-active"),
    pytest.param({"slug": "Bad Slug"}, ["slug"], "invalid_slug", id="slug"),
    pytest.param({"color": "blue"}, ["color"], "invalid_color", id="color"),
    pytest.param(
        {"questions": [_question(type="select")]}, ["questions", "0", "options"], "required", id="no-options"
    ),
    pytest.param(
        {"questions": [_question(type="text", options=["a"])]},
        ["questions", "0", "options"],
        "not_allowed",
        id="options-on-text",
    ),
    pytest.param(
        {"questions": [_question(type="date")]}, ["questions", "0", "type"], "literal_error", id="q-type"
    ),
    pytest.param(
        {"questions": [_question(id="q"), _question(id="q")]},
        ["questions", "1", "id"],
        "duplicate",
        id="q-ids",
    ),
    pytest.param({"questions": [{"type": "text"}]}, ["questions", "0", "label"], "missing", id="q-label"),
    pytest.param(
        {"location": {"kind": "link", "value": "meet me"}},
        ["location", "value"],
        "invalid_url",
        id="link-url",
    ),
    pytest.param({"location": {"kind": "in_person"}}, ["location", "value"], "required", id="no-address"),
    pytest.param({"location": {"kind": "zoom"}}, ["location", "kind"], "literal_error", id="location-kind"),
    pytest.param({"kind": "round_robin"}, ["hosts"], "hosts_required", id="team-without-hosts"),
    pytest.param({"kind": "collective", "hosts": []}, ["hosts"], "hosts_required", id="empty-hosts"),
    pytest.param({"duration": 30}, ["duration"], "extra_forbidden", id="unknown-field"),
    pytest.param({"url": "https://example.com"}, ["url"], "extra_forbidden", id="read-only-field"),
]


@pytest.mark.parametrize(("body", "path", "code"), INVALID_EVENT_TYPES)
def test_invalid_event_type_is_refused(
    live_server: LiveServer, account: Account, body: dict[str, Any], path: list[str], code: str
) -> None:
    payload = {key: value for key, value in {"name": "Call", **body}.items() if value is not OMIT}
    response = call(live_server, account, "POST", "/event-types", payload)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["title"] == "Invalid Argument"
    assert {"path": path, "code": code} in [{"path": d["path"], "code": d["code"]} for d in error["details"]]
    assert error["message"].startswith(f"`{'.'.join(error['details'][0]['path'])}`: ")


def test_slugs_are_unique_per_user(live_server: LiveServer, account: Account) -> None:
    first = create(live_server, account, {"name": "Intro Call"})
    response = call(live_server, account, "POST", "/event-types", {"name": "Intro call!"})
    assert response.status_code == 409
    assert response.json() == _error(
        "Already Exists", ["slug"], "you already have an event type with slug 'intro-call'", "slug_taken"
    )
    second = create(live_server, account, {"name": "Intro call!", "slug": "intro-call-2"})
    response = call(live_server, account, "PATCH", f"/event-types/{second['id']}", {"slug": "intro-call"})
    assert response.status_code == 409
    # Keeping one's own slug is no clash; null makes a new one from the name.
    assert call(live_server, account, "PATCH", f"/event-types/{first['id']}", {"slug": "intro-call"}).ok
    response = call(
        live_server, account, "PATCH", f"/event-types/{second['id']}", {"name": "Deep Dive", "slug": None}
    )
    assert response.json()["slug"] == "deep-dive"
    assert create(live_server, account, {"name": "Café Chat"})["slug"] == "cafe-chat"
    # Another user may use the same slug.
    other = create_account(live_server.database_url)
    assert create(live_server, other, {"name": "Intro Call"})["url"].endswith(f"/{other.slug}/intro-call")


def test_calendar_references(live_server: LiveServer, account: Account) -> None:
    add_calendar(live_server, account, "work")
    event_type = create(
        live_server,
        account,
        {
            "name": "Review",
            "bookingCalendarId": f"{account.slug}/work",
            "busyCalendarIds": [f"{account.slug}/work", f"{account.slug}/calendar"],
        },
    )
    path = f"/event-types/{event_type['id']}"

    response = call(live_server, account, "PATCH", path, {"bookingCalendarId": f"{account.slug}/nope"})
    assert response.status_code == 404
    assert response.json() == _error(
        "Not Found", ["bookingCalendarId"], f"no calendar '{account.slug}/nope'", "not_found"
    )
    stranger = create_account(live_server.database_url)
    response = call(live_server, account, "PATCH", path, {"busyCalendarIds": [f"{stranger.slug}/calendar"]})
    assert response.status_code == 404
    assert response.json()["details"][0]["path"] == ["busyCalendarIds", "0"]
    response = call(live_server, account, "PATCH", path, {"bookingCalendarId": account.slug})
    assert response.status_code == 400  # the principal collection is no calendar
    assert response.json()["details"][0]["code"] == "not_a_calendar"
    assert call(live_server, account, "GET", path).json() == event_type  # nothing changed

    # Deleting a calendar over CalDAV takes it out of the event type.
    deleted = requests.delete(
        f"{live_server.url}/dav/{account.slug}/work/", auth=(account.slug, account.token), timeout=30
    )
    assert deleted.status_code in (200, 204), deleted.text
    after = call(live_server, account, "GET", path).json()
    assert after["bookingCalendarId"] is None
    assert after["busyCalendarIds"] == [f"{account.slug}/calendar"]


def test_hosts(live_server: LiveServer, account: Account) -> None:
    first, second = create_account(live_server.database_url), create_account(live_server.database_url)
    members = make_team(live_server, account, first, second)
    team = create(
        live_server,
        account,
        {
            "name": "Support",
            "kind": "round_robin",
            "hosts": [first.slug, first.email.upper(), account.email, second.user_id],
            "teamId": members["id"],
        },
    )
    assert team["hosts"] == [host(first), host(account), host(second)]
    assert team["teamId"] == members["id"]

    body = {"name": "X", "kind": "collective", "hosts": [first.slug, "nobody-here"]}
    response = call(live_server, account, "POST", "/event-types", body)
    assert response.status_code == 404
    assert response.json() == _error(
        "Not Found", ["hosts", "1"], "no user with slug, email or id 'nobody-here'", "not_found"
    )
    response = call(live_server, account, "POST", "/event-types", {"name": "Y", "hosts": [first.slug]})
    assert response.status_code == 400
    assert response.json()["details"][0]["code"] == "one_on_one_hosts"
    solo = create(live_server, account, {"name": "Solo", "hosts": [account.slug]})
    assert solo["hosts"] == [host(account)]

    # Switching kinds: one_on_one is always the owner; a team kind keeps the owner as its host.
    response = call(live_server, account, "PATCH", f"/event-types/{team['id']}", {"kind": "one_on_one"})
    assert response.json()["hosts"] == [host(account)]
    response = call(live_server, account, "PATCH", f"/event-types/{solo['id']}", {"kind": "collective"})
    assert response.status_code == 200 and response.json()["hosts"] == [host(account)]
    # Another user hosts only through a team they accepted to join.
    response = call(live_server, account, "PATCH", f"/event-types/{solo['id']}", {"hosts": [second.slug]})
    assert response.status_code == 400 and response.json()["details"][0]["code"] == "team_required"
    body = {"hosts": [second.slug], "teamId": members["id"]}
    response = call(live_server, account, "PATCH", f"/event-types/{solo['id']}", body)
    assert response.json()["hosts"] == [host(second)]


def test_schedule_reference(live_server: LiveServer, account: Account) -> None:
    stranger = create_account(live_server.database_url)
    theirs = call(live_server, stranger, "POST", "/schedules", {"name": "Theirs"}).json()
    response = call(live_server, account, "POST", "/event-types", {"name": "X", "scheduleId": theirs["id"]})
    assert response.status_code == 404
    assert response.json() == _error(
        "Not Found", ["scheduleId"], f"no schedule {theirs['id']!r}", "not_found"
    )
    mine = call(live_server, account, "POST", "/schedules", {"name": "Mine"}).json()
    event_type = create(live_server, account, {"name": "X", "scheduleId": mine["id"]})
    response = call(live_server, account, "PATCH", f"/event-types/{event_type['id']}", {"scheduleId": None})
    assert response.json()["scheduleId"] is None


def test_token_and_scopes_are_required(live_server: LiveServer) -> None:
    response = call(live_server, None, "GET", "/event-types")
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"
    response = requests.get(
        f"{live_server.url}/api/v2/event-types", headers={"Authorization": "Bearer pat_wrong"}, timeout=30
    )
    assert response.status_code == 401

    reader = create_account(live_server.database_url, scopes=["read:event-types"])
    assert call(live_server, reader, "GET", "/event-types").status_code == 200
    response = call(live_server, reader, "POST", "/event-types", {"name": "Nope"})
    assert response.status_code == 403
    assert response.json() == {
        "title": "Forbidden",
        "message": "The access token lacks the scope(s) write:event-types.",
    }
    schedules_only = create_account(live_server.database_url, scopes=["read:schedules", "write:schedules"])
    assert call(live_server, schedules_only, "GET", "/event-types").status_code == 403
    assert listed(live_server, reader) == []


def test_another_users_event_type_is_not_found(live_server: LiveServer, account: Account) -> None:
    event_type = create(live_server, account, {"name": "Mine"})
    stranger = create_account(live_server.database_url)
    path = f"/event-types/{event_type['id']}"
    for method, body in (("GET", None), ("PATCH", {"name": "Theirs"}), ("DELETE", None)):
        response = call(live_server, stranger, method, path, body)
        assert response.status_code == 404, method
        assert response.json() == {"title": "Not Found", "message": f"no event type {event_type['id']!r}"}
    assert listed(live_server, stranger) == []
    assert listed(live_server, account) == [event_type]


def test_delete_is_refused_while_bookings_are_upcoming(live_server: LiveServer, account: Account) -> None:
    event_type = create(live_server, account, {"name": "Busy"})
    start = dates.now().replace(microsecond=0) + timedelta(days=3)
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        booking = Booking(
            owner_id=account.user_id,
            event_type_id=event_type["id"],
            host_user_id=account.user_id,
            host_ids=[account.user_id],
            start_at=start,
            end_at=start + timedelta(minutes=30),
            duration_min=30,
            invitee_name="Ada",
            invitee_email="ada@example.com",
            invitee_timezone="UTC",
            ical_uid="upcoming@test",
        )
        session.add(booking)
        session.flush()
        booking_id = booking.id
    path = f"/event-types/{event_type['id']}"
    response = call(live_server, account, "DELETE", path)
    assert response.status_code == 409
    assert response.json()["title"] == "Conflict"
    assert call(live_server, account, "GET", path).status_code == 200

    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        session.get(Booking, booking_id).status = "canceled"
    assert call(live_server, account, "DELETE", path).status_code == 204


def test_all_problems_of_a_body_come_at_once(live_server: LiveServer, account: Account) -> None:
    # Before, `name` and `durationsMin` were reported only once `kind` was fixed.
    response = call(live_server, account, "POST", "/event-types", {"kind": "bogus", "durationsMin": []})
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Argument"
    assert sorted(d["path"] for d in body["details"]) == [["durationsMin"], ["kind"], ["name"]]
    assert all(d["message"] and d["code"] for d in body["details"])

    typo = call(live_server, account, "POST", "/event-types", {"nmae": "Intro", "bufferAfterMin": -5})
    assert sorted(d["path"] for d in typo.json()["details"]) == [["bufferAfterMin"], ["name"], ["nmae"]]
