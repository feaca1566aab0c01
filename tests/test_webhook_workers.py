"""Webhook delivery by separate processes: `caledee worker` (killed mid-delivery, two at once on
PostgreSQL), a server without the allow list, the disabling period. No server of this module runs
while another test's is up: every dispatcher of a database delivers its whole outbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKGROUND, LiveServer, clock_env, free_port, start_server, stop_server, wait_for
from tests.scheduling_fixtures import api_for, new_api
from tests.test_webhooks import LOOPBACK, Hit, Receiver, subscribe

NO_BACKGROUND = {**LOOPBACK, "CALEDEE_BACKGROUND_IN_SERVER": "false"}


def start_worker(database_url: str, log_dir: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update(
        {
            "CALEDEE_DATABASE_URL": database_url,
            "CALEDEE_CONFIG": str(log_dir / "absent.toml"),
            "CALEDEE_LOG_LEVEL": "warning",
            **clock_env(),
            **extra_env,
        }
    )
    log = (log_dir / f"worker-{len(list(log_dir.glob('worker-*')))}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "worker"],
        cwd=log_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(free_port()).start()
    yield started
    started.stop()


@pytest.fixture
def quiet_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server that delivers nothing itself: the workers do."""
    live = start_server(database_url, tmp_path, extra_env=NO_BACKGROUND)
    yield live
    stop_server(live)


def test_a_worker_killed_between_claim_and_send_delivers_after_restart(
    quiet_server: LiveServer, receiver: Receiver, tmp_path: Path
) -> None:
    held = threading.Event()
    release = threading.Event()

    def answer(hit: Hit) -> tuple[int, dict[str, str]]:
        if not held.is_set():
            held.set()
            release.wait(10)  # the worker is killed while its request is held here
        return 200, {}

    receiver.answer = answer
    api = new_api(quiet_server)
    hook = subscribe(api, receiver.url, ["booking.created"])
    api.post(f"/webhooks/{hook['id']}/test")
    env = {**LOOPBACK, "CALEDEE_WEBHOOK_LEASE_SECONDS": "1"}
    first = start_worker(quiet_server.database_url, tmp_path, env)
    try:
        wait_for(held.is_set, "the held request")
    finally:
        kill(first)
        release.set()
    second = start_worker(quiet_server.database_url, tmp_path, env)
    try:

        def delivered() -> list[dict[str, Any]]:
            rows = api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
            return [d for d in rows if d["status"] == "succeeded"]

        delivery = wait_for(delivered, "the delivery after the restart")[0]
        assert delivery["attempts"] == 2
        ids = {hit.headers["webhook-id"] for hit in receiver.hits}
        assert ids == {delivery["eventId"]}
    finally:
        kill(second)


def test_two_workers_deliver_each_event_once(
    quiet_server: LiveServer, receiver: Receiver, tmp_path: Path
) -> None:
    if not quiet_server.database_url.startswith("postgresql"):
        pytest.skip("several workers share an outbox on PostgreSQL (SKIP LOCKED); SQLite has one writer")
    api = new_api(quiet_server)
    hooks = [subscribe(api, receiver.url, ["booking.created"]) for _ in range(5)]
    workers = [start_worker(quiet_server.database_url, tmp_path, LOOPBACK) for _ in range(2)]
    try:
        for _ in range(10):
            for hook in hooks:
                assert api.post(f"/webhooks/{hook['id']}/test").status_code == 202
        wait_for(lambda: len({h.headers["webhook-id"] for h in receiver.hits}) == 50, "50 events")
        # Every delivery has been recorded as succeeded: nothing is left to send twice.
        for hook in hooks:
            wait_for(
                lambda h=hook: all(
                    d["status"] == "succeeded"
                    for d in api.get(f"/webhooks/{h['id']}/deliveries", params={"limit": 100}).json()["data"]
                ),
                "deliveries recorded",
            )
        counts = Counter(hit.headers["webhook-id"] for hit in receiver.hits)
        assert set(counts.values()) == {1}
    finally:
        for worker in workers:
            kill(worker)


def test_failing_webhook_is_disabled_and_says_why(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer = lambda hit: (500, {})
    env = {**LOOPBACK, "CALEDEE_WEBHOOK_DISABLE_AFTER_HOURS": "0.0005"}  # under two seconds
    live = start_server(database_url, tmp_path, extra_env=env)
    try:
        api = new_api(live)
        hook = subscribe(api, receiver.url, ["booking.created"])
        api.post(f"/webhooks/{hook['id']}/test")

        def disabled() -> dict[str, Any] | None:
            shown = api.get(f"/webhooks/{hook['id']}").json()
            return shown if not shown["active"] else None

        shown = wait_for(disabled, "the webhook disabled")
        assert "HTTP 500" in shown["disabledReason"] and shown["failingSince"]
        receiver.answer = lambda hit: (200, {})
        resumed = api.patch(f"/webhooks/{hook['id']}", json={"active": True}).json()
        assert resumed["active"] and resumed["disabledReason"] is None and resumed["failingSince"] is None
        count = len(receiver.hits)
        wait_for(lambda: len(receiver.hits) > count, "the pending ping after re-enabling")
    finally:
        stop_server(live)


def test_a_private_address_is_refused_at_connect_time(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    allowed = start_server(
        database_url, tmp_path, extra_env={**LOOPBACK, "CALEDEE_BACKGROUND_IN_SERVER": "false"}
    )
    api = new_api(allowed)
    try:
        hook = subscribe(api, f"http://localhost:{receiver.port}/hook", ["booking.created"])
        api.post(f"/webhooks/{hook['id']}/test")
    finally:
        stop_server(allowed)
    strict = start_server(database_url, tmp_path, extra_env=BACKGROUND)  # no allow list: loopback refused
    try:
        api = api_for(strict, api.account)

        def failed() -> list[dict[str, Any]]:
            rows = api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
            return [d for d in rows if d["status"] == "failed"]

        delivery = wait_for(failed, "the refused delivery")[0]
        assert delivery["lastError"].startswith("refused") and delivery["attempts"] == 1
        assert receiver.hits == []
    finally:
        stop_server(strict)
