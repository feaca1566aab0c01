"""REST rate limits (issue #12): every /api/v2 answer carries X-RateLimit-Limit, -Remaining and -Reset
(Unix seconds, the end of the current clock minute); past the limit a client gets 429 with Retry-After
and the contract's error body. Counted per token when the request carries a valid one, else per client
address; with `redis://` storage every server process shares the counters.

The servers run with small limits. Each test speaks from addresses of its own (127/8 is all this
machine; random ones where counters may live in a Redis shared with other runs) and with tokens of its
own, so no test spends another's limit. Windows are clock minutes: a test that must see a limit reached
starts its burst early enough in a minute (``fresh_window``)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from caldee_dav.config import load_settings
from tests.conftest import Account, LiveServer, create_account, free_port, start_server, stop_server

TOKEN_LIMIT = 6
ADDRESS_LIMIT = 4
REDIS = ("127.0.0.1", 6379)
LIMITS_ENV = {
    "CALEDEE_API_REQUESTS_PER_MINUTE": str(TOKEN_LIMIT),
    "CALEDEE_PUBLIC_REQUESTS_PER_MINUTE": str(ADDRESS_LIMIT),
}
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def client_at(address: str | None = None) -> requests.Session:
    """HTTP requests from ``address`` (a loopback address of this machine; random by default)."""
    address = address or f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


def call(
    client: requests.Session, server: LiveServer, path: str, token: str | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"{server.url}/api/v2{path}", headers=headers, timeout=10)


def fresh_window(seconds_needed: float = 8.0) -> None:
    """Wait for the next clock minute when fewer than ``seconds_needed`` are left of this one, so that
    a burst is counted in one window."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.05)


def stats(response: requests.Response) -> tuple[int, int, int]:
    """The three headers, as integers (each must be there and be one)."""
    limit, remaining, reset = (int(response.headers[name]) for name in HEADERS)
    return limit, remaining, reset


def assert_rate_limited(response: requests.Response, limit: int) -> None:
    """A 429 as the contract says: its error body, Retry-After in seconds, nothing left."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) <= {"title", "message", "details"} and body["title"] == "Too Many Requests"
    assert "rate limit" in body["message"].lower()
    wait = int(response.headers["Retry-After"])
    got_limit, remaining, reset = stats(response)
    assert (got_limit, remaining) == (limit, 0)
    assert 1 <= wait <= 60 and abs(time.time() + wait - reset) <= 2


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path_factory.mktemp("limited"), extra_env=LIMITS_ENV)
    yield server
    stop_server(server)


@pytest.fixture
def user(limited_server: LiveServer) -> Account:
    return create_account(limited_server.database_url)


def test_every_answer_tells_the_limit_success_error_and_public(
    limited_server: LiveServer, user: Account
) -> None:
    fresh_window()
    client = client_at()
    answers = {
        "ok": call(client, limited_server, "/me", user.token),
        "not found": call(client, limited_server, "/bookings/bkg_nothing", user.token),
        "bad input": call(client, limited_server, "/availability?eventTypeId=x&from=never", user.token),
    }
    assert [a.status_code for a in answers.values()] == [200, 404, 400]
    assert [stats(a)[:2] for a in answers.values()] == [(TOKEN_LIMIT, TOKEN_LIMIT - n) for n in (1, 2, 3)]
    public = {
        "public": call(client, limited_server, f"/public/{user.slug}"),
        "no token": call(client, limited_server, "/me"),
        "bad token": call(client, limited_server, "/me", "pat_forged"),
        "no route": call(client, limited_server, "/no-such-thing"),
    }
    assert [a.status_code for a in public.values()] == [200, 401, 401, 404]
    assert [stats(a)[:2] for a in public.values()] == [
        (ADDRESS_LIMIT, ADDRESS_LIMIT - n) for n in (1, 2, 3, 4)
    ]
    for answer in [*answers.values(), *public.values()]:
        reset = stats(answer)[2]
        # Unix seconds: the end of the current clock minute, in the future.
        assert time.time() < reset <= time.time() + 61 and reset % 60 == 0
    # Outside /api/v2 (health, CalDAV, feeds) nothing is counted or told.
    assert "X-RateLimit-Limit" not in client.get(f"{limited_server.url}/health", timeout=10).headers


def test_a_token_past_its_limit_gets_429_and_other_tokens_do_not(
    limited_server: LiveServer, user: Account
) -> None:
    fresh_window()
    client = client_at()
    remaining = [stats(call(client, limited_server, "/me", user.token))[1] for _ in range(TOKEN_LIMIT)]
    assert remaining == list(range(TOKEN_LIMIT - 1, -1, -1))
    assert_rate_limited(call(client, limited_server, "/me", user.token), TOKEN_LIMIT)
    # Every route, not only the one used up: the limit is the token's.
    assert_rate_limited(call(client, limited_server, "/event-types", user.token), TOKEN_LIMIT)

    # Another token (of the same user, from the same address) has its own limit; so do requests
    # without a token from that address.
    other = create_account(limited_server.database_url)
    fresh = call(client, limited_server, "/me", other.token)
    assert fresh.status_code == 200 and stats(fresh)[:2] == (TOKEN_LIMIT, TOKEN_LIMIT - 1)
    assert call(client, limited_server, f"/public/{user.slug}").status_code == 200


def test_requests_without_a_token_are_limited_per_client_address(
    limited_server: LiveServer, user: Account
) -> None:
    fresh_window()
    visitor, neighbour = client_at(), client_at()
    for _ in range(ADDRESS_LIMIT):
        assert call(visitor, limited_server, f"/public/{user.slug}").status_code == 200
    assert_rate_limited(call(visitor, limited_server, f"/public/{user.slug}"), ADDRESS_LIMIT)
    # The address is used up everywhere without a token: the contract, a 401, a booking page...
    assert_rate_limited(call(visitor, limited_server, "/openapi.json"), ADDRESS_LIMIT)
    assert_rate_limited(call(visitor, limited_server, "/me", "pat_guess"), ADDRESS_LIMIT)
    page = visitor.get(f"{limited_server.url}/{user.slug}/no-such-type", timeout=10)
    assert_rate_limited(page, ADDRESS_LIMIT)
    # ... but not for a valid token from it, nor for another address.
    assert call(visitor, limited_server, "/me", user.token).status_code == 200
    assert call(neighbour, limited_server, f"/public/{user.slug}").status_code == 200


def test_the_issues_environment_name_sets_the_storage(tmp_path: object) -> None:
    environ = {"CALEDEE_CONFIG": "/nonexistent.toml", "CALEDEE_RATELIMIT_STORAGE": "redis://127.0.0.1:6379/3"}
    assert load_settings(None, environ=environ).rate_limit_storage_url == "redis://127.0.0.1:6379/3"
    both = {**environ, "CALEDEE_RATE_LIMIT_STORAGE_URL": "memory://"}
    assert load_settings(None, environ=both).rate_limit_storage_url == "memory://"


def redis_reachable() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        with socket.create_connection(REDIS, timeout=1):
            pass
        return bool(redis.Redis(*REDIS, socket_timeout=1).ping())
    except (OSError, redis.RedisError):
        return False


@pytest.fixture(scope="module")
def redis_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveServer]]:
    """Two server processes on one database counting in one Redis (one configured by the issue's
    environment name, one by the setting's)."""
    if not redis_reachable():
        print(f"Redis not reachable at {REDIS[0]}:{REDIS[1]}: shared counters not tested")
        pytest.skip(f"Redis not reachable at {REDIS[0]}:{REDIS[1]} (or the redis client not installed)")
    url = f"redis://{REDIS[0]}:{REDIS[1]}/{random.randint(0, 15)}"
    servers = [
        start_server(database_url, tmp_path_factory.mktemp("redis"), extra_env={**LIMITS_ENV, name: url})
        for name in ("CALEDEE_RATELIMIT_STORAGE", "CALEDEE_RATE_LIMIT_STORAGE_URL")
    ]
    yield servers
    for server in servers:
        stop_server(server)


def test_two_server_processes_share_the_counters_through_redis(redis_servers: list[LiveServer]) -> None:
    first, second = redis_servers
    account = create_account(first.database_url)
    fresh_window()
    client = client_at()
    # Alternating between the processes, one count goes down: the token's limit holds across both.
    remaining = [
        stats(call(client, (first, second)[n % 2], "/me", account.token))[1] for n in range(TOKEN_LIMIT)
    ]
    assert remaining == list(range(TOKEN_LIMIT - 1, -1, -1))
    assert_rate_limited(call(client, first, "/me", account.token), TOKEN_LIMIT)
    assert_rate_limited(call(client, second, "/me", account.token), TOKEN_LIMIT)
    # Per address too (a random address: the counters may outlive this run in Redis).
    for n in range(ADDRESS_LIMIT):
        assert call(client, (second, first)[n % 2], f"/public/{account.slug}").status_code == 200
    assert_rate_limited(call(client, first, f"/public/{account.slug}"), ADDRESS_LIMIT)
    assert_rate_limited(call(client, second, f"/public/{account.slug}"), ADDRESS_LIMIT)


def test_an_unreachable_storage_lets_requests_through(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Fail open: a Redis outage must not refuse every client; the log says why nothing is counted."""
    storage = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = {**LIMITS_ENV, "CALEDEE_RATE_LIMIT_STORAGE_URL": storage}
    server = start_server(database_url, tmp_path_factory.mktemp("outage"), extra_env=env)
    try:
        account = create_account(database_url)
        client = client_at()
        answers = [call(client, server, "/me", account.token) for _ in range(TOKEN_LIMIT + 2)]
        answers += [call(client, server, f"/public/{account.slug}") for _ in range(ADDRESS_LIMIT + 2)]
        assert {a.status_code for a in answers} == {200}
        assert all("X-RateLimit-Limit" not in a.headers for a in answers)
        assert "request rate limits: storage unavailable" in server.log()
    finally:
        stop_server(server)
