"""Slots benchmark: 30-day availability and booking creation for a host with a busy calendar.

    .venv/bin/python bench/slots.py [--events N] [--bookings 500] [--repeat 20] [--postgres URL]
                                    [--compare-events 100000] [--baseline-repeat 3] [--profile] [--keep]

A host in Europe/Paris (bookable 08:00-20:00 every day, a 30-minute event type) with N generated events over
N/10,000 years ending 2027 (``_events``: ~5% recurring) and ``--bookings`` bookings across 2027. Times:

* GET /availability for 30 days, ``--repeat`` different windows across 2027: server time (the WSGI app
  called in-process, no socket, no client) and end to end over HTTP against ``caledee serve``.
* The naive baseline in the same run: every event's text read, parsed and expanded for the window
  (recurring_ical_events), then the same slot engine; it must give the same busy time and slots.
* Scaling: a second host in the same database with the same events and bookings plus
  ``--compare-events`` minus N older ones (same events inside the windows, a calendar ten times bigger),
  timed turn about with the first, window by window. Our side only: the naive one parses everything.
* POST /bookings over HTTP: sequentially, then from 2 client processes against 2 server workers
  (distinct free slots; afterwards no two bookings may overlap and every one must have got 201).

Exits 1 when a check fails. Results: docs/performance.md ("Slots and bookings").
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _backends  # noqa: E402
import _slots_data as data  # noqa: E402
import _slots_scenario as scenario  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _slots_measure import (  # noqa: E402
    BOOKABLE,
    book_worker,
    booking_body,
    breakdown_and_profile,
    cpu_reference_ms,
    in_fresh_process,
    log,
    median,
    time_availability,
    time_naive,
    timed_http,
    windows,
)
from _slots_report import Availability, Result, report  # noqa: E402

from caldee_dav import (
    clock,
    db,  # noqa: E402
)
from caldee_dav.config import Settings  # noqa: E402
from caldee_dav.schema import migrate  # noqa: E402

PG_DATABASE = "caledee_bench_slots"
PRELOAD_FIRST, PRELOAD_WEEKS = date(2027, 1, 4), 52
CHECK_SAMPLE = 300

# The REST rate limits off: the bench measures the server, not its limits.
UNLIMITED = {"api_requests_per_minute": 0, "public_requests_per_minute": 0}


@dataclass
class Backend:
    """One database: the host on it, the in-process app, the windows and what they answered."""

    name: str
    url: str
    args: argparse.Namespace
    workdir: Path
    result: Result
    engine: sa.Engine
    settings: Settings
    host: scenario.Host
    # The scaling run's host: the same events and bookings plus the older events.
    big: scenario.Host | None = None
    client: Any = None
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    answers: list[list[str]] = field(default_factory=list)

    def setup(self, base: list[data.Prepared], check_bulk: bool) -> None:
        name, engine, host = self.name, self.engine, self.host
        if check_bulk:
            if not data.check_bulk_load(engine, host.user_id, base[:CHECK_SAMPLE]):
                self.result.problems.append("bulk_load does not write the rows put_object writes")
            log(f"{name}: bulk loader checked against put_object on {min(CHECK_SAMPLE, len(base))} objects")
        began = time.perf_counter()
        data.store_load(engine, host.calendar_path, base)
        self.result.setup[f"{len(base):,} events via put_object"] = elapsed = time.perf_counter() - began
        log(f"{name}: loaded {len(base):,} events in {elapsed:.0f} s")

        from api import create_app

        self.client = create_app(self.settings).test_client()
        host.event_type_id = scenario.create_event_type(self.client, host)
        began = time.perf_counter()
        made = scenario.preload_bookings(
            engine, self.settings, host, self.args.bookings, PRELOAD_FIRST, PRELOAD_WEEKS
        )
        self.result.setup[f"{made} bookings via the booking service"] = time.perf_counter() - began
        self.spans = windows(self.args.repeat)

    def setup_big(self, base: list[data.Prepared], older: list[data.Prepared]) -> None:
        """A second host in the same database with the base events, the older ones and the same bookings."""
        began = time.perf_counter()
        self.big = big = scenario.create_host(self.engine, f"{scenario.USER}-big")
        data.bulk_load(self.engine, big.calendar_path, base)
        data.bulk_load(self.engine, big.calendar_path, older)
        big.event_type_id = scenario.create_event_type(self.client, big)
        scenario.preload_bookings(
            self.engine, self.settings, big, self.args.bookings, PRELOAD_FIRST, PRELOAD_WEEKS
        )
        label = f"second host: {len(base) + len(older):,} events via bulk_load, bookings"
        self.result.setup[label] = elapsed = time.perf_counter() - began
        log(f"{self.name}: {label} in {elapsed:.0f} s")

    def availability_in_process(self, events: list[int]) -> Availability:
        """Time every window for the host (and the scaling run's host, turn about) in a fresh process."""
        hosts = [self.host] + ([self.big] if self.big is not None else [])
        timings = in_fresh_process(time_availability, self.url, hosts, self.spans)
        for host, count, timed in zip(hosts, events, timings, strict=False):
            run = Availability(count)
            self.result.runs.append(run)
            for (start, end), (ms, slots) in zip(self.spans, timed, strict=True):
                run.in_process.append(ms)
                run.slots.append(len(slots))
                run.instances.append(scenario.instances_in(self.engine, host, start, end))
            answers = [slots for _, slots in timed]
            if not self.answers:
                self.answers = answers
            elif answers != self.answers:
                self.result.problems.append(f"at {count:,} events the 2027 windows offer other slots")
            figure = f"{median(run.in_process):.1f} ms"
            log(f"{self.name}: {count:,} events: in-process availability median {figure}")
        return self.result.runs[0]

    def naive_baseline(self, run: Availability) -> None:
        for index in scenario.spread(range(len(self.spans)), self.args.baseline_repeat):
            start, end = self.spans[index]
            now = clock.now()
            ms, naive = in_fresh_process(time_naive, self.url, self.host, start, end, now)
            run.naive.append(ms)
            ours = scenario.compute_window(self.engine, self.host, start, end, now, naive=False)
            label = f"window {start.date()}"
            if naive.busy != ours.busy:
                only_naive = sorted(set(naive.busy) - set(ours.busy))[:3]
                only_ours = sorted(set(ours.busy) - set(naive.busy))[:3]
                self.result.problems.append(
                    f"{label}: busy time differs; only naive {only_naive}; only ours {only_ours}"
                )
            if scenario.slot_texts(naive.slots) != self.answers[index]:
                self.result.problems.append(
                    f"{label}: naive slots ({len(naive.slots)}) differ from GET /availability"
                    f" ({len(self.answers[index])})"
                )
            log(
                f"{self.name}: naive window {start.date()}: {run.naive[-1]:,.0f} ms, {len(naive.slots)} slots"
            )

    def bookable_starts(self) -> list[str]:
        first, last = (scenario.local_midnight(day) for day in BOOKABLE)
        pool = scenario.free_slots(self.engine, self.host, first, last)
        starts = [s.start.isoformat() for s in pool[::2]]  # every other free slot: spread, never adjacent
        wanted = self.args.sequential + self.args.concurrent
        if len(starts) < wanted:
            raise RuntimeError(f"only {len(starts)} free slots to book, {wanted} needed")
        return starts[:wanted]

    def over_http(self, run: Availability, starts: list[str]) -> None:
        """Availability end to end, then sequential bookings, against one server worker."""
        server = _backends.start_caledee("caledee", self.url, self.workdir, workers=1)
        try:
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {self.host.token}"
                timed_http(session, server.url, self.host, *self.spans[0])
                for index, (start, end) in enumerate(self.spans):
                    ms, slots = timed_http(session, server.url, self.host, start, end)
                    run.http.append(ms)
                    if slots != self.answers[index]:
                        self.result.problems.append(
                            f"window {start.date()}: HTTP and in-process answers differ"
                        )
                log(f"{self.name}: HTTP availability median {median(run.http):.1f} ms")
                for n, start in enumerate(starts):
                    began = time.perf_counter()
                    url = f"{server.url}/api/v2/bookings"
                    response = session.post(url, json=booking_body(self.host, start, n), timeout=60)
                    self.result.sequential.append((time.perf_counter() - began) * 1000)
                    self.result.sequential_statuses.append(response.status_code)
                log(f"{self.name}: sequential POST /bookings median {median(self.result.sequential):.1f} ms")
        finally:
            server.stop()

    def concurrently(self, starts: list[str]) -> None:
        """Two client processes booking interleaved free slots against `caledee serve --workers 2`."""
        if not starts:
            return
        server = _backends.start_caledee("caledee", self.url, self.workdir, workers=2)
        try:
            context = multiprocessing.get_context("spawn")
            barrier, queue = context.Barrier(2), context.Queue()
            clients = [
                context.Process(
                    target=book_worker,
                    args=(server.url, self.host, starts[k::2], 10_000 * (k + 1), barrier, queue),
                )
                for k in range(2)
            ]
            for client in clients:
                client.start()
            for _ in clients:
                self.result.concurrent.extend(queue.get(timeout=600))
            for client in clients:
                client.join()
        finally:
            server.stop()
        log(f"{self.name}: {len(self.result.concurrent)} concurrent bookings done")

    def check_bookings(self, before: int) -> None:
        result = self.result
        result.new_bookings = scenario.count_bookings(self.engine, self.host) - before
        result.overlaps = len(scenario.overlapping_bookings(self.engine, self.host))
        statuses = result.sequential_statuses + [status for status, _, _ in result.concurrent]
        if any(status != 201 for status in statuses):
            result.problems.append(f"POST /bookings answered {sorted(set(statuses))}, expected only 201")
        if result.new_bookings != len(statuses):
            result.problems.append(f"{result.new_bookings} bookings stored for {len(statuses)} requests")
        if result.overlaps:
            result.problems.append(f"{result.overlaps} overlapping bookings")


def run_backend(
    name: str,
    url: str,
    base: list[data.Prepared],
    older: list[data.Prepared],
    args: argparse.Namespace,
    workdir: Path,
) -> Result:
    engine = db.engine_for(url)
    migrate(engine)
    bench = Backend(
        name,
        url,
        args,
        workdir,
        Result(name),
        engine,
        Settings(database_url=url, log_level="warning", **UNLIMITED),
        scenario.create_host(engine),
    )
    try:
        bench.setup(base, check_bulk=bool(older))
        if older:
            bench.setup_big(base, older)
        data.analyze(engine)
        run = bench.availability_in_process([len(base), len(base) + len(older)])
        if args.profile:
            stages, profile = in_fresh_process(
                breakdown_and_profile, url, bench.host, bench.spans, name == "sqlite"
            )
            bench.result.breakdown = stages
            if profile:
                print(f"\ncProfile of 5 in-process 30-day GET /availability ({name}):\n{profile}")
        if args.baseline_repeat:
            bench.naive_baseline(run)
        starts = bench.bookable_starts()
        before = scenario.count_bookings(engine, bench.host)
        bench.over_http(run, starts[: args.sequential])
        bench.concurrently(starts[args.sequential :])
        bench.check_bookings(before)
    finally:
        engine.dispose()
        db.engine_for.cache_clear()
    return bench.result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000, help="events in the host's calendar")
    parser.add_argument("--bookings", type=int, default=500, help="bookings made before timing, across 2027")
    parser.add_argument("--repeat", type=int, default=20, help="30-day windows timed (each a different one)")
    parser.add_argument(
        "--baseline-repeat", type=int, default=3, help="windows for the naive baseline (0: none)"
    )
    parser.add_argument(
        "--compare-events", type=int, default=100_000, help="calendar size of the scaling run (0: none)"
    )
    parser.add_argument("--sequential", type=int, default=100, help="bookings timed one after the other")
    parser.add_argument("--concurrent", type=int, default=100, help="bookings made by the 2 client processes")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help=f"also run on PostgreSQL (database {PG_DATABASE} is created and dropped)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile 5 in-process availability requests (SQLite)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    if args.compare_events and args.compare_events <= args.events:
        parser.error("--compare-events must exceed --events (or be 0)")
    return args


def source(cached: bool) -> str:
    return "from the cache" if cached else "generated and indexed"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(log_level="warning")
    began = time.perf_counter()
    base, cached = data.base_events(args.events, settings)
    log(f"{len(base):,} base events {source(cached)} ({time.perf_counter() - began:.0f} s)")
    older: list[data.Prepared] = []
    if args.compare_events:
        began = time.perf_counter()
        older, cached = data.older_events(args.compare_events - args.events, args.events, settings)
        log(f"{len(older):,} older events {source(cached)} ({time.perf_counter() - began:.0f} s)")

    # Hundreds of thousands of prepared objects stay in memory: keep them out of the cyclic collector, whose
    # full passes would otherwise land inside timed requests.
    gc.collect()
    gc.freeze()
    load_at_start, cpu_at_start = os.getloadavg()[0], cpu_reference_ms()
    workdir = Path(tempfile.mkdtemp(prefix="caledee-slots-"))
    versions = {"SQLite": sqlite3.sqlite_version}
    results = []
    try:
        results.append(run_backend("sqlite", f"sqlite:///{workdir / 'slots.db'}", base, older, args, workdir))
        if args.postgres:
            url = _backends.create_postgres_database(args.postgres, PG_DATABASE)
            with sa.create_engine(url).connect() as connection:
                versions["PostgreSQL"] = str(connection.exec_driver_sql("SHOW server_version").scalar())
            try:
                results.append(run_backend("postgresql", url, base, older, args, workdir))
            finally:
                if not args.keep:
                    _backends.drop_postgres_database(args.postgres, PG_DATABASE)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(args, results, versions, (load_at_start, os.getloadavg()[0]), (cpu_at_start, cpu_reference_ms()))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
