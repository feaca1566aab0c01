"""The REST contract (api/openapi/caledee-api-v2.openapi.json, copied from the seed): every path this
release implements answers at the documented place, with the documented scope and error body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.conftest import LiveServer, create_account

CONTRACT = json.loads(
    (Path(__file__).parent.parent / "api" / "openapi" / "caledee-api-v2.openapi.json").read_text()
)
# Leads and contacts are specified by a later issue; everything else in the contract is served now.
DEFERRED = {"/leads", "/contacts"}
OPERATIONS = [
    (path, method.upper(), operation["security"][0]["bearerAuth"])
    for path, item in CONTRACT["paths"].items()
    if path not in DEFERRED
    for method, operation in item.items()
]


def url_for(server: LiveServer, path: str) -> str:
    return server.url + "/api/v2" + path.replace("{id}", "bkg_doesnotexist")


def test_contract_is_the_seed_document() -> None:
    assert CONTRACT["info"]["title"] == "Caledee Public API" and CONTRACT["info"]["version"] == "v2"
    assert {p for p, _, _ in OPERATIONS} == {
        "/me",
        "/event-types",
        "/availability",
        "/bookings",
        "/bookings/{id}",
    }


@pytest.mark.parametrize(("path", "method", "scopes"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_missing_token_is_401_with_the_error_body(
    live_server: LiveServer, path: str, method: str, scopes: list[str]
) -> None:
    response = requests.request(method, url_for(live_server, path), json={}, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert set(body) >= {"title", "message"} and body["title"] and body["message"]


@pytest.mark.parametrize(("path", "method", "scopes"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_documented_scope_is_required(
    live_server: LiveServer, path: str, method: str, scopes: list[str]
) -> None:
    unrelated = "read:profile" if scopes != ["read:profile"] else "read:bookings"
    lacking = create_account(live_server.database_url, scopes=[unrelated])
    response = requests.request(
        method,
        url_for(live_server, path),
        json={},
        headers={"Authorization": f"Bearer {lacking.token}"},
        timeout=10,
    )
    assert response.status_code == 403
    assert scopes[0] in response.json()["message"]

    holding = create_account(live_server.database_url, scopes=scopes)
    allowed = requests.request(
        method,
        url_for(live_server, path),
        json={},
        headers={"Authorization": f"Bearer {holding.token}"},
        timeout=10,
    )
    assert allowed.status_code not in (401, 403, 405)
    assert allowed.headers["Content-Type"].startswith("application/json")


def test_expired_and_forged_tokens_are_401(live_server: LiveServer) -> None:
    from datetime import timedelta

    from caldee_dav import clock, db
    from caldee_dav.calendars import accounts
    from caldee_dav.models import ApiToken

    account = create_account(live_server.database_url)
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        token = session.query(ApiToken).filter_by(token_hash=accounts.hash_token(account.token)).one()
        token.expires_at = clock.now() - timedelta(seconds=1)
    for secret in (account.token, "pat_forged", "not-a-pat"):
        response = requests.get(
            live_server.url + "/api/v2/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
        assert response.status_code == 401 and response.json()["title"] == "Unauthorized"


def test_me_matches_the_user_schema(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, timezone="Europe/Paris")
    body = requests.get(
        live_server.url + "/api/v2/me", headers={"Authorization": f"Bearer {account.token}"}, timeout=10
    ).json()
    assert set(body) == set(CONTRACT["components"]["schemas"]["User"]["properties"])
    assert (
        body["slug"] == account.slug and body["email"] == account.email and body["timezone"] == "Europe/Paris"
    )
