"""Failed logins are throttled per client address, on REST and CalDAV alike (issue #10, item 6), and a
CalDAV login with a token lacking the `caldav` scope is told so (item 17).

The server runs with a small limit and a short window. Each test speaks from its own loopback address
(127.0.0.x: all of 127/8 is this machine), so the tests do not share counters, and a second address
shows that one address's failures never refuse another."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import Account, LiveServer, create_account, start_server, stop_server

# Small: a failed CalDAV login is as slow as a password check (Radicale evens out their timing).
LIMIT = 3
WINDOW_SECONDS = 2


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def client_at(address: str) -> requests.Session:
    """HTTP requests that come from ``address`` (a loopback address of this machine)."""
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


@pytest.fixture(scope="module")
def throttled_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = {
        "CALEDEE_LOGIN_FAILURE_LIMIT": str(LIMIT),
        "CALEDEE_LOGIN_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
    }
    server = start_server(database_url, tmp_path_factory.mktemp("throttle"), extra_env=settings)
    yield server
    stop_server(server)


@pytest.fixture
def user(throttled_server: LiveServer) -> Account:
    return create_account(throttled_server.database_url)


def me(client: requests.Session, server: LiveServer, token: str) -> requests.Response:
    return client.get(f"{server.url}/api/v2/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def propfind(client: requests.Session, server: LiveServer, slug: str, password: str) -> requests.Response:
    return client.request(
        "PROPFIND",
        f"{server.dav_url}{slug}/calendar/",
        auth=(slug, password),
        headers={"Depth": "1"},
        timeout=10,
    )


def retry_after(response: requests.Response) -> int:
    assert response.status_code == 429, response.text
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= WINDOW_SECONDS
    return seconds


def test_rest_refuses_an_address_past_its_failed_logins_then_lets_it_in_again(
    throttled_server: LiveServer, user: Account
) -> None:
    guesser, neighbour = client_at("127.0.0.11"), client_at("127.0.0.12")
    assert me(guesser, throttled_server, user.token).status_code == 200
    for attempt in range(LIMIT):
        assert me(guesser, throttled_server, f"pat_guess{attempt}").status_code == 401
    refused = me(guesser, throttled_server, "pat_guess-more")
    wait = retry_after(refused)
    assert "too many failed logins" in refused.json()["message"].lower()
    # Refused before the token is looked at: the good token does not get in from that address either...
    retry_after(me(guesser, throttled_server, user.token))
    # ... but another address, with the same good token, does.
    assert me(neighbour, throttled_server, user.token).status_code == 200
    # Once Retry-After has passed, the address may log in again (polled: the window moves on its own).
    deadline = time.monotonic() + wait + 2
    while (status := me(guesser, throttled_server, user.token).status_code) == 429:
        assert time.monotonic() < deadline, "still refused well after Retry-After"
        time.sleep(0.1)
    assert status == 200


def test_caldav_refuses_an_address_past_its_failed_logins(
    throttled_server: LiveServer, user: Account
) -> None:
    guesser, neighbour = client_at("127.0.0.21"), client_at("127.0.0.22")
    for _ in range(LIMIT + 1):
        # Not failed logins: a CalDAV client asks without credentials first and is asked for them
        # (401), and good logins. Were they counted, the guesses below would be refused sooner.
        anonymous = guesser.request("PROPFIND", f"{throttled_server.dav_url}{user.slug}/", timeout=10)
        assert anonymous.status_code == 401
        assert propfind(guesser, throttled_server, user.slug, user.password).status_code == 207
    for attempt in range(LIMIT):
        assert propfind(guesser, throttled_server, user.slug, f"guess{attempt}").status_code == 401
    refused = propfind(guesser, throttled_server, user.slug, "guess-more")
    retry_after(refused)
    assert "too many failed logins" in refused.text.lower()
    # The right password (and a CalDAV token) are refused too from that address, not from another.
    retry_after(propfind(guesser, throttled_server, user.slug, user.password))
    retry_after(propfind(guesser, throttled_server, user.slug, user.token))
    assert propfind(neighbour, throttled_server, user.slug, user.password).status_code == 207


def test_rest_and_caldav_failures_count_together(throttled_server: LiveServer, user: Account) -> None:
    guesser = client_at("127.0.0.31")
    for attempt in range(LIMIT - 1):
        assert propfind(guesser, throttled_server, user.slug, f"guess{attempt}").status_code == 401
    assert me(guesser, throttled_server, "pat_guess-last").status_code == 401
    retry_after(me(guesser, throttled_server, user.token))
    retry_after(propfind(guesser, throttled_server, user.slug, user.password))


def test_caldav_token_without_the_caldav_scope_is_told_which_scope_it_lacks(
    throttled_server: LiveServer,
) -> None:
    """Item 17: 403 naming the scope (was 401 "forbidden", which sent clients asking for a password),
    on the fast path's requests (PROPFIND Depth 1, PUT of an event) and on Radicale's (the principal)."""
    account = create_account(throttled_server.database_url, scopes=["read:profile"])
    client = client_at("127.0.0.51")
    auth = (account.slug, account.token)
    answers = [
        propfind(client, throttled_server, account.slug, account.token),
        client.request("PROPFIND", f"{throttled_server.dav_url}{account.slug}/", auth=auth, timeout=10),
        client.put(
            f"{throttled_server.dav_url}{account.slug}/calendar/e.ics",
            data="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            headers={"Content-Type": "text/calendar"},
            auth=auth,
            timeout=10,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert "`caldav` scope" in answer.text
        assert "WWW-Authenticate" not in answer.headers
    # These refusals are no failed logins (the three of them reach the limit, yet the password below
    # works); a token that is not the user's at all is still asked for credentials (401).
    assert len(answers) >= LIMIT
    stranger = propfind(client, throttled_server, account.slug, "pat_" + "x" * 43)
    assert stranger.status_code == 401 and "WWW-Authenticate" in stranger.headers
    assert propfind(client, throttled_server, account.slug, account.password).status_code == 207


def test_a_garbage_put_logs_one_warning_line(throttled_server: LiveServer, user: Account) -> None:
    """Item 17: a client's mistake is a warning line in the log, not an error with a traceback."""
    client = client_at("127.0.0.61")
    before = len(throttled_server.log().splitlines())
    answer = client.put(
        f"{throttled_server.dav_url}{user.slug}/calendar/garbage.ics",
        data="this is no calendar",
        headers={"Content-Type": "text/calendar"},
        auth=(user.slug, user.password),
        timeout=10,
    )
    assert answer.status_code == 400
    logged = throttled_server.log().splitlines()[before:]
    assert len([line for line in logged if "garbage.ics" in line]) == 1, logged
    assert not any("Traceback" in line or "ERROR" in line for line in logged), logged
