"""Schemathesis against the live server: every operation the served contract documents, called with
requests generated from the document (valid ones and invalid ones), by a token holding every scope.

Each answer must be no 5xx, of a status the operation documents, of the documented content type, and
with a body and headers that match the documented schema (schemathesis' default checks). Path ids are
the account's real ones most of the time, so that the documented 200s are reached and not only 404s.

A few examples per operation keep the file under a minute and a half on one backend: SQLite only (every
answer's shape is decided in Python, above the database).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from api import create_app
from api.contract import served_contract
from caldee_dav.config import Settings
from tests.conftest import Account, LiveServer, api_request, create_account, start_server, stop_server
from tests.dates import TUE, at, next_weekday

UNLIMITED = {"CALEDEE_API_REQUESTS_PER_MINUTE": "0", "CALEDEE_PUBLIC_REQUESTS_PER_MINUTE": "0"}
# CALEDEE_TEST_SCHEMATHESIS_DEEP=1: schemathesis' coverage phase too (its deterministic edge cases:
# missing and wrong-typed fields, boundary values) and many more examples, for a search before a
# release (several minutes); by default the fuzzing phase alone, a few examples per operation (~40 s).
DEEP = os.environ.get("CALEDEE_TEST_SCHEMATHESIS_DEEP", "") not in ("", "0")
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": DEEP}}})
# The document the server serves (less its "servers", the one thing it fills in per request): loaded
# when the tests are collected, one test per operation; requests go to the live server's URL.


def _served_operations() -> dict[str, Any]:
    """The served document less the operations no route answers yet (the seed's /leads and /contacts
    until their release): those are tests/test_api_contract.py's business."""
    document = copy.deepcopy(served_contract())
    app = create_app(Settings(database_url="sqlite://"))
    routed = {
        (re.sub(r"<[^>]+>", "{}", rule.rule.removeprefix("/api/v2")), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }
    for path, item in document["paths"].items():
        for method in [m for m in item if (re.sub(r"\{[^}]+\}", "{}", path), m) not in routed]:
            del item[method]
    document["paths"] = {path: item for path, item in document["paths"].items() if item}
    return document


schema = schemathesis.openapi.from_dict(_served_operations(), config=CONFIG)
MAX_EXAMPLES = 60 if DEEP else 8
# What an answer must be. Not `ignored_auth` (it sends its probes through schemathesis' own sender, see
# below; tests/test_api_contract.py sends every operation without a token and checks the 401).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# How often a case keeps its generated path ids rather than the account's real ones (one in N).
GENERATED_IDS_EVERY = 4


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The live server without rate limits: a few hundred requests a minute would otherwise be 429s
    (documented, and so no failure, but they would hide the answers this file is about)."""
    server = start_server(database_url, tmp_path_factory.mktemp("server"), extra_env=UNLIMITED)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> Account:
    if not live_server.database_url.startswith("sqlite"):
        pytest.skip("schemathesis runs on SQLite only (the answers' shapes do not depend on the database)")
    return create_account(live_server.database_url, timezone="Europe/Paris")


@pytest.fixture(scope="module")
def real_ids(live_server: LiveServer, owner: Account) -> dict[str, str]:
    """One of each resource the account owns, by the path parameter that names it."""

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api_request(live_server, owner, "POST", path, body)
        assert response.status_code == 201, response.text
        return response.json()

    schedule = made(
        "/schedules",
        {
            "name": "Hours",
            "timezone": "Europe/Paris",
            "weeklyRules": [
                {"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")
            ],
        },
    )
    event_type = made(
        "/event-types", {"name": "Chat", "slug": "chat", "durationsMin": [30], "scheduleId": schedule["id"]}
    )
    start = at(next_weekday(TUE, after_days=7), 10, zone="Europe/Paris")
    booking = made(
        "/bookings",
        {
            "eventTypeId": event_type["id"],
            "start": start.isoformat(),
            "durationMin": 30,
            "invitee": {"name": "Ann", "email": "ann@example.com", "timezone": "Europe/Paris"},
        },
    )
    calendars = api_request(live_server, owner, "GET", "/calendars").json()["data"]
    calendar_id = calendars[0]["id"]
    event = made(
        f"/calendars/{calendar_id}/events",
        {
            "title": "Lunch",
            "start": start.isoformat(),
            "end": (start.replace(hour=11)).isoformat(),
        },
    )
    team = made("/teams", {"name": "Team"})
    memberships = api_request(live_server, owner, "GET", f"/teams/{team['id']}/memberships").json()["data"]
    return {
        "schedules": schedule["id"],
        "event-types": event_type["id"],
        "bookings": booking["id"],
        "calendars": calendar_id,
        "calendarId": calendar_id,
        "eventId": event["id"],
        "teams": team["id"],
        "membershipId": memberships[0]["id"],
        "userSlug": owner.slug,
        "eventSlug": "chat",
    }


@pytest.fixture(scope="module")
def turns() -> Iterator[int]:
    return itertools.count()


def _with_real_ids(case: Any, real_ids: dict[str, str], turn: int) -> None:
    """The case's path ids replaced by the account's own, except one case in GENERATED_IDS_EVERY and
    the deletes (but a booking's, a cancellation that keeps it): the operations run in the document's
    order, and a resource deleted early would leave the later ones only 404s."""
    if turn % GENERATED_IDS_EVERY == 0 or not case.path_parameters:
        return
    if case.method == "DELETE" and case.path != "/bookings/{id}":
        return
    resource = case.path.strip("/").split("/")[0]
    for name in case.path_parameters:
        key = resource if name == "id" else name
        if key in real_ids:
            case.path_parameters[name] = real_ids[key]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_answers_as_documented(
    case: Any, live_server: LiveServer, owner: Account, real_ids: dict[str, str], turns: Iterator[int]
) -> None:
    _with_real_ids(case, real_ids, next(turns))
    headers = {"Authorization": f"Bearer {owner.token}"}
    # Sent with requests directly: schemathesis' own sender counts urllib3's pools, which the
    # urllib3-future that caldav's niquests installs does not let it do (an AttributeError).
    request = case.as_transport_kwargs(base_url=live_server.url + "/api/v2", headers=headers)
    response = requests.request(**request, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=request)
