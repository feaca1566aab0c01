"""Ids and cursors no client of ours sends: a NUL in a path (PostgreSQL text cannot hold one, so every
lookup by such an id was a 500 there) and forged cursors are a 404 and a 400 with the error body."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.conftest import Account, LiveServer

PATHS = [
    "/api/v2/bookings/bkg_a%00",
    "/api/v2/event-types/evt_a%00",
    "/api/v2/schedules/sch_a%00",
    "/api/v2/teams/team_a%00",
    "/api/v2/calendars/cal_a%00",
    "/api/v2/calendars/cal_a%00/events",
    "/api/v2/leads/lead_a%00",
    "/api/v2/api-keys/tok_a%00",
    "/api/v2/public/a%00",
    "/api/v2/public/a%00/b/slots",
    "/a%00/b",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_nul_in_a_path_is_404(live_server: LiveServer, account: Account, path: str) -> None:
    response = requests.get(
        live_server.url + path, headers={"Authorization": f"Bearer {account.token}"}, timeout=10
    )
    assert response.status_code == 404, response.text
    assert set(response.json()) >= {"title", "message"}


def _cursor(*fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(fields)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2027-01-01T00:00:00+00:00", "bkg_\u0000"),
        _cursor("0001-01-01T00:00:00+01:00", "bkg_0000000000000000"),
        _cursor("2027-01-01T00:00:00+00:00", "x" * 500),
    ],
    ids=["nul-id", "year-1-at-plus-1", "long-id"],
)
def test_a_forged_bookings_cursor_is_400(live_server: LiveServer, account: Account, cursor: str) -> None:
    response = requests.get(
        f"{live_server.url}/api/v2/bookings",
        params={"cursor": cursor},
        headers={"Authorization": f"Bearer {account.token}"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["path"] == ["cursor"]
