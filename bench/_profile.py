"""Where Caledee's time goes, server-side: the real WSGI app called in-process (no socket, no gunicorn).

* ``profile_operation``: one request under cProfile, top functions printed.
* ``breakdown``: every benchmark request timed (median of a few), split into the store (SQL, rows),
  the rest of our code (the fast CalDAV path, our Radicale plugins, login, rendering) and the rest
  (Radicale's front end: XML parsing and rendering, vobject, path handling; Flask's dispatch), with
  whether the fast path answered it.
"""

from __future__ import annotations

import base64
import cProfile
import functools
import inspect
import io
import os
import pstats
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import _backends
import _dav
import _events
from werkzeug.test import Client

from caldee_dav import db
from caldee_dav.calendars import accounts
from caldee_dav.config import Settings

TOP = 30
SYNC_CHANGES = 10
BREAKDOWN_RUNS = 3
# The plugin methods that do work (SQL, indexing, building items). Trivial accessors such as ``path``,
# which Radicale calls many times per item, are left alone: wrapping them would cost more than they do.
TIMED_METHODS = {
    "acquire_lock",
    "discover",
    "create_collection",
    "move",
    "last_modified",
    "get_multi",
    "get_all",
    "get_filtered",
    "has_uid",
    "upload",
    "delete",
    "sync",
    "set_meta",
    "_login",
}
# Plugin methods returning a context manager whose enter/exit do the work (BEGIN ... COMMIT).
CONTEXT_METHODS = {"acquire_lock"}


class InProcess:
    """The app as gunicorn would serve it, with a token for the bench user."""

    def __init__(self, database_url: str) -> None:
        from caldee_dav.server import wsgi_app

        with db.write_unit(db.engine_for(database_url)) as session:
            user = accounts.require_user(session, _backends.USER)
            secret = accounts.create_token(session, user, name="profile").secret
        fast = os.environ.get("CALEDEE_DAV_FAST_PATH", "true")
        settings = Settings(database_url=database_url, log_level="warning", dav_fast_path=fast)  # type: ignore[arg-type]
        self.client = Client(wsgi_app(settings))
        self.auth = "Basic " + base64.b64encode(f"{_backends.USER}:{secret}".encode()).decode()
        self.path = "/dav" + _backends.CALENDAR_PATH
        self.rng = random.Random(time.time_ns())  # fresh UIDs on a database used before

    def call(self, method: str, url: str, body: str, **headers: str) -> tuple[int, bytes]:
        response = self.client.open(
            url, method=method, data=body.encode(), headers={"Authorization": self.auth, **headers}
        )
        return response.status_code, response.get_data()

    def request_for(self, op: str, week: tuple[str, str], month: tuple[str, str]) -> Callable[[], int]:
        """A callable making the benchmark's request ``op`` (preparing sync changes first, untimed)."""
        xml = {"Content-Type": "application/xml; charset=utf-8"}
        ical = {"Content-Type": "text/calendar; charset=utf-8"}
        path = self.path
        if op == "put":

            def put() -> int:
                event = _events.new_event(self.rng, date(2027, 4, 15))
                return self.call("PUT", path + event.href, event.text, **ical)[0]

            return put
        if op == "sync":
            answer = _dav.parse_multistatus(
                self.call("PROPFIND", path, _dav.PROPFIND_SYNC_TOKEN, Depth="0", **xml)[1]
            )
            token = answer[0].props[f"{_dav.DAV}sync-token"].text or ""
            for _ in range(SYNC_CHANGES):
                fresh = _events.new_event(self.rng, date(2027, 5, 20))
                self.call("PUT", path + fresh.href, fresh.text, **ical)
            return lambda: self.call("REPORT", path, _dav.sync_collection(token), **xml)[0]
        bodies = {
            "propfind": ("PROPFIND", _dav.PROPFIND_ETAGS),
            "week": ("REPORT", _dav.calendar_query(*week)),
            "month": ("REPORT", _dav.calendar_query(*month)),
            "expand": ("REPORT", _dav.calendar_query(*week, expand=True)),
        }
        method, body = bodies[op]
        return lambda: self.call(method, path, body, Depth="1", **xml)[0]


def profile_operation(op: str, database_url: str, week: tuple[str, str], month: tuple[str, str]) -> None:
    app = InProcess(database_url)
    app.request_for(op, week, month)()  # warm-up: imports, pools, per-process caches (tzdata listing)
    request = app.request_for(op, week, month)
    profiler = cProfile.Profile()
    profiler.enable()
    status = request()
    profiler.disable()
    print(f"\n=== cProfile of '{op}' on Caledee (SQLite, in-process WSGI, status {status}) ===")
    by_package = _time_by_package(pstats.Stats(profiler))
    total = sum(by_package.values())
    print("Own time by package: " + ", ".join(f"{p} {t / total:.0%}" for p, t in by_package.most_common(10)))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(TOP)
    stats.sort_stats("tottime").print_stats(TOP)
    print(out.getvalue())


def _time_by_package(stats: pstats.Stats) -> Counter[str]:
    """Own (not cumulative) time per top-level package: who does the work."""
    totals: Counter[str] = Counter()
    for (filename, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        elif "/caldee_dav/" in filename or "/api/" in filename:
            package = "caledee"
        elif "/bench/" in filename:
            package = "bench"
        elif filename == "~":
            package = "builtins (" + ("sqlite3" if "sqlite3" in function else "C calls") + ")"
        else:
            package = "stdlib " + filename.rsplit("/", 1)[-1].removesuffix(".py")
        totals[package] += own
    return totals


# --- time spent inside our plugins ------------------------------------------------------------------


class PluginClock:
    """Adds up the wall time spent inside the storage and auth plugins' methods (outermost calls only;
    generators are timed per step, since Radicale interleaves its own work between items)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    @contextmanager
    def timing(self) -> Iterator[None]:
        self._depth += 1
        started = time.perf_counter() if self._depth == 1 else 0.0
        try:
            yield
        finally:
            if self._depth == 1:
                self.seconds += time.perf_counter() - started
            self._depth -= 1

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        clock = self
        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with clock.timing():
                    iterator = function(*args, **kwargs)
                while True:
                    with clock.timing():
                        try:
                            item = next(iterator)
                        except StopIteration:
                            return
                    yield item

            return generator

        @functools.wraps(function)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with clock.timing():
                result = function(*args, **kwargs)
            if function.__name__ in CONTEXT_METHODS:
                return _TimedContext(clock, result)
            return result

        return plain


class _TimedContext:
    """A context manager (acquire_lock: BEGIN ... COMMIT) whose enter and exit are timed."""

    def __init__(self, clock: PluginClock, inner: Any) -> None:
        self.clock, self.inner = clock, inner

    def __enter__(self) -> Any:
        with self.clock.timing():
            return self.inner.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        with self.clock.timing():
            return self.inner.__exit__(*exc)


def _instrument(clock: PluginClock) -> None:
    from caldee_dav.dav import auth, collection, storage

    for cls in (storage.Storage, collection.DavCollection, auth.Auth):
        for name, member in list(vars(cls).items()):
            if name not in TIMED_METHODS:
                continue
            if isinstance(member, property):
                getter = member.fget
                assert getter is not None
                setattr(cls, name, property(clock.wrap(getter), member.fset))
            elif inspect.isfunction(member):
                setattr(cls, name, clock.wrap(member))


def _instrument_store(clock: PluginClock) -> None:
    """Time every public function of ``caldee_dav.store`` (SQL and building rows or objects)."""
    from caldee_dav import store

    for name, member in list(vars(store).items()):
        ours = member.__module__.startswith(store.__name__ + ".") if inspect.isfunction(member) else False
        if ours and not name.startswith("_"):
            setattr(store, name, clock.wrap(member))


def _instrument_fast_path(clock: PluginClock, answered: list[bool]) -> None:
    """Time the fast CalDAV path and record whether it answered (or handed over to Radicale)."""
    from caldee_dav.dav.fast.dispatch import FastDav

    answer = FastDav.answer

    def timed_answer(self: FastDav, *args: Any) -> Any:
        with clock.timing():
            result = answer(self, *args)
        answered.append(result is not None)
        return result

    FastDav.answer = timed_answer  # type: ignore[method-assign]


def breakdown(database_url: str, ops: list[str], week: tuple[str, str], month: tuple[str, str]) -> None:
    clock, store_clock = PluginClock(), PluginClock()
    answered: list[bool] = []
    _instrument(clock)
    _instrument_fast_path(clock, answered)
    _instrument_store(store_clock)
    app = InProcess(database_url)
    app.request_for("week", week, month)()
    print("\nIn-process split of Caledee's time (SQLite, WSGI app called directly; median of runs):")
    print(
        f"{'operation':10} {'answered by':>11} {'total ms':>9} {'store ms':>9} {'ours ms':>8} {'rest ms':>8}"
        "  store = SQL and rows (caldee_dav.store); ours = the rest of our code (fast path, plugins,"
        " login, rendering); rest = Radicale's front end, Flask"
    )
    for op in ops:
        totals, ours, stored, by = [], [], [], []
        for _ in range(BREAKDOWN_RUNS):
            request = app.request_for(op, week, month)
            clock.seconds = store_clock.seconds = 0.0
            answered.clear()
            started = time.perf_counter()
            request()
            totals.append((time.perf_counter() - started) * 1000)
            ours.append(clock.seconds * 1000)
            stored.append(store_clock.seconds * 1000)
            by.append("fast path" if answered and answered[-1] else "Radicale")
        total, mine, sql = statistics.median(totals), statistics.median(ours), statistics.median(stored)
        print(f"{op:10} {by[-1]:>11} {total:9.1f} {sql:9.1f} {mine - sql:8.1f} {total - mine:8.1f}")
