"""The two storages under test: load the same events into each, then serve each on a loopback port.

* Caledee: the write service (``objects.put_object`` with ``ical.index_object``, a few thousand objects
  per ``db.write_unit``), served by the real server (``python -m caldee_dav.cli serve``, gunicorn).
* Radicale: its stock ``multifilesystem`` storage, the files written directly (a calendar folder with
  ``.Radicale.props`` and one ``<href>`` file per object, the text Radicale writes after a PUT), served
  by stock ``python -m radicale``. Loading through Radicale's PUT is O(N) per request: hours for 10,000.

Both get the text Radicale itself would store after a client's PUT (``radicale.app.put.prepare``, i.e.
vobject's serialization), since Caledee also sits behind Radicale's front end.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import logging
import multiprocessing
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import radicale.item as radicale_item
import requests
import sqlalchemy as sa
import vobject
from sqlalchemy.engine import make_url

from caldee_dav import db, ical, store
from caldee_dav.calendars import accounts
from caldee_dav.calendars import objects as calendar_objects
from caldee_dav.calendars.objects import PreparedObject
from caldee_dav.config import Settings
from caldee_dav.schema import migrate

USER = "bench"
PASSWORD = "bench-password"
CALENDAR = "calendar"
CALENDAR_PATH = f"/{USER}/{CALENDAR}/"
BATCH = 2000
MAX_RRULE_OCCURRENCES = 10_000  # Radicale's default [server] max_vevent_rrule_occurrence
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StoredObject:
    href: str
    text: str  # as Radicale stores it
    index: ical.ObjectIndex


def radicale_text(text: str) -> str:
    """What Radicale writes to disk for a client's PUT of ``text`` (radicale.app.put.prepare without the
    time-range computation it caches alongside): sanitized, then serialized by vobject."""
    vobject_items = list(vobject.readComponents(text))
    radicale_item.check_and_sanitize_items(
        vobject_items, max_vevent_rrule_occurrence=MAX_RRULE_OCCURRENCES, is_collection=False, tag="VCALENDAR"
    )
    return vobject_items[0].serialize()


def _prepare_one(job: tuple[str, str, int, int]) -> StoredObject:
    href, text, horizon_end, max_instances = job
    stored = radicale_text(text)
    index = ical.index_object(
        ical.parse_calendar(stored), horizon_end=horizon_end, max_instances=max_instances
    )
    return StoredObject(href, stored, index)


def prepare(events: Iterable[tuple[str, str]], settings: Settings, processes: int) -> list[StoredObject]:
    """(href, client text) -> stored text and index, on every CPU (vobject and the indexer are slow)."""
    logging.getLogger("radicale").setLevel(logging.ERROR)
    horizon_end = int(time.time()) + settings.occurrence_horizon_days * 86400
    jobs = ((href, text, horizon_end, settings.max_occurrences_per_object) for href, text in events)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return list(pool.imap(_prepare_one, jobs, chunksize=50))


def cache_key(*parts: object) -> str:
    """Changes when the generator, the indexer, a parsing library, a setting or the day changes
    (the index of unbounded series depends on today's date through the horizon)."""
    digest = hashlib.sha256()
    for source in (Path(__file__).with_name("_events.py"), Path(ical.__file__)):
        digest.update(source.read_bytes())
    for function in (radicale_text, _prepare_one):
        digest.update(inspect.getsource(function).encode())
    for package in ("vobject", "radicale", "icalendar", "recurring-ical-events"):
        digest.update(importlib.metadata.version(package).encode())
    digest.update(repr((*parts, datetime.now(UTC).date().isoformat())).encode())
    return digest.hexdigest()[:16]


def prepare_cached(
    events: list[tuple[str, str]], settings: Settings, processes: int, cache: Path | None, key: str
) -> tuple[list[StoredObject], bool]:
    """``prepare``, kept in ``cache`` (bench/.data) so that re-runs skip minutes of parsing; the flag says
    whether the objects came from the cache."""
    if cache is None:
        return prepare(events, settings, processes), False
    return cached_pickle(cache / f"objects-{key}.pickle", lambda: prepare(events, settings, processes))


def cached_pickle(path: Path, build: Callable[[], Any]) -> tuple[Any, bool]:
    """What ``build`` returns, kept in ``path``; the flag says whether it came from there. Written to
    a partial file first, so that an interrupted run leaves no truncated cache."""
    if path.exists():
        with path.open("rb") as handle:
            return pickle.load(handle), True
    built = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        pickle.dump(built, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return built, False


# --- Caledee ------------------------------------------------------------------------------------------


def create_postgres_database(base_url: str, name: str) -> str:
    """A fresh database ``name`` on the server of ``base_url`` (dropped first if a previous run left it)."""
    url = make_url(base_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(base_url: str, name: str) -> None:
    db.engine_for.cache_clear()
    admin = sa.create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def load_caledee(database_url: str, objects: list[StoredObject]) -> str:
    """Create the user and calendar, store every object; returns an API token (the CalDAV password)."""
    engine = db.engine_for(database_url)
    migrate(engine)
    with db.write_unit(engine) as session:
        user = accounts.create_user(session, email=f"{USER}@example.com", slug=USER, password=PASSWORD)
        accounts.create_calendar(session, user, name="Bench", slug=CALENDAR)
        token = accounts.create_token(session, user, name="bench").secret
    for first in range(0, len(objects), BATCH):
        with db.write_unit(engine) as session:
            collection = store.require_collection(session, f"{USER}/{CALENDAR}")
            for obj in objects[first : first + BATCH]:
                calendar_objects.put_object(session, collection, obj.href, _prepared(obj))
        _analyze(engine)
    vacuum_analyze(engine)
    engine.dispose()
    return token


def _analyze(engine: sa.Engine) -> None:
    """On PostgreSQL, refresh the planner's statistics after each batch, as autovacuum would.

    psycopg prepares a statement after 5 executions and PostgreSQL may then keep a generic plan made
    while the table was empty: for ``get_object`` that plan scans the whole collection through
    ix_object_uid (see docs/performance.md), which makes a bulk load quadratic. ANALYZE invalidates it.
    """
    _maintain(engine, "ANALYZE")


def vacuum_analyze(engine: sa.Engine) -> None:
    """On PostgreSQL, what autovacuum does after a load (it is off on the benchmark machine): fresh
    planner statistics, and pages marked all-visible so that covering indexes answer alone."""
    _maintain(engine, "VACUUM ANALYZE")


def _maintain(engine: sa.Engine, statement: str) -> None:
    if db.on_postgresql(engine):
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_until_up(server: Server, probe: str) -> Server:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log_path.read_text()}")
        try:
            if requests.get(server.url + probe, timeout=2).status_code < 500:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not start:\n{server.log_path.read_text()}")


def start_caledee(name: str, database_url: str, workdir: Path, *, workers: int = 1) -> Server:
    """``caledee serve`` on a free loopback port, up when /health answers; ``Server.url`` is its root."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}
    env.update(
        {
            "CALEDEE_DATABASE_URL": database_url,
            "CALEDEE_HOST": "127.0.0.1",
            "CALEDEE_PORT": str(port),
            "CALEDEE_WORKERS": str(workers),
            "CALEDEE_LOG_LEVEL": "warning",
            "CALEDEE_CONFIG": str(workdir / "absent.toml"),
            "PYTHONPATH": str(ROOT),
            # CALEDEE_DAV_FAST_PATH=false measures the same storage with Radicale answering everything.
            "CALEDEE_DAV_FAST_PATH": os.environ.get("CALEDEE_DAV_FAST_PATH", "true"),
        }
    )
    log_path = workdir / f"{name}-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "caldee_dav.cli", "serve"],
        cwd=workdir,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _wait_until_up(Server(name, f"http://127.0.0.1:{port}", process, log_path), "/health")


# --- Radicale -----------------------------------------------------------------------------------------


def write_radicale_files(folder: Path, objects: list[StoredObject]) -> None:
    """The collection tree multifilesystem keeps: collection-root/<user>/<calendar>/<href> + props."""
    calendar = folder / "collection-root" / USER / CALENDAR
    calendar.mkdir(parents=True)
    (calendar / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "Bench"}))
    for obj in objects:
        with open(calendar / obj.href, "w", encoding="utf-8", newline="") as handle:
            handle.write(obj.text)


def start_radicale(folder: Path, workdir: Path) -> Server:
    port = free_port()
    config = workdir / "radicale.conf"
    config.write_text(
        f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = none
[rights]
type = owner_only
[storage]
type = multifilesystem
filesystem_folder = {folder}
[web]
type = none
[logging]
level = warning
"""
    )
    log_path = workdir / "radicale.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)],
        cwd=workdir,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _wait_until_up(Server("radicale", f"http://127.0.0.1:{port}", process, log_path), "/")


def _prepared(obj: Any) -> PreparedObject:
    """An object of the bench, indexed when it was generated, as the write service takes it."""
    return PreparedObject(obj.text, ical.etag_of(obj.text), obj.index)
