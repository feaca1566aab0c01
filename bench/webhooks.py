"""Webhooks benchmark: what 3 subscriptions add to POST /bookings, and deliveries per second.

    .venv/bin/python bench/webhooks.py [--bookings 200] [--deliveries 3000] [--postgres URL] [--profile]

A receiver on loopback in a process of its own (``http.server``, threaded, answering 204 at once; it
counts every POST and the distinct (subscription, ``webhook-id``) pairs, so a double send shows).

1. **Booking latency.** Two databases and two servers (``caledee serve``, 1 worker, the dispatcher in the
   server as by default), the same host on each (a 30-minute event type, bookable 08:00-20:00 every day),
   one with 3 active subscriptions (booking.created, .cancelled, .rescheduled) pointing at the receiver,
   the other with none: the baseline, in the same run. ``--bookings`` sequential POST /bookings to each,
   every one a free slot, timed client-side (``requests``, keep-alive); the two servers take turns
   (with, without; then without, with), so that a drift in the machine's speed reaches both alike.
   Median and p95, and the ratio of the medians. The subscribed server's deliveries must all reach the
   receiver (3 per booking).
2. **Deliveries per second.** ``--deliveries`` / 3 more bookings made in-process through the booking
   service on the subscribed database with no dispatcher running: each queues 3 deliveries (the outbox,
   written with the booking). Then ``caledee worker`` (1 process, then 2: the same deliveries queued again)
   delivers them; the rate runs from the receiver's first POST to its last (the worker's start-up aside),
   and every delivery must be ``succeeded`` afterwards. The baseline in the same run: the same signed
   POSTs (same bodies, URLs, secrets; ``webhook_delivery.signed_headers`` + ``outbound_http.post``) sent
   without the outbox by a plain loop, and by a pool of ``webhook_delivery.SENDERS`` threads (the
   dispatcher's concurrency). The ratio worker / pool says what the outbox (claim, record, the
   worker's process) costs.

Targets: booking median with subscriptions at most 5% above without; at least 300 deliveries/s with one
worker. Exits 1 when a target or a check fails. ``--profile``: afterwards, one in-process
``deliver_due`` of the queued deliveries under cProfile (top functions). Results: docs/performance.md
("Webhooks").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _backends  # noqa: E402
import _slots_scenario as scenario  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _slots_measure import log, median, p95  # noqa: E402

from api import create_app, webhook_payloads  # noqa: E402
from caldee_dav import clock, db  # noqa: E402
from caldee_dav.calendars import outbound_http  # noqa: E402
from caldee_dav.config import Settings  # noqa: E402
from caldee_dav.models import Webhook, WebhookDelivery, WebhookEvent  # noqa: E402
from caldee_dav.scheduling import bookings, webhook_delivery, webhook_events  # noqa: E402
from caldee_dav.schema import migrate  # noqa: E402

PG_DATABASE = "caledee_bench_webhooks"
TARGET_RATIO, TARGET_PER_SECOND = 1.05, 300.0
SUBSCRIPTIONS = 3
TRIGGERS = ["booking.created", "booking.cancelled", "booking.rescheduled"]
WARMUP = 10
# Queued for --profile: what is left of the 58 days of slots after the defaults (1,210 bookings).
PROFILED = 450
DELIVERY_WAIT_SECONDS = 300.0
ALLOW = "127.0.0.1"
# The REST rate limits off: the bench measures the server, not its limits.
UNLIMITED = {"api_requests_per_minute": 0, "public_requests_per_minute": 0}
SERVER_ENV = {
    "CALEDEE_OUTBOUND_ALLOW": ALLOW,
    "CALEDEE_API_REQUESTS_PER_MINUTE": "0",
    "CALEDEE_PUBLIC_REQUESTS_PER_MINUTE": "0",
}


# --- the receiver (a process of its own, so that it competes with neither sender for the GIL) ------


@dataclass
class Counters:
    """Shared with the receiver process: POSTs of the current round, distinct ones, first and last."""

    round: Any
    total: Any
    distinct: Any
    first: Any
    last: Any


def _serve_receiver(port: int, counters: Counters, ready: Any) -> None:
    seen: set[tuple[int, str, str]] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("content-length", "0")))
            now = time.monotonic()
            with lock:
                key = (counters.round.value, self.path, self.headers.get("webhook-id", ""))
                counters.total.value += 1
                if key not in seen:
                    seen.add(key)
                    counters.distinct.value += 1
                if counters.first.value == 0.0:
                    counters.first.value = now
                counters.last.value = now
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # http.server's listen backlog is 5: 8 senders connecting at once overflowed it, and a dropped
        # SYN is retried after a second (8 threads sent 5 times slower than one).
        request_queue_size = 128
        daemon_threads = True

    server = Server(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


class Receiver:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = _backends.free_port()
        self.counters = Counters(
            context.Value("i", 0, lock=False),
            context.Value("q", 0, lock=False),
            context.Value("q", 0, lock=False),
            context.Value("d", 0.0, lock=False),
            context.Value("d", 0.0, lock=False),
        )
        ready = context.Event()
        self.process = context.Process(
            target=_serve_receiver, args=(self.port, self.counters, ready), daemon=True
        )
        self.process.start()
        if not ready.wait(30):
            raise RuntimeError("the receiver did not start")

    def url(self, number: int) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{number}"

    def new_round(self) -> None:
        counters = self.counters
        counters.round.value += 1
        counters.total.value = counters.distinct.value = 0
        counters.first.value = counters.last.value = 0.0

    def wait_for(self, count: int, timeout: float = DELIVERY_WAIT_SECONDS) -> bool:
        deadline = time.monotonic() + timeout
        while self.counters.total.value < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def rate(self) -> float:
        """POSTs per second from the round's first to its last."""
        counters = self.counters
        span = counters.last.value - counters.first.value
        return (counters.total.value - 1) / span if span > 0 else float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# --- setup ---------------------------------------------------------------------------------------


def in_process_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        log_level="warning",
        outbound_allow=ALLOW,
        background_in_server=False,
        **UNLIMITED,
    )


def prepare_host(database_url: str, slug: str) -> tuple[scenario.Host, Any]:
    """A migrated database with the host and its event type; the in-process REST client."""
    migrate(db.engine_for(database_url))
    host = scenario.create_host(db.engine_for(database_url), slug)
    client = create_app(in_process_settings(database_url)).test_client()
    host.event_type_id = scenario.create_event_type(client, host)
    return host, client


def subscribe(client: Any, host: scenario.Host, receiver: Receiver) -> None:
    for number in range(SUBSCRIPTIONS):
        response = client.post(
            "/api/v2/webhooks",
            json={"url": receiver.url(number), "triggers": TRIGGERS},
            headers={"Authorization": f"Bearer {host.token}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)


def free_starts(database_url: str, host: scenario.Host, count: int) -> list[Any]:
    """The first ``count`` free slots from the day after tomorrow (local midnight)."""
    first = (clock.now() + timedelta(days=2)).date()
    found = scenario.free_slots(
        db.engine_for(database_url),
        host,
        scenario.local_midnight(first),
        scenario.local_midnight(first + timedelta(days=58)),
    )
    if len(found) < count:
        raise SystemExit(f"only {len(found)} free slots for {count} bookings: ask for fewer")
    return [slot.start for slot in found[:count]]


def start_server(name: str, database_url: str, workdir: Path, in_server: bool) -> _backends.Server:
    """``caledee serve`` (1 worker; the webhook dispatcher in it when ``in_server``), as
    _backends.start_caledee plus the allow list for the loopback receiver and no rate limits."""
    port = _backends.free_port()
    log_path = workdir / f"{name}-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "serve"],
        cwd=workdir,
        env={
            **caledee_env(database_url, workdir),
            "CALEDEE_PORT": str(port),
            "CALEDEE_WORKERS": "1",
            "CALEDEE_BACKGROUND_IN_SERVER": str(in_server).lower(),
        },
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = _backends.Server(name, f"http://127.0.0.1:{port}", process, log_path)
    return _backends._wait_until_up(server, "/health")  # noqa: SLF001 - the bench's own helper


def caledee_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    return {
        **env,
        "CALEDEE_DATABASE_URL": database_url,
        "CALEDEE_HOST": "127.0.0.1",
        "CALEDEE_LOG_LEVEL": "warning",
        "CALEDEE_CONFIG": str(workdir / "absent.toml"),
        "PYTHONPATH": str(_backends.ROOT),
        **SERVER_ENV,
    }


# --- 1. booking latency --------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    database_url: str
    host: scenario.Host
    starts: list[Any]
    server: _backends.Server | None = None
    session: requests.Session = field(default_factory=requests.Session)
    ms: list[float] = field(default_factory=list)

    def book(self, number: int) -> float:
        body = {
            "eventTypeId": self.host.event_type_id,
            "start": self.starts[number].isoformat(),
            "durationMin": scenario.DURATION_MIN,
            "invitee": {"name": f"Timed {number}", "email": f"timed{number}@example.com", "timezone": "UTC"},
        }
        assert self.server is not None
        began = time.perf_counter()
        response = self.session.post(f"{self.server.url}/api/v2/bookings", json=body, timeout=120)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 201, response.text[:500]
        return elapsed


def booking_latency(
    sides: list[Side], receiver: Receiver, args: argparse.Namespace, workdir: Path, problems: list[str]
) -> dict[str, Any]:
    """``args.background`` worker: each server without its dispatcher, a ``caledee worker`` beside it."""
    subscribed, count, in_server = sides[0], args.bookings, args.background == "server"
    workers = [] if in_server else [start_worker(s.database_url, workdir, s.host.user_id) for s in sides]
    for side in sides:
        side.server = start_server(side.name, side.database_url, workdir, in_server)
        side.session.headers["Authorization"] = f"Bearer {side.host.token}"
    receiver.new_round()
    try:
        for number in range(WARMUP):
            for side in sides:
                side.book(number)
        for number in range(WARMUP, WARMUP + count):
            for side in sides if number % 2 == 0 else reversed(sides):
                side.ms.append(side.book(number))
        expected = SUBSCRIPTIONS * (WARMUP + count)
        if not receiver.wait_for(expected, 60):
            problems.append(f"booking run: {receiver.counters.total.value} of {expected} deliveries arrived")
    finally:
        for side in sides:
            if side.server is not None:
                side.server.stop()
        stop(workers)
    delivered = receiver.counters.distinct.value
    if delivered != receiver.counters.total.value:
        problems.append(f"booking run: {receiver.counters.total.value - delivered} deliveries sent twice")
    with_ms, without_ms = subscribed.ms, sides[1].ms
    return {
        "with": (median(with_ms), p95(with_ms)),
        "without": (median(without_ms), p95(without_ms)),
        "ratio": median(with_ms) / median(without_ms),
        "paired": median([a / b for a, b in zip(with_ms, without_ms, strict=True)]),
        "delivered": delivered,
    }


# --- 2. deliveries per second --------------------------------------------------------------------


def queue_bookings(
    database_url: str, host: scenario.Host, count: int, timings: dict[str, float] | None = None
) -> set[str]:
    """``count`` bookings through the booking service, one transaction each as POST /bookings does,
    with no dispatcher running: the ids of the webhook events they queued. ``timings``: the median ms of
    a booking's transaction and of its ``webhook_events.emit`` (the synchronous cost of subscriptions)."""
    engine = db.engine_for(database_url)
    settings = in_process_settings(database_url)
    with db.read_unit(engine) as session:
        before = set(session.scalars(sa.select(WebhookEvent.id)))
    emit = webhook_events.emit
    emit_ms: list[float] = []

    def timed_emit(*args: Any, **kwargs: Any) -> str | None:
        began = time.perf_counter()
        try:
            return emit(*args, **kwargs)
        finally:
            emit_ms.append((time.perf_counter() - began) * 1000)

    render = webhook_events._renderers[webhook_events.BOOKING]  # noqa: SLF001 - timed, then put back
    render_ms: list[float] = []

    def timed_render(session: Any, ident: str) -> dict[str, Any]:
        began = time.perf_counter()
        try:
            return render(session, ident)
        finally:
            render_ms.append((time.perf_counter() - began) * 1000)

    webhook_events.emit = timed_emit  # type: ignore[assignment]
    webhook_events.register_renderer(webhook_events.BOOKING, timed_render)
    booking_ms = []
    try:
        for number, start in enumerate(free_starts(database_url, host, count)):
            request = bookings.NewBooking(
                event_type_id=host.event_type_id,
                start=start,
                invitee=bookings.Invitee(f"Queued {number}", f"queued{number}@example.com", "Europe/London"),
                duration_min=scenario.DURATION_MIN,
            )
            began = time.perf_counter()
            with db.write_unit(engine) as session:
                bookings.create_booking(session, settings, host.user_id, request, clock.now())
            booking_ms.append((time.perf_counter() - began) * 1000)
    finally:
        webhook_events.emit = emit  # type: ignore[assignment]
        webhook_events.register_renderer(webhook_events.BOOKING, render)
    if timings is not None:
        timings["in-process booking (service + commit)"] = median(booking_ms)
        timings["  of which emit (render, outbox rows)"] = median(emit_ms)
        timings["    of which render (the booking as REST shows it)"] = median(render_ms)
    with db.read_unit(engine) as session:
        return set(session.scalars(sa.select(WebhookEvent.id))) - before


def requeue(database_url: str, event_ids: set[str]) -> int:
    """The deliveries of ``event_ids`` pending and due again, as they were when queued."""
    engine = db.engine_for(database_url)
    with db.write_unit(engine) as session:
        result = session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.event_id.in_(event_ids))
            .values(status="pending", attempts=0, next_attempt_at=clock.now(), delivered_at=None)
        )
        return int(result.rowcount)


def succeeded(database_url: str, event_ids: set[str]) -> int:
    with db.read_unit(db.engine_for(database_url)) as session:
        query = sa.select(sa.func.count()).where(
            WebhookDelivery.event_id.in_(event_ids), WebhookDelivery.status == "succeeded"
        )
        return int(session.scalar(query) or 0)


def claims(database_url: str, event_ids: set[str]) -> list[webhook_delivery.Claimed]:
    """What the worker sends for each delivery (URL, secret, body), read without claiming it."""
    with db.read_unit(db.engine_for(database_url)) as session:
        rows = session.execute(
            sa.select(WebhookDelivery, Webhook, WebhookEvent)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.event_id.in_(event_ids))
        ).all()
        return [
            webhook_delivery.Claimed(
                id=delivery.id,
                webhook_id=webhook.id,
                event_id=emitted.id,
                url=webhook.url,
                secrets=(webhook.secret,),
                body=webhook_delivery.body_of(emitted.payload),
                event_created_at=emitted.created_at,
                attempts=1,
            )
            for delivery, webhook, emitted in rows
        ]


def start_worker(database_url: str, workdir: Path, label: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "worker"],
        cwd=workdir,
        env=caledee_env(database_url, workdir),
        stdout=(workdir / f"worker-{label}.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_workers(database_url: str, workers: int, expected: int, receiver: Receiver, workdir: Path) -> float:
    """``workers`` ``caledee worker`` processes until the receiver has ``expected`` POSTs; their rate."""
    receiver.new_round()
    processes = [start_worker(database_url, workdir, f"{workers}-{n}") for n in range(workers)]
    try:
        arrived = receiver.wait_for(expected)
    finally:
        stop(processes)
    if not arrived:
        raise RuntimeError(f"{workers} worker(s): {receiver.counters.total.value} of {expected} arrived")
    return receiver.rate()


def send_directly(
    claimed: list[webhook_delivery.Claimed], receiver: Receiver, threads: int, allow: Any
) -> float:
    """The same signed POSTs without the outbox: ``threads`` == 1 is a plain loop."""
    receiver.new_round()

    def send(one: webhook_delivery.Claimed) -> int:
        headers = webhook_delivery.signed_headers(one, clock.now())
        return outbound_http.post(one.url, one.body, headers, allow=allow, timeout=10.0).status

    if threads == 1:
        statuses = [send(one) for one in claimed]
    else:
        with ThreadPoolExecutor(threads) as pool:
            statuses = list(pool.map(send, claimed))
    assert all(status == 204 for status in statuses), sorted(set(statuses))
    receiver.wait_for(len(claimed))
    return receiver.rate()


def deliveries_per_second(
    database_url: str, host: scenario.Host, count: int, receiver: Receiver, workdir: Path, problems: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    began = time.perf_counter()
    timings: dict[str, float] = {}
    event_ids = queue_bookings(database_url, host, count // SUBSCRIPTIONS, timings)
    expected = requeue(database_url, event_ids)
    log(f"queued {expected} deliveries ({len(event_ids)} bookings) in {time.perf_counter() - began:.0f} s")
    claimed = claims(database_url, event_ids)
    allow = in_process_settings(database_url).outbound_allow_list
    rates: dict[str, float] = {}
    for workers in (1, 2):
        if workers > 1:
            requeue(database_url, event_ids)
        rates[f"caledee worker x{workers}"] = run_workers(database_url, workers, expected, receiver, workdir)
        done = succeeded(database_url, event_ids)
        if done != expected or receiver.counters.distinct.value != expected:
            problems.append(
                f"{workers} worker(s): {done} of {expected} succeeded,"
                f" {receiver.counters.total.value - receiver.counters.distinct.value} sent twice"
            )
        log(f"{workers} worker(s): {rates[f'caledee worker x{workers}']:.0f} deliveries/s")
    rates["plain loop (no outbox)"] = send_directly(claimed, receiver, 1, allow)
    threads = webhook_delivery.SENDERS
    rates[f"{threads} threads (no outbox)"] = send_directly(claimed, receiver, threads, allow)
    rates["expected"] = expected
    return rates, timings


def profile_delivery(database_url: str, host: scenario.Host, receiver: Receiver) -> str:
    """One in-process ``deliver_due`` of PROFILED freshly queued deliveries under cProfile."""
    event_ids = queue_bookings(database_url, host, PROFILED // SUBSCRIPTIONS)
    requeue(database_url, event_ids)
    settings = in_process_settings(database_url)
    receiver.new_round()
    profiler = cProfile.Profile()
    profiler.enable()
    webhook_delivery.deliver_due(db.engine_for(database_url), settings, clock.now())
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


# --- a backend -----------------------------------------------------------------------------------


def run_backend(
    name: str, urls: tuple[str, str], args: argparse.Namespace, receiver: Receiver, workdir: Path
) -> tuple[dict[str, Any], dict[str, float], list[str]]:
    problems: list[str] = []
    sides = []
    for label, url, slug in (("with 3 subscriptions", urls[0], "subscribed"), ("none", urls[1], "plain")):
        host, client = prepare_host(url, slug)
        if slug == "subscribed":
            subscribe(client, host, receiver)
        sides.append(Side(label, url, host, free_starts(url, host, WARMUP + args.bookings)))
    log(f"{name}: {args.bookings} bookings on each server, taking turns")
    latency = booking_latency(sides, receiver, args, workdir, problems)
    log(f"{name}: booking ratio {latency['ratio']:.3f}; {latency['delivered']} deliveries arrived")
    rates, timings = deliveries_per_second(
        urls[0], sides[0].host, args.deliveries, receiver, workdir, problems
    )
    latency["in-process"] = timings
    if args.profile:
        print(f"\n--- {name}: cProfile of one deliver_due ({PROFILED} deliveries, in-process) ---")
        print(profile_delivery(urls[0], sides[0].host, receiver))
    return latency, rates, problems


def report(name: str, latency: dict[str, Any], rates: dict[str, float], problems: list[str]) -> bool:
    print(f"\n## {name}  (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print("\nPOST /bookings, client-side ms        median     p95")
    for side in ("with", "without"):
        label = "3 subscriptions" if side == "with" else "no subscription (baseline)"
        print(f"  {label:<34} {latency[side][0]:7.1f} {latency[side][1]:7.1f}")
    ratio_ok = latency["ratio"] <= TARGET_RATIO
    print(f"  ratio of medians {latency['ratio']:.3f} (target <= {TARGET_RATIO}): {_ok(ratio_ok)}")
    print(f"  median of the paired ratios (booking k with / booking k without) {latency['paired']:.3f}")
    print("  in-process, the subscribed host's queued bookings (medians):")
    for label, ms in latency["in-process"].items():
        print(f"  {label:<50} {ms:6.2f} ms")
    print(f"\nDeliveries/s ({int(rates.pop('expected'))} signed POSTs to a local receiver)")
    pool = rates[f"{webhook_delivery.SENDERS} threads (no outbox)"]
    for label, rate in rates.items():
        print(f"  {label:<34} {rate:7.0f}   x{rate / pool:.2f} of the threads without outbox")
    rate_ok = rates["caledee worker x1"] >= TARGET_PER_SECOND
    one = rates["caledee worker x1"]
    print(f"  one worker {one:.0f}/s (target >= {TARGET_PER_SECOND:.0f}): {_ok(rate_ok)}")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    return ratio_ok and rate_ok and not problems


def _ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=200, help="timed bookings per server")
    parser.add_argument("--deliveries", type=int, default=3000, help="queued deliveries (3 per booking)")
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (databases created, dropped)")
    parser.add_argument(
        "--background",
        choices=["server", "worker"],
        default="server",
        help="booking run: the dispatcher in each server (default), or a caledee worker beside each",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process deliver_due")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and databases")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="caledee-bench-webhooks-"))
    webhook_payloads.install()
    receiver = Receiver()
    backends: list[tuple[str, tuple[str, str], Callable[[], None]]] = [
        ("SQLite", (f"sqlite:///{workdir / 'with.db'}", f"sqlite:///{workdir / 'without.db'}"), lambda: None)
    ]
    if args.postgres:
        names = (f"{PG_DATABASE}_with", f"{PG_DATABASE}_without")
        urls = (
            _backends.create_postgres_database(args.postgres, names[0]),
            _backends.create_postgres_database(args.postgres, names[1]),
        )

        def drop() -> None:
            for name in names:
                _backends.drop_postgres_database(args.postgres, name)

        backends.append(("PostgreSQL", urls, drop))
    print(
        f"# bench/webhooks.py: {args.bookings} bookings per server (dispatcher: {args.background}),"
        f" {args.deliveries} deliveries"
    )
    passed = True
    try:
        for name, urls, cleanup in backends:
            try:
                latency, rates, problems = run_backend(name, urls, args, receiver, workdir)
                passed = report(name, latency, rates, problems) and passed
            finally:
                db.engine_for.cache_clear()
                if not args.keep:
                    cleanup()
    finally:
        receiver.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
