"""The unit of work of one Radicale request.

Radicale wraps every request in ``acquire_lock``; that opens the request's unit of work here: a read
transaction for "r", a write transaction for "w" (BEGIN IMMEDIATE on SQLite, row locks on
PostgreSQL). No file lock is taken, so several server processes can share one database. The storage
and its collections both reach the open unit through this object.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from caldee_dav import db

_current: contextvars.ContextVar[tuple[Session, str] | None] = contextvars.ContextVar(
    "caledee_dav_session", default=None
)


class RequestUnits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current_session(self) -> Session:
        """The write unit of this request (writes happen only under Radicale's "w" lock)."""
        current = _current.get()
        if current is None:
            raise RuntimeError("storage used outside acquire_lock")
        return current[0]

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """The request's session, or a short read unit for what Radicale renders after unlocking."""
        current = _current.get()
        if current is not None:
            yield current[0]
            return
        with db.read_unit(self.engine) as session:
            yield session

    @contextmanager
    def unit(self, mode: str) -> Iterator[None]:
        current = _current.get()
        # Reuse the open unit unless a write is asked for inside a read-only one.
        if current is not None and (mode == "r" or current[1] == "w"):
            yield
            return
        open_unit = db.write_unit if mode == "w" else db.read_unit
        with open_unit(self.engine) as session:
            token = _current.set((session, mode))
            try:
                yield
            finally:
                _current.reset(token)
