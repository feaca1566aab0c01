"""API keys over REST (issue #12): a user lists, creates and revokes their own personal access tokens
with a token holding `manage:api-keys`. The secret is shown once and stored only as a hash; a key never
holds more scopes, nor lives longer, than the token that creates it; a revoked key is refused at once,
by another server process on the same database too (REST and CalDAV)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from caldee_dav import db
from caldee_dav.calendars import accounts
from tests.conftest import Account, LiveServer, api_request, create_account, start_server, stop_server

MANAGE = "manage:api-keys"


def create_key(server: LiveServer, account: Account, body: object) -> requests.Response:
    return api_request(server, account, "POST", "/api-keys", body)


def as_key(account: Account, secret: str) -> Account:
    """``account`` speaking with the key ``secret``."""
    return Account(account.slug, account.email, account.password, secret, account.user_id)


def list_keys(server: LiveServer, account: Account) -> list[dict[str, object]]:
    response = api_request(server, account, "GET", "/api-keys")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def stored_bytes(database_url: str) -> bytes:
    """Everything the database holds of the tokens table: the SQLite file (and its WAL), or on
    PostgreSQL every row as text."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    with db.engine_for(database_url).connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM api_tokens")).all()
    return repr(rows).encode()


def test_a_key_is_shown_once_listed_masked_stored_hashed_and_revoked(live_server: LiveServer) -> None:
    owner = create_account(live_server.database_url)
    created = create_key(
        live_server, owner, {"name": "agent", "scopes": ["read:profile"], "expiresInDays": 30}
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith("pat_") and len(secret) > 40
    assert key["name"] == "agent" and key["scopes"] == ["read:profile"] and key["state"] == "active"
    assert key["prefix"] == secret[:8] + "…" and key["expiresAt"].endswith("Z")
    assert created.headers["Location"] == f"/api/v2/api-keys/{key['id']}"
    assert created.headers["Cache-Control"] == "no-store"

    # The new key works, with its scopes only.
    agent = as_key(owner, secret)
    assert api_request(live_server, agent, "GET", "/me").json()["slug"] == owner.slug
    assert api_request(live_server, agent, "GET", "/api-keys").status_code == 403

    # The list names it, masked: the secret is in no list answer, and not in the database either.
    listing = api_request(live_server, owner, "GET", "/api-keys")
    assert secret not in listing.text and secret[8:16] not in listing.text
    listed = {k["id"]: k for k in listing.json()["data"]}
    assert set(listed[key["id"]]) == {
        "id", "name", "prefix", "scopes", "state", "createdAt", "lastUsedAt", "expiresAt", "revokedAt"
    }  # fmt: skip
    assert listed[key["id"]]["prefix"] == key["prefix"] and listed[key["id"]]["lastUsedAt"] is not None
    assert "key" not in listed[key["id"]]
    stored = stored_bytes(live_server.database_url)
    assert secret.encode() not in stored and accounts.hash_token(secret).encode() in stored

    # Revoked: refused from the next request on, listed as revoked; revoking again is no error.
    assert api_request(live_server, owner, "DELETE", f"/api-keys/{key['id']}").status_code == 204
    refused = api_request(live_server, agent, "GET", "/me")
    assert refused.status_code == 401 and refused.json()["title"] == "Unauthorized"
    revoked = next(k for k in list_keys(live_server, owner) if k["id"] == key["id"])
    assert revoked["state"] == "revoked" and revoked["revokedAt"]
    assert api_request(live_server, owner, "DELETE", f"/api-keys/{key['id']}").status_code == 204


def test_only_the_callers_own_keys_are_listed_and_revoked(live_server: LiveServer) -> None:
    alice, bob = create_account(live_server.database_url), create_account(live_server.database_url)
    bobs_key = create_key(live_server, bob, {"name": "bob's"}).json()
    alice_ids = {k["id"] for k in list_keys(live_server, alice)}
    assert bobs_key["id"] not in alice_ids and len(alice_ids) == 1  # alice's own token only
    for key_id in (bobs_key["id"], "tok_doesnotexist", "x" * 300, "%00", "tok_%E2%80%A6"):
        response = api_request(live_server, alice, "DELETE", f"/api-keys/{key_id}")
        assert response.status_code == 404, (key_id, response.text)
        assert set(response.json()) >= {"title", "message"}
    assert api_request(live_server, as_key(bob, bobs_key["key"]), "GET", "/me").status_code == 200


def test_a_key_never_holds_a_scope_its_creator_lacks(live_server: LiveServer) -> None:
    narrow = create_account(live_server.database_url, scopes=[MANAGE, "read:profile"])
    refused = create_key(live_server, narrow, {"name": "wider", "scopes": ["read:profile", "write:bookings"]})
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert "scopes" in body["message"] and "write:bookings" in body["message"]
    assert body["details"][0]["path"] == ["scopes", "1"]
    # The same with the scope that manages keys left out of the new key: still refused.
    assert create_key(live_server, narrow, {"name": "w", "scopes": ["caldav"]}).status_code == 403

    # No scopes named: the creator's own; a subset is fine.
    same = create_key(live_server, narrow, {"name": "same"}).json()
    assert sorted(same["scopes"]) == sorted([MANAGE, "read:profile"])
    subset = create_key(live_server, narrow, {"name": "sub", "scopes": ["read:profile", "read:profile"]})
    assert subset.status_code == 201 and subset.json()["scopes"] == ["read:profile"]

    # A key without manage:api-keys cannot create keys at all.
    reader = as_key(narrow, subset.json()["key"])
    assert create_key(live_server, reader, {"name": "x", "scopes": ["read:profile"]}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["read:everything"]}, ["scopes", "0"]),
        ({"name": "x", "scopes": []}, ["scopes"]),
        ({"name": "x", "scopes": "read:profile"}, ["scopes"]),
        ({"name": "x", "scopes": [1]}, ["scopes", "0"]),
        ({"name": "x", "expiresInDays": 0}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": -5}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": 36_501}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": 10**40}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": "30"}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": 1.5}, ["expiresInDays"]),
        ({"name": "x", "expiresInDays": True}, ["expiresInDays"]),
        ({"name": ""}, ["name"]),
        ({"name": "   "}, ["name"]),
        ({"name": "n" * 201}, ["name"]),
        ({"name": "a\x00b"}, ["name"]),
        ({"name": 5}, ["name"]),
        ({}, ["name"]),
        ({"name": "x", "key": "pat_mine"}, ["key"]),
    ],
)
def test_bad_input_is_a_400_naming_the_field(live_server: LiveServer, body: object, field: list[str]) -> None:
    owner = create_account(live_server.database_url)
    response = create_key(live_server, owner, body)
    assert response.status_code == 400, response.text
    assert field in [detail["path"] for detail in response.json()["details"]]


def test_expiry_bounds_and_a_key_never_outlives_its_creator(live_server: LiveServer) -> None:
    owner = create_account(live_server.database_url)
    longest = create_key(live_server, owner, {"name": "century", "expiresInDays": 36_500})
    assert longest.status_code == 201 and longest.json()["expiresAt"]
    forever = create_key(live_server, owner, {"name": "forever", "expiresInDays": None})
    assert forever.status_code == 201 and forever.json()["expiresAt"] is None

    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        user = accounts.get_user(session, owner.user_id)
        assert user is not None
        short = accounts.create_token(session, user, name="short", expires_days=10).secret
    creator = as_key(owner, short)
    creator_expiry = next(k["expiresAt"] for k in list_keys(live_server, owner) if k["name"] == "short")
    later = create_key(live_server, creator, {"name": "longer", "expiresInDays": 11})
    assert later.status_code == 400 and later.json()["details"][0]["path"] == ["expiresInDays"]
    assert "outlive" in later.json()["message"]
    inherited = create_key(live_server, creator, {"name": "inherits"})
    assert inherited.status_code == 201 and inherited.json()["expiresAt"] == creator_expiry
    sooner = create_key(live_server, creator, {"name": "sooner", "expiresInDays": 9})
    assert sooner.status_code == 201 and sooner.json()["expiresAt"] < creator_expiry


def test_body_that_is_no_json_object_is_a_400(live_server: LiveServer) -> None:
    owner = create_account(live_server.database_url)
    for data in (b"[]", b"not json", b'"name"', b"{" * 100_000):
        response = requests.post(
            f"{live_server.url}/api/v2/api-keys",
            data=data,
            headers={"Authorization": f"Bearer {owner.token}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 400 and response.json()["title"] == "Invalid Argument"


@pytest.fixture(scope="module")
def second_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Another server process on the same database."""
    server = start_server(live_server.database_url, tmp_path_factory.mktemp("second"))
    yield server
    stop_server(server)


def test_a_revoked_key_is_refused_at_once_by_another_server_process(
    live_server: LiveServer, second_server: LiveServer
) -> None:
    owner = create_account(live_server.database_url)
    key = create_key(live_server, owner, {"name": "both", "scopes": ["read:profile", "caldav"]}).json()
    agent = as_key(owner, key["key"])
    dav = f"{second_server.dav_url}{owner.slug}/"

    def propfind() -> int:
        auth = (owner.slug, key["key"])
        return requests.request("PROPFIND", dav, auth=auth, headers={"Depth": "0"}, timeout=10).status_code

    # Used on the second server (REST and CalDAV, twice: any cache would hold it now)...
    for _ in range(2):
        assert api_request(second_server, agent, "GET", "/me").status_code == 200
        assert propfind() == 207
    # ... revoked through the first, refused by the second on the very next request.
    assert api_request(live_server, owner, "DELETE", f"/api-keys/{key['id']}").status_code == 204
    assert api_request(second_server, agent, "GET", "/me").status_code == 401
    assert propfind() == 401
