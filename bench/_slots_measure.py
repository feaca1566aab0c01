"""Timing for the slots benchmark: availability requests in-process and over HTTP, booking clients,
the server, and where a request's time goes (stage timers, cProfile)."""

from __future__ import annotations

import cProfile
import importlib
import io
import math
import multiprocessing
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import _slots_scenario as scenario
import requests

from caldee_dav import db
from caldee_dav.config import Settings

# Availability windows start between these days (local midnights), so they end before the bookings
# timed (BOOKABLE); preloaded bookings cover the whole of 2027.
FIRST_WINDOW = date(2027, 1, 4)
LAST_WINDOW = date(2027, 10, 11)
WINDOW_DAYS = 30
# Timed bookings take free slots from here on (after every availability window).
BOOKABLE = (date(2027, 11, 15), date(2028, 3, 1))

# The REST rate limits off: the bench measures the server, not its limits.
UNLIMITED = {"api_requests_per_minute": 0, "public_requests_per_minute": 0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def cpu_reference_ms(rounds: int = 15) -> float:
    """Median ms of a fixed pure-Python loop: how fast the CPU is for this process right now. On a shared
    virtual machine it moves by a third or more from minute to minute while the load average, which sees
    only this machine, stays put; figures taken at different moments compare only alongside it."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        total = 0
        for number in range(200_000):
            total += number * number % 7
        times.append((time.perf_counter() - began) * 1000)
    return median(times)


def windows(count: int) -> list[tuple[datetime, datetime]]:
    """``count`` 30-day windows from local midnights spread between FIRST_WINDOW and LAST_WINDOW."""
    span = (LAST_WINDOW - FIRST_WINDOW).days
    days = [FIRST_WINDOW + timedelta(days=round(k * span / max(1, count - 1))) for k in range(count)]
    return [
        (scenario.local_midnight(d), scenario.local_midnight(d + timedelta(days=WINDOW_DAYS))) for d in days
    ]


def query(host: scenario.Host, start: datetime, end: datetime) -> dict[str, str]:
    return {
        "eventTypeId": host.event_type_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tz": scenario.TIMEZONE,
    }


def timed_in_process(
    client: Any, host: scenario.Host, start: datetime, end: datetime
) -> tuple[float, list[str]]:
    """Server time: the WSGI app's answer, body included, with no socket and no client in between."""
    auth = {"Authorization": f"Bearer {host.token}"}
    began = time.perf_counter()
    response = client.get("/api/v2/availability", query_string=query(host, start, end), headers=auth)
    body = response.get_data()
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, body[:500]
    return elapsed, [s["start"] for s in response.get_json()["data"]]


def timed_http(
    session: requests.Session, url: str, host: scenario.Host, start: datetime, end: datetime
) -> tuple[float, list[str]]:
    began = time.perf_counter()
    response = session.get(f"{url}/api/v2/availability", params=query(host, start, end), timeout=60)
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, response.text[:500]
    return elapsed, [s["start"] for s in response.json()["data"]]


def booking_body(host: scenario.Host, start: str, number: int) -> dict[str, Any]:
    return {
        "eventTypeId": host.event_type_id,
        "start": start,
        "durationMin": scenario.DURATION_MIN,
        "invitee": {"name": f"Timed {number}", "email": f"timed{number}@example.com", "timezone": "UTC"},
    }


def book_worker(
    url: str, host: scenario.Host, starts: list[str], first_number: int, barrier: Any, results: Any
) -> None:
    """One client process: warm its connection, wait for the other, then book its slots one by one."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {host.token}"
    for _ in range(3):
        session.get(f"{url}/api/v2/me", timeout=60)
    barrier.wait()
    outcome = []
    for n, start in enumerate(starts):
        began = time.monotonic()
        response = session.post(
            f"{url}/api/v2/bookings", json=booking_body(host, start, first_number + n), timeout=120
        )
        outcome.append((response.status_code, began, time.monotonic()))
    results.put(outcome)


# --- where the time goes ------------------------------------------------------------------------------


# Where a request's time goes: (label, module, attribute, nested); each is wrapped with a timer in-process.
STAGES = [
    ("token check", "api.auth", "authenticate_request", False),
    ("load event type, hosts, schedule", "caldee_dav.scheduling.offers", "load_context", False),
    ("bookings query", "caldee_dav.scheduling.busy", "host_bookings", False),
    ("calendar busy time", "caldee_dav.scheduling.busy", "calendar_busy", False),
    ("  of which the occurrence index query", "caldee_dav.store", "busy_index_rows", True),
    ("schedule -> open intervals", "caldee_dav.scheduling.offers", "open_intervals", False),
    ("slot engine (offered_slots)", "caldee_dav.scheduling.offers", "offered_slots", False),
]


def breakdown(client: Any, host: scenario.Host, spans: list[tuple[datetime, datetime]]) -> dict[str, float]:
    """Median ms per stage over the windows, plus the rest (Flask, query parsing, JSON of the slots)."""
    # A stage whose function moved or was renamed is left out rather than failing the run, with a warning.
    stages = [s for s in STAGES if hasattr(importlib.import_module(s[1]), s[2])]
    for _, module_name, attribute, _ in sorted(set(STAGES) - set(stages)):
        log(f"breakdown: {module_name}.{attribute} no longer exists; its stage is left out")
    totals: dict[str, list[float]] = {label: [] for label, *_ in stages}
    spent: dict[str, float] = {}
    originals = []

    def timer(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + (time.perf_counter() - began) * 1000

        return timed

    for label, module_name, attribute, _ in stages:
        module = importlib.import_module(module_name)
        originals.append((module, attribute, getattr(module, attribute)))
        setattr(module, attribute, timer(label, getattr(module, attribute)))
    requests_ms, rests = [], []
    try:
        for start, end in spans:
            spent.clear()
            ms, _ = timed_in_process(client, host, start, end)
            requests_ms.append(ms)
            for label in totals:
                totals[label].append(spent.get(label, 0.0))
            rests.append(ms - sum(spent.get(label, 0.0) for label, _, _, nested in stages if not nested))
    finally:
        for module, attribute, original in originals:
            setattr(module, attribute, original)
    result = {label: median(values) for label, values in totals.items()}
    result["rest: Flask, arguments, JSON of the slots"] = median(rests)
    result["whole request"] = median(requests_ms)
    return result


def profile_request(client: Any, host: scenario.Host, spans: list[tuple[datetime, datetime]]) -> str:
    """cProfile of 5 requests: the top functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for start, end in spans[:5]:
        timed_in_process(client, host, start, end)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


# --- in a fresh process ---------------------------------------------------------------------------------
#
# Server time is measured in a process of its own, as a server worker would be: the benchmark's process
# holds every prepared event (hundreds of MB), which slows a request in it by a third.


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _app_client(database_url: str) -> Any:
    from api import create_app

    settings = Settings(database_url=database_url, log_level="warning", **UNLIMITED)
    return create_app(settings).test_client()


def time_availability(
    database_url: str, hosts: list[scenario.Host], spans: list[tuple[datetime, datetime]]
) -> list[list[tuple[float, list[str]]]]:
    """(ms, slot starts) of every window for every host, after one untimed request each.

    The hosts take turns window by window (first one first, then the other), so that a machine slowing
    down for a while (a shared CPU) weighs on both alike and their ratio stays meaningful.
    """
    client = _app_client(database_url)
    for host in hosts:
        timed_in_process(client, host, *spans[0])
    timings: list[list[tuple[float, list[str]]]] = [[] for _ in hosts]
    for index, (start, end) in enumerate(spans):
        order = range(len(hosts)) if index % 2 == 0 else reversed(range(len(hosts)))
        for number in order:
            timings[number].append(timed_in_process(client, hosts[number], start, end))
    return timings


def breakdown_and_profile(
    database_url: str, host: scenario.Host, spans: list[tuple[datetime, datetime]], profile: bool
) -> tuple[dict[str, float], str]:
    client = _app_client(database_url)
    timed_in_process(client, host, *spans[0])
    stages = breakdown(client, host, spans)
    return stages, profile_request(client, host, spans) if profile else ""


def time_naive(
    database_url: str, host: scenario.Host, start: datetime, end: datetime, now: datetime
) -> tuple[float, scenario.Window]:
    engine = db.engine_for(database_url)
    began = time.perf_counter()
    window = scenario.compute_window(engine, host, start, end, now, naive=True)
    return (time.perf_counter() - began) * 1000, window
