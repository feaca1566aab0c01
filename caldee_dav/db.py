"""Engines and sessions. No module-level session: callers open one per request or unit of work."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Select, create_engine, event, exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_CACHE_KIB = 16 * 1024


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy own BEGIN so that write units can start with BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Reads go through the OS page cache by memory map instead of a read() per page, and each
        # connection keeps more pages: a month's calendar-query reads a thousand objects' text.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A write unit asks for IMMEDIATE so two writers queue on the busy timeout instead of
        # failing with "database is locked" when a reader upgrades to a writer.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        # On the driver's connection: exec_driver_sql's execution context costs more than the BEGIN.
        connection.connection.driver_connection.execute(f"BEGIN {mode}")

    # Savepoints to the driver's connection too. SQLAlchemy runs each SAVEPOINT and RELEASE as a whole
    # statement execution (compiled clause, execution context, result): every mailed invitation is
    # applied in a savepoint, and the pair cost 5 % of its time (py-spy), more than SQLite's work.
    # The dialect's own methods, on this engine's dialect only (what its connections call).
    dialect = engine.dialect
    dialect.do_savepoint = _on_driver("SAVEPOINT")  # type: ignore[method-assign]
    dialect.do_release_savepoint = _on_driver("RELEASE SAVEPOINT")  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = _on_driver("ROLLBACK TO SAVEPOINT")  # type: ignore[method-assign]


def _on_driver(command: str) -> Any:
    """A dialect's savepoint method that sends ``command`` and the savepoint's name (SQLAlchemy's own,
    ``sa_savepoint_<n>``) straight to the driver's connection."""

    def run(connection: Connection, name: str) -> None:
        connection.connection.driver_connection.execute(f'{command} "{name}"')

    return run


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _prepare_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        # No server-side prepared statements: a generic plan cached while a table was still small (a
        # fresh calendar being filled in one transaction) would keep sequential scans as it grows.
        connect_args={"prepare_threshold": None},
    )
    _drop_connections_closed_by_the_server(engine)
    return engine


def _drop_connections_closed_by_the_server(engine: Engine) -> None:
    """A pooled connection the server has closed is replaced before use, without a round trip.

    When PostgreSQL restarts or ends a session (pg_terminate_backend, idle_session_timeout) it sends
    the client an error and closes the socket, so an idle connection with anything to read is dead.
    Checking that costs one poll() where ``pool_pre_ping`` costs a SELECT 1: a tenth of a CalDAV
    PUT. Raising DisconnectionError in "checkout" makes the pool discard the connection and hand out
    a fresh one (SQLAlchemy's documented pessimistic disconnect handling).
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if _has_unread_input(dbapi_connection.fileno()):
            raise exc.DisconnectionError("the server closed this connection")


def _has_unread_input(fileno: int) -> bool:
    poller = select.poll()
    poller.register(fileno, select.POLLIN)
    return bool(poller.poll(0))


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per database URL per process (SQLAlchemy's advice: an engine is a process-wide pool)."""
    return make_engine(url)


def on_postgresql(bind: Engine | Connection | Session) -> bool:
    """Whether ``bind`` talks to PostgreSQL; otherwise it is SQLite, the other database Caledee runs on."""
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name == "postgresql"
    return bind.dialect.name == "postgresql"


@contextmanager
def read_unit(engine: Engine) -> Iterator[Session]:
    """A read-only unit of work."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def write_unit(engine: Engine) -> Iterator[Session]:
    """One transaction that writes: committed on success, rolled back on any exception.

    On SQLite the transaction starts with BEGIN IMMEDIATE, which serializes writers across processes.
    """
    if on_postgresql(engine):
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
        return
    writers = _sqlite_writers(engine)
    with (
        writers.turn(SQLITE_BUSY_TIMEOUT_MS / 1000),
        Session(writers.immediate, expire_on_commit=False) as session,
    ):
        with session.begin():
            yield session


class _WriterQueue:
    """Where a process's SQLite writers wait for their turn: a thread lock for this process's threads
    and a file lock beside the database for other processes.

    SQLite's own busy handler, which is what a writer waiting on BEGIN IMMEDIATE gets, sleeps 1, 2,
    5, 10 ... up to 100 ms between tries, so the database sits idle after a commit until the next
    writer wakes. A thread waiting on a lock starts the moment the last writer releases it; the file
    lock is polled every half millisecond. Both are courtesies: a writer that has waited the busy
    timeout for them goes on to BEGIN IMMEDIATE regardless, which is what keeps writes correct.
    """

    POLL_SECONDS = 0.0005

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database or ""
        self.path = database + "-writer.lock" if database and database != ":memory:" else None
        # The engine whose transactions begin IMMEDIATE (built once: an option engine per unit is work).
        self.immediate = engine.execution_options(sqlite_begin="IMMEDIATE")
        self.made_in = os.getpid()
        self.thread_lock = threading.Lock()
        self.file: Any = None

    @contextmanager
    def turn(self, timeout: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        held = self.thread_lock.acquire(timeout=timeout)
        try:
            locked = held and self._lock_file(deadline)
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(self.file, fcntl.LOCK_UN)
        finally:
            if held:
                self.thread_lock.release()

    def _lock_file(self, deadline: float) -> bool:
        if self.path is None:
            return False
        if self.file is None:
            try:
                self.file = open(self.path, "a+b")  # noqa: SIM115 (kept while the engine lives)
                weakref.finalize(self, self.file.close)
            except OSError:
                log.warning(
                    "no writer lock file at %s; SQLite's busy handler alone queues writers", self.path
                )
                self.path = None
                return False
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.POLL_SECONDS)


def _sqlite_writers(engine: Engine) -> _WriterQueue:
    """The engine's writer queue, kept on the engine: one per engine and process (a forked child does
    not inherit its parent's locks, held or not)."""
    queue = engine.__dict__.get("_caledee_writers")
    if queue is None or queue.made_in != os.getpid():
        with _QUEUES_MADE:
            queue = engine.__dict__.get("_caledee_writers")
            if queue is None or queue.made_in != os.getpid():
                queue = engine.__dict__["_caledee_writers"] = _WriterQueue(engine)
    return queue


_QUEUES_MADE = threading.Lock()


def plain_rows(session: Session, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The driver's own tuples for a large read of plain columns (text, numbers, booleans).

    SQLAlchemy's Row objects and result processing cost more than the query itself when a calendar
    listing returns 10,000 rows or more. Values come as the driver returns them: no type
    conversion, so this is only for columns whose stored form is the Python value (not datetimes).
    """
    connection = session.connection()
    if not on_postgresql(connection):
        # Executed as usual (SQLAlchemy's statement cache, expanding IN), read from the driver's cursor.
        result = connection.execute(query)
        try:
            return result.cursor.fetchall()  # type: ignore[union-attr]
        finally:
            result.close()
    # psycopg's binary format: text and bytea arrive as they are stored, not as text to parse (bytea
    # in text format is hex, twice the size). SQLAlchemy cannot ask for it, so the statement is
    # compiled here and run on a binary cursor.
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    with connection.connection.cursor(binary=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


class PlainStatement:
    """A Core statement run on SQLite by the driver itself, its values converted by its columns' types.

    Why: SQLAlchemy spends 40-60 us of Python on executing a statement (its execution context, the
    parameters' and the result's processing, the events), and SQLite answers an indexed lookup in
    about 5. A message mailed in runs a dozen such statements (py-spy: SQLAlchemy's own Python was a
    third of the inbound pipeline). Compiled once for SQLite: its SQL, its parameters' order, and the
    conversions its parameters and result columns need (``TypeEngine.bind_processor`` and
    ``result_processor``: a datetime to SQLite's text and back, JSON to text and back; none for text,
    numbers and booleans). On PostgreSQL it runs through SQLAlchemy as any statement (the round trip
    costs more than either). No expanding IN parameters (their SQL depends on the values)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        dialect = sqlite.dialect()
        compiled = statement.compile(dialect=dialect)
        self.sqlite_sql = str(compiled)
        self.parameter_names = tuple(compiled.positiontup or ())
        # The statement's own values (``tag == "VCALENDAR"`` is a parameter too), by parameter name.
        self.fixed = {name: value for name, value in compiled.params.items() if value is not None}
        binds = [compiled.binds[name] for name in self.parameter_names]
        # The types as SQLite's dialect implements them (a generic DateTime converts nothing itself).
        self._to_sqlite = tuple(
            bind.type.dialect_impl(dialect).bind_processor(dialect) if _converted_type(bind.type) else None
            for bind in binds
        )
        self._from_sqlite = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            if _converted_type(column.type)
            else None
            for column in _result_columns(statement)
        )
        self._converts_parameters = any(self._to_sqlite)
        self._converts_rows = any(self._from_sqlite)

    def _values(self, params: dict[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.fixed[name] for name in self.parameter_names]
        if self._converts_parameters:
            return _converted(self._to_sqlite, values)
        return values

    def _rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if self._converts_rows:
            return [tuple(_converted(self._from_sqlite, row)) for row in rows]
        return rows

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows (the driver's tuples on SQLite), in the session's transaction."""
        connection = session.connection()
        if on_postgresql(connection):
            return [tuple(row) for row in connection.execute(self.statement, params)]
        return self._rows(
            connection.connection.driver_connection.execute(self.sqlite_sql, self._values(params)).fetchall()
        )

    def first(self, session: Session, params: dict[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(session, params)
        return rows[0] if rows else None

    def run(self, session: Session, params: dict[str, Any]) -> None:
        """Execute a statement that returns no rows."""
        connection = session.connection()
        if on_postgresql(connection):
            connection.execute(self.statement, params)
            return
        connection.connection.driver_connection.execute(self.sqlite_sql, self._values(params))

    def run_many(self, session: Session, rows: list[tuple[Any, ...]]) -> None:
        """Execute a statement without result once a row, each row's values in ``parameter_names``
        order: on SQLite the driver's ``executemany`` (one prepared statement, stepped in C); on
        PostgreSQL SQLAlchemy's executemany, with the rows as dictionaries."""
        if not rows:
            return
        connection = session.connection()
        if on_postgresql(connection):
            connection.execute(
                self.statement, [dict(zip(self.parameter_names, row, strict=True)) for row in rows]
            )
            return
        if self._converts_parameters:
            rows = [tuple(_converted(self._to_sqlite, row)) for row in rows]
        connection.connection.driver_connection.executemany(self.sqlite_sql, rows)


# What the sqlite3 driver takes and gives as they are: no conversion (a bool is stored as 1 or 0).
_DRIVER_TYPES = (bool, int, float, str, bytes)


def _converted_type(type_: Any) -> bool:
    """Whether values of ``type_`` need its processors (a datetime, JSON), not the driver's own."""
    try:
        return type_.python_type not in _DRIVER_TYPES
    except NotImplementedError:  # a type that does not say: converted as SQLAlchemy would
        return True


def _result_columns(statement: Executable) -> list[Any]:
    """The columns a statement returns: a SELECT's, or an INSERT, UPDATE or DELETE's RETURNING."""
    selected = getattr(statement, "selected_columns", None)
    if selected is None:
        selected = getattr(statement, "exported_columns", ())
    return list(selected)


def _converted(processors: tuple[Any, ...], values: Any) -> list[Any]:
    # None goes through its processor too, as SQLAlchemy passes it (JSON's writes it as 'null').
    return [
        process(value) if process is not None else value
        for process, value in zip(processors, values, strict=True)
    ]


def write_stall(engine: Engine, timeout: float) -> str | None:
    """Why a write transaction could not start within ``timeout`` seconds, or None when it could.

    SQLite: BEGIN IMMEDIATE takes the database's one write lock (a stalled writer holds it). PostgreSQL:
    a transaction id and a ROW EXCLUSIVE lock on a table, as every write takes (a migration or an
    explicit table lock blocks it). Rolled back at once: nothing is written."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            if engine.dialect.name == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    cursor.execute("ROLLBACK")
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            else:
                raw.rollback()
                cursor.execute(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
                cursor.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
                cursor.execute("SELECT pg_current_xact_id()")
                cursor.execute("LOCK TABLE alembic_version IN ROW EXCLUSIVE MODE")
                raw.rollback()
        finally:
            cursor.close()
    except Exception as error:  # noqa: BLE001 - any failure is the answer: the database cannot take writes
        try:
            raw.rollback()
        except Exception:  # noqa: BLE001, S110 - the connection is broken; the pool replaces it
            pass
        return f"a write transaction could not start within {timeout:g} s: {error}".strip()
    finally:
        raw.close()
    return None
