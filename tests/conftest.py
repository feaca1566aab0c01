"""Shared fixtures: real databases (an SQLite file, and PostgreSQL when CALEDEE_TEST_POSTGRES_URL is
set) and the real server started with `caledee serve` on a free loopback port.

The clock: CALEDEE_TEST_CLOCK_OFFSET_DAYS (default 0) moves it that many days ahead, in this process
(installed at import, before any test module computes its dates) and in every server and CLI process
the tests start (as CALEDEE_CLOCK_OFFSET_DAYS). Tests take their dates from it (tests/dates.py);
`make test` runs once more with it two years ahead to show that none depends on today's date."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from caldee_dav import clock, db
from caldee_dav.calendars import accounts
from caldee_dav.schema import migrate

T = TypeVar("T")
POSTGRES_ENV = "CALEDEE_TEST_POSTGRES_URL"
CLOCK_OFFSET_ENV = "CALEDEE_TEST_CLOCK_OFFSET_DAYS"
ROOT = Path(__file__).resolve().parent.parent
# Small enough that the size-limit tests send little, large enough for any real test object.
TEST_MAX_RESOURCE_SIZE = 1_000_000
# For start_server: the server starts its `caledee worker` (outgoing mail, webhooks, time-based events).
BACKGROUND = {"CALEDEE_BACKGROUND_IN_SERVER": "true"}


def _clock_offset_days() -> int:
    value = os.environ.get(CLOCK_OFFSET_ENV, "").strip() or "0"
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{CLOCK_OFFSET_ENV} must be a whole number of days, not {value!r}") from None


CLOCK_OFFSET_DAYS = _clock_offset_days()
clock.install(clock.Clock.moved_by_days(CLOCK_OFFSET_DAYS))


def clock_env() -> dict[str, str]:
    """The environment that gives a server or CLI process the tests' clock."""
    return {"CALEDEE_CLOCK_OFFSET_DAYS": str(CLOCK_OFFSET_DAYS)}


def pytest_report_header(config: pytest.Config) -> list[str]:
    if os.environ.get(POSTGRES_ENV):
        postgres = f"PostgreSQL tests: on ({os.environ[POSTGRES_ENV]})"
    else:
        postgres = (
            f"PostgreSQL tests: SKIPPED (set {POSTGRES_ENV} to run the store, booking and concurrency tests"
            " on PostgreSQL)"
        )
    today = clock.now().date().isoformat()
    if CLOCK_OFFSET_DAYS:
        moved = f"Clock: moved {CLOCK_OFFSET_DAYS} days ({CLOCK_OFFSET_ENV}); the tests' today is {today}"
    else:
        moved = f"Clock: not moved (set {CLOCK_OFFSET_ENV}=730 to run two years ahead); today is {today}"
    return [postgres, moved]


def _create_postgres_database(base_url: str, template: str | None = None) -> str:
    url = make_url(base_url)
    name = f"caledee_t_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        copy = f' TEMPLATE "{template}"' if template else ""
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(base_url: str, database_url: str) -> None:
    db.engine_for.cache_clear()
    name = make_url(database_url).database
    admin = sa.create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per kind, made once, that every module's fresh database is copied from:
    migrating each module's database cost about a second on PostgreSQL, copying a template a tenth."""
    templates: dict[str, str] = {}
    yield templates
    base = os.environ.get(POSTGRES_ENV)
    if base and "postgresql" in templates:
        _drop_postgres_database(base, templates["postgresql"])


def _template(kind: str, templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    if kind not in templates:
        url = next(_empty_database(kind, tmp_path_factory, keep=True))
        migrate(db.engine_for(url))
        db.engine_for(url).dispose()  # PostgreSQL copies only a database nobody is connected to
        db.engine_for.cache_clear()
        templates[kind] = url
    return templates[kind]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: dict[str, str],
) -> Iterator[str]:
    """A fresh, migrated database: an SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "postgresql" and not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV} (skipped on purpose)")
    template = _template(request.param, migrated_templates, tmp_path_factory)
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "caledee.db"
        shutil.copyfile(template.split("///", 1)[1], path)
        yield f"sqlite:///{path}"
        return
    base = os.environ[POSTGRES_ENV]
    url = _create_postgres_database(base, template=make_url(template).database)
    yield url
    _drop_postgres_database(base, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A new database without any schema, for tests of the migrations themselves."""
    yield from _empty_database(request.param, tmp_path_factory)


def _empty_database(
    kind: str, tmp_path_factory: pytest.TempPathFactory, *, keep: bool = False
) -> Iterator[str]:
    """``keep``: the caller drops the PostgreSQL database itself."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'caledee.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV} (skipped on purpose)")
    url = _create_postgres_database(base)
    yield url
    if not keep:
        _drop_postgres_database(base, url)


# Under pytest-xdist each worker takes its servers' ports from a range of its own, below the kernel's
# ephemeral range: two workers asking the kernel for "any free port" at once could be handed the same
# one, and a test would then talk to the other worker's server.
WORKER_PORTS = 2000
FIRST_WORKER_PORT = 20000


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    first = FIRST_WORKER_PORT + int(worker[2:]) * WORKER_PORTS
    for port in random.sample(range(first, first + WORKER_PORTS), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {first} and {first + WORKER_PORTS}")


def wait_for(find: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """``find()``'s first true answer, polled until ``timeout`` seconds have passed (mail, webhooks and
    other work done after a request has answered)."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        time.sleep(0.05)


@dataclass
class LiveServer:
    url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def dav_url(self) -> str:
        return f"{self.url}/dav/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    database_url: str, log_dir: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> LiveServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update(
        {
            "CALEDEE_DATABASE_URL": database_url,
            "CALEDEE_PORT": str(port),
            "CALEDEE_HOST": "127.0.0.1",
            "CALEDEE_WORKERS": str(workers),
            "CALEDEE_LOG_LEVEL": "warning",
            "CALEDEE_CONFIG": str(log_dir / "absent.toml"),
            "CALEDEE_MAX_RESOURCE_SIZE": str(TEST_MAX_RESOURCE_SIZE),
            # Tests share a server and one loopback address, and some log in wrongly on purpose: a
            # limit no module reaches (tests/test_login_throttle.py sets a small one).
            "CALEDEE_LOGIN_FAILURE_LIMIT": "1000",
            # Likewise REST request limits no module reaches: every test speaks from 127.0.0.1, many
            # with one token (tests/test_rate_limits.py sets small ones).
            "CALEDEE_API_REQUESTS_PER_MINUTE": "1000000",
            "CALEDEE_PUBLIC_REQUESTS_PER_MINUTE": "1000000",
            # No `caledee worker` beside the server unless a test sends mail or webhooks (BACKGROUND):
            # one more process for every server of the suite would cost minutes of CPU.
            "CALEDEE_BACKGROUND_IN_SERVER": "false",
            **clock_env(),
        }
    )
    env.update(extra_env or {})
    log_path = log_dir / f"server-{port}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "serve"],
        cwd=log_dir,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop_server ends gunicorn and its workers
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return LiveServer(url, database_url, process, log_path)
        except (requests.ConnectionError, requests.Timeout):
            pass  # workers still booting
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def stop_server(server: LiveServer) -> None:
    # The whole process group at once: SIGTERM waited for idle keep-alive connections (about 3 s a
    # server, a minute of the suite) and even gunicorn's quick shutdown takes a second. Every test
    # has had its answers by now, and nothing a test checks afterwards is left half-written (each
    # change is one committed transaction).
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


@dataclass
class InboundServer:
    """`caledee inbound` on a loopback port."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_inbound(
    database_url: str, log_dir: Path, *, extra_env: dict[str, str] | None = None
) -> InboundServer:
    """The inbound SMTP server against ``database_url``, once it answers NOOP."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update(
        {
            "CALEDEE_DATABASE_URL": database_url,
            "CALEDEE_CONFIG": str(log_dir / "absent.toml"),
            "CALEDEE_LOG_LEVEL": "warning",
            "CALEDEE_MAX_RESOURCE_SIZE": str(TEST_MAX_RESOURCE_SIZE),
            **clock_env(),
            **(extra_env or {}),
        }
    )
    log_path = log_dir / f"inbound-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "inbound", "--host", "127.0.0.1", "--port", str(port)],
        cwd=log_dir,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"inbound server exited early:\n{log_path.read_text()}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                if client.noop()[0] == 250:
                    return InboundServer("127.0.0.1", port, process, log_path)
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"inbound server did not start:\n{log_path.read_text()}")


def stop_inbound(server: InboundServer) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@dataclass
class Account:
    slug: str
    email: str
    password: str
    token: str
    user_id: str


def create_account(
    database_url: str, *, timezone: str = "UTC", scopes: list[str] | None = None, calendar: bool = True
) -> Account:
    """A user with a password, a token and (by default) a calendar named ``calendar``."""
    slug = f"u{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(10)
    with db.write_unit(db.engine_for(database_url)) as session:
        user = accounts.create_user(
            session,
            email=f"{slug}@example.com",
            slug=slug,
            password=password,
            timezone=timezone,
            display_name=slug.upper(),
        )
        if calendar:
            accounts.create_calendar(session, user, name="Calendar", slug="calendar")
        token = accounts.create_token(session, user, name="test", scopes=scopes)
        return Account(slug, user.email, password, token.secret, user.id)


def api_request(
    server: LiveServer, account: Account | None, method: str, path: str, body: object = None
) -> requests.Response:
    """One REST call to ``/api/v2{path}`` as ``account`` (anonymous when None)."""
    headers = {"Authorization": f"Bearer {account.token}"} if account else {}
    return requests.request(method, f"{server.url}/api/v2{path}", json=body, headers=headers, timeout=30)


@pytest.fixture
def account(live_server: LiveServer) -> Account:
    return create_account(live_server.database_url)
