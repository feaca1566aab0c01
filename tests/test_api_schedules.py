"""``/api/v2/schedules`` on the real server: weekly rules, date overrides, the default schedule."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conftest import Account, LiveServer, create_account
from tests.conftest import api_request as call

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
WORKING_WEEK = [{"day": day, "start": "09:00", "end": "17:00"} for day in ("mon", "tue", "wed", "thu", "fri")]


def create(server: LiveServer, account: Account, body: dict[str, Any]) -> dict[str, Any]:
    response = call(server, account, "POST", "/schedules", body)
    assert response.status_code == 201, response.text
    return response.json()


def listed(server: LiveServer, account: Account) -> list[dict[str, Any]]:
    response = call(server, account, "GET", "/schedules")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def defaults(server: LiveServer, account: Account) -> dict[str, bool]:
    return {s["name"]: s["isDefault"] for s in listed(server, account)}


def test_schedule_lifecycle(live_server: LiveServer, account: Account) -> None:
    body = {
        "name": "Paris office",
        "timezone": "Europe/Paris",
        "weeklyRules": [
            {"day": "tue", "start": "09:00", "end": "17:00"},
            {"day": "mon", "start": "13:00", "end": "17:30"},
            {"day": "mon", "start": "09:00", "end": "12:00"},
        ],
        "dateOverrides": [
            {"date": "2027-01-02", "intervals": [{"start": "10:00", "end": "12:00"}]},
            {"date": "2026-12-25", "intervals": []},
        ],
    }
    response = call(live_server, account, "POST", "/schedules", body)
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert response.headers["Location"] == f"/api/v2/schedules/{schedule['id']}"
    assert list(schedule) == [
        "id", "name", "timezone", "isDefault", "weeklyRules", "dateOverrides", "createdAt", "updatedAt",
    ]  # fmt: skip
    assert schedule["name"] == "Paris office"
    assert schedule["timezone"] == "Europe/Paris"
    assert schedule["isDefault"] is True  # the first schedule is the default
    # Stored sorted: by day, then start; overrides by date.
    assert schedule["weeklyRules"] == [
        {"day": "mon", "start": "09:00", "end": "12:00"},
        {"day": "mon", "start": "13:00", "end": "17:30"},
        {"day": "tue", "start": "09:00", "end": "17:00"},
    ]
    assert schedule["dateOverrides"] == [
        {"date": "2026-12-25", "intervals": []},
        {"date": "2027-01-02", "intervals": [{"start": "10:00", "end": "12:00"}]},
    ]
    assert RFC3339_UTC.match(schedule["createdAt"]) and RFC3339_UTC.match(schedule["updatedAt"])

    assert listed(live_server, account) == [schedule]
    assert call(live_server, account, "GET", f"/schedules/{schedule['id']}").json() == schedule

    # PATCH changes what is sent and nothing else; lists are replaced whole.
    response = call(live_server, account, "PATCH", f"/schedules/{schedule['id']}", {"name": "Paris"})
    assert response.status_code == 200, response.text
    renamed = response.json()
    assert renamed["name"] == "Paris"
    assert renamed["weeklyRules"] == schedule["weeklyRules"]
    assert renamed["createdAt"] == schedule["createdAt"]
    assert renamed["updatedAt"] >= schedule["updatedAt"]
    late_shift = [{"day": "sat", "start": "18:00", "end": "24:00"}]
    response = call(
        live_server, account, "PATCH", f"/schedules/{schedule['id']}", {"weeklyRules": late_shift}
    )
    assert response.json()["weeklyRules"] == late_shift  # "24:00" ends the day
    assert response.json()["dateOverrides"] == schedule["dateOverrides"]

    response = call(live_server, account, "DELETE", f"/schedules/{schedule['id']}")
    assert response.status_code == 204 and response.content == b""
    assert call(live_server, account, "GET", f"/schedules/{schedule['id']}").status_code == 404
    assert listed(live_server, account) == []


def test_omitted_fields_take_working_hours_in_the_users_zone(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, timezone="America/New_York")
    schedule = create(live_server, account, {})
    assert schedule["name"] == "Working Hours"
    assert schedule["timezone"] == "America/New_York"
    assert schedule["weeklyRules"] == WORKING_WEEK
    assert schedule["dateOverrides"] == []
    closed = create(live_server, account, {"name": "Closed", "weeklyRules": []})
    assert closed["weeklyRules"] == []


def test_gudcal_spelling_is_accepted(live_server: LiveServer, account: Account) -> None:
    schedule = create(
        live_server,
        account,
        {
            "name": "Business Hours",
            "timezone": "Africa/Lagos",
            "rules": [
                {"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"},
                {"dayOfWeek": 0, "startTime": "10:00", "endTime": "11:00"},
                {"day": "Friday", "start": "09:00", "end": "15:00"},
            ],
            "dateOverrides": [{"date": "2027-12-25", "isBlocked": True}],
        },
    )
    assert schedule["weeklyRules"] == [
        {"day": "mon", "start": "09:00", "end": "12:00"},
        {"day": "fri", "start": "09:00", "end": "15:00"},
        {"day": "sun", "start": "10:00", "end": "11:00"},
    ]
    assert schedule["dateOverrides"] == [{"date": "2027-12-25", "intervals": []}]


def _problem(path: list[str], message: str, code: str) -> dict[str, Any]:
    return {
        "title": "Invalid Argument",
        "message": f"`{'.'.join(path)}`: {message}",
        "details": [{"path": path, "message": message, "code": code}],
    }


def _rule(day: Any = "mon", start: str = "09:00", end: str = "17:00") -> dict[str, Any]:
    return {"day": day, "start": start, "end": end}


INVALID_SCHEDULES = [
    pytest.param(
        {"timezone": "Mars/Olympus"},
        _problem(["timezone"], "unknown time zone 'Mars/Olympus'", "invalid_time_zone"),
        id="time-zone",
    ),
    pytest.param(
        {"timezone": "E" * 300},
        _problem(["timezone"], f"unknown time zone {'E' * 300!r}", "invalid_time_zone"),
        id="time-zone-too-long-for-a-file-name",
    ),
    pytest.param(
        {"weeklyRules": [_rule(day="funday")]},
        _problem(
            ["weeklyRules", "0", "day"], "must be one of mon, tue, wed, thu, fri, sat, sun", "invalid_day"
        ),
        id="day",
    ),
    pytest.param(
        {"weeklyRules": [_rule(day=7)]},
        _problem(
            ["weeklyRules", "0", "day"], "must be one of mon, tue, wed, thu, fri, sat, sun", "invalid_day"
        ),
        id="day-number",
    ),
    pytest.param(
        {"weeklyRules": [_rule(), _rule(day="tue", start="12:00", end="12:00")]},
        _problem(["weeklyRules", "1", "end"], "must be after start 12:00", "end_before_start"),
        id="start-equals-end",
    ),
    pytest.param(
        {"weeklyRules": [_rule(start="17:00", end="09:00")]},
        _problem(["weeklyRules", "0", "end"], "must be after start 17:00", "end_before_start"),
        id="start-after-end",
    ),
    pytest.param(
        {
            "weeklyRules": [
                _rule(start="09:00", end="12:00"),
                _rule(day="tue"),
                _rule(start="11:30", end="14:00"),
            ]
        },
        _problem(
            ["weeklyRules", "2", "start"], "11:30-14:00 overlaps 09:00-12:00 on mon", "overlapping_intervals"
        ),
        id="overlap",
    ),
    pytest.param(
        {"weeklyRules": [_rule(start="9:00")]},
        _problem(["weeklyRules", "0", "start"], 'must be a time "HH:MM" from 00:00 to 24:00', "invalid_time"),
        id="hh-mm",
    ),
    pytest.param(
        {"weeklyRules": [_rule(end="17:60")]},
        _problem(["weeklyRules", "0", "end"], 'must be a time "HH:MM" from 00:00 to 24:00', "invalid_time"),
        id="minutes",
    ),
    pytest.param(
        {"weeklyRules": [_rule(start="24:00", end="24:00")]},
        _problem(["weeklyRules", "0", "start"], "must be before 24:00", "invalid_time"),
        id="start-at-midnight",
    ),
    pytest.param(
        {"dateOverrides": [{"date": "2027-02-30", "intervals": []}]},
        _problem(["dateOverrides", "0", "date"], 'must be a date "YYYY-MM-DD"', "invalid_date"),
        id="date",
    ),
    pytest.param(
        {"dateOverrides": [{"date": "20270102", "intervals": []}]},
        _problem(["dateOverrides", "0", "date"], 'must be a date "YYYY-MM-DD"', "invalid_date"),
        id="date-format",
    ),
    pytest.param(
        {
            "dateOverrides": [
                {"date": "2027-01-02", "intervals": []},
                {"date": "2027-01-02", "intervals": [{"start": "10:00", "end": "11:00"}]},
            ]
        },
        _problem(
            ["dateOverrides", "1", "date"],
            "2027-01-02 is already overridden at dateOverrides.0",
            "duplicate_date",
        ),
        id="duplicate-date",
    ),
    pytest.param(
        {
            "dateOverrides": [
                {
                    "date": "2027-01-02",
                    "intervals": [{"start": "10:00", "end": "12:00"}, {"start": "08:00", "end": "10:30"}],
                }
            ]
        },
        _problem(
            ["dateOverrides", "0", "intervals", "0", "start"],
            "10:00-12:00 overlaps 08:00-10:30 on 2027-01-02",
            "overlapping_intervals",
        ),
        id="override-overlap",
    ),
    pytest.param(
        {"name": "   "},
        _problem(["name"], "must be a non-empty string", "required"),
        id="blank-name",
    ),
    pytest.param(
        # PostgreSQL cannot store NUL in text: a 500 there until every JSON body was checked for it.
        {"name": "Work\x00"},
        _problem(["name"], "must not contain the NUL character (U+0000)", "nul_character"),
        id="nul-in-name",
    ),
    pytest.param(
        {"weeklyRule": []},
        _problem(["weeklyRule"], "Extra inputs are not permitted", "extra_forbidden"),
        id="unknown-field",
    ),
    pytest.param(
        {"isDefault": "yes"},
        _problem(["isDefault"], "Input should be a valid boolean", "bool_type"),
        id="not-a-boolean",
    ),
    pytest.param(
        {"dateOverrides": [{"date": "2027-01-02"}]},
        _problem(
            ["dateOverrides", "0"],
            "intervals is required (an empty list closes the day)",
            "value_error",
        ),
        id="override-without-intervals",
    ),
]


@pytest.mark.parametrize(("body", "error"), INVALID_SCHEDULES)
def test_invalid_schedule_is_refused(
    live_server: LiveServer, account: Account, body: dict[str, Any], error: dict[str, Any]
) -> None:
    response = call(live_server, account, "POST", "/schedules", body)
    assert response.status_code == 400
    assert response.json() == error
    assert listed(live_server, account) == []


def test_invalid_patch_changes_nothing(live_server: LiveServer, account: Account) -> None:
    schedule = create(live_server, account, {"name": "Main"})
    response = call(
        live_server,
        account,
        "PATCH",
        f"/schedules/{schedule['id']}",
        {"name": "Renamed", "weeklyRules": [_rule(start="10:00", end="09:00")]},
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == ["weeklyRules", "0", "end"]
    assert listed(live_server, account) == [schedule]
    response = call(live_server, account, "PATCH", f"/schedules/{schedule['id']}", {"timezone": None})
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == ["timezone"]


def test_every_problem_is_listed(live_server: LiveServer, account: Account) -> None:
    body = {"timezone": "Nowhere", "weeklyRules": [_rule(day="x"), _rule(start="10:00", end="09:00")]}
    response = call(live_server, account, "POST", "/schedules", body)
    assert response.status_code == 400
    assert [d["path"] for d in response.json()["details"]] == [
        ["timezone"],
        ["weeklyRules", "0", "day"],
        ["weeklyRules", "1", "end"],
    ]


def test_not_json_is_refused(live_server: LiveServer, account: Account) -> None:
    response = requests.post(
        f"{live_server.url}/api/v2/schedules",
        data="name=x",
        headers={"Authorization": f"Bearer {account.token}", "Content-Type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json() == {
        "title": "Invalid Argument",
        "message": "The request body must be a JSON object.",
        "details": [
            {"path": [], "message": "The request body must be a JSON object.", "code": "invalid_json"}
        ],
    }


def test_json_nested_too_deeply_is_refused_as_not_json(live_server: LiveServer, account: Account) -> None:
    """A hundred thousand ``[``: the JSON parser gives up with a RecursionError, which was a 500."""
    for path in ("/schedules", "/bookings"):
        response = requests.post(
            f"{live_server.url}/api/v2{path}",
            data="[" * 100_000 + "]" * 100_000,
            headers={"Authorization": f"Bearer {account.token}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 400, (path, response.text)
        assert response.json()["details"][0]["code"] == "invalid_json"


def test_token_and_scopes_are_required(live_server: LiveServer) -> None:
    response = call(live_server, None, "GET", "/schedules")
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    reader = create_account(live_server.database_url, scopes=["read:schedules"])
    assert call(live_server, reader, "GET", "/schedules").status_code == 200
    response = call(live_server, reader, "POST", "/schedules", {"name": "Nope"})
    assert response.status_code == 403
    assert response.json() == {
        "title": "Forbidden",
        "message": "The access token lacks the scope(s) write:schedules.",
    }

    writer_only = create_account(live_server.database_url, scopes=["write:schedules"])
    assert call(live_server, writer_only, "POST", "/schedules", {}).status_code == 201
    assert call(live_server, writer_only, "GET", "/schedules").status_code == 403
    profile_only = create_account(live_server.database_url, scopes=["read:profile"])
    assert call(live_server, profile_only, "GET", "/schedules").status_code == 403


def test_another_users_schedule_is_not_found(live_server: LiveServer, account: Account) -> None:
    schedule = create(live_server, account, {"name": "Mine"})
    stranger = create_account(live_server.database_url)
    path = f"/schedules/{schedule['id']}"
    for method, body in (("GET", None), ("PATCH", {"name": "Theirs"}), ("DELETE", None)):
        response = call(live_server, stranger, method, path, body)
        assert response.status_code == 404, method
        assert response.json() == {"title": "Not Found", "message": f"no schedule {schedule['id']!r}"}
    assert listed(live_server, stranger) == []
    assert listed(live_server, account) == [schedule]
    assert call(live_server, account, "GET", "/schedules/sch_doesnotexist").status_code == 404


def test_one_default_per_user(live_server: LiveServer, account: Account) -> None:
    first = create(live_server, account, {"name": "A", "isDefault": False})
    assert first["isDefault"] is True  # the first one is the default whatever was asked
    second = create(live_server, account, {"name": "B"})
    assert second["isDefault"] is False
    create(live_server, account, {"name": "C", "isDefault": True})
    assert defaults(live_server, account) == {"A": False, "B": False, "C": True}

    response = call(live_server, account, "PATCH", f"/schedules/{second['id']}", {"isDefault": True})
    assert response.status_code == 200 and response.json()["isDefault"] is True
    assert defaults(live_server, account) == {"A": False, "B": True, "C": False}

    # Clearing the flag on the default would leave the user without one.
    response = call(live_server, account, "PATCH", f"/schedules/{second['id']}", {"isDefault": False})
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == ["isDefault"]
    # Saying false on a schedule that is not the default changes nothing.
    response = call(live_server, account, "PATCH", f"/schedules/{first['id']}", {"isDefault": False})
    assert response.status_code == 200
    assert defaults(live_server, account) == {"A": False, "B": True, "C": False}

    # Deleting the default hands the flag to the oldest remaining schedule.
    assert call(live_server, account, "DELETE", f"/schedules/{second['id']}").status_code == 204
    assert defaults(live_server, account) == {"A": True, "C": False}
    assert call(live_server, account, "DELETE", f"/schedules/{first['id']}").status_code == 204
    assert defaults(live_server, account) == {"C": True}

    # Another user's schedules are untouched by all this.
    other = create_account(live_server.database_url)
    assert create(live_server, other, {"name": "Theirs"})["isDefault"] is True
    assert defaults(live_server, account) == {"C": True}


def test_concurrent_creates_leave_exactly_one_default(live_server: LiveServer, account: Account) -> None:
    names = [f"S{n}" for n in range(6)]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        statuses = list(
            pool.map(
                lambda name: call(live_server, account, "POST", "/schedules", {"name": name}).status_code,
                names,
            )
        )
    assert statuses == [201] * len(names)
    assert sorted(defaults(live_server, account).values()) == [False] * (len(names) - 1) + [True]


def test_deleting_a_schedule_used_by_an_event_type(live_server: LiveServer, account: Account) -> None:
    create(live_server, account, {"name": "Default"})
    evenings = create(
        live_server, account, {"name": "Evenings", "weeklyRules": [_rule(start="18:00", end="21:00")]}
    )
    response = call(
        live_server, account, "POST", "/event-types", {"name": "Evening call", "scheduleId": evenings["id"]}
    )
    assert response.status_code == 201, response.text
    event_type = response.json()
    assert event_type["scheduleId"] == evenings["id"]

    assert call(live_server, account, "DELETE", f"/schedules/{evenings['id']}").status_code == 204
    after = call(live_server, account, "GET", f"/event-types/{event_type['id']}").json()
    assert after["scheduleId"] is None  # falls back to the default schedule
    assert after["updatedAt"] >= event_type["updatedAt"]
    assert defaults(live_server, account) == {"Default": True}
