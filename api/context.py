"""What a request handler may reach: settings, engine and units of work, via ``app.extensions``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app, g

from caldee_dav import clock, db
from caldee_dav.calendars.request_limits import RequestLimits
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

EXTENSION = "caledee"


@dataclass
class Caledee:
    settings: Settings
    engine: Engine
    login_throttle: LoginThrottle
    request_limits: RequestLimits
    now: Callable[[], datetime] = field(default=clock.now)


def caledee() -> Caledee:
    return current_app.extensions[EXTENSION]


class SharedReads:
    """One read transaction for the read units of a request (``shared_reads``), begun by the first of them.

    A write unit makes it stale: the next read unit begins a new transaction, so that reads after a write
    see it, as separate read units would. A read unit still open during the write keeps its transaction,
    also as before.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.depth = 0  # read units open now
        self.stale = False
        self._unit: ExitStack | None = None
        self._session: Session | None = None

    @contextmanager
    def unit(self) -> Iterator[Session]:
        if self.stale and not self.depth:
            self.end()
        if self._session is None:
            self._unit = ExitStack()
            self._session = self._unit.enter_context(db.read_unit(self.engine))
        self.depth += 1
        try:
            yield self._session
        except BaseException as exc:
            self.depth -= 1
            if not self.depth:  # rolled back, as a read unit of its own would be
                self.end(type(exc), exc, exc.__traceback__)
            raise
        self.depth -= 1

    def wrote(self) -> None:
        if self._session is not None:
            self.stale = True
            if not self.depth:
                self.end()  # gives the connection back before the write takes one

    def end(self, *exc_info: object) -> None:
        """Commit (or, with an exception, roll back) and close the shared transaction."""
        unit, self._unit, self._session, self.stale = self._unit, None, None, False
        if unit is not None:
            unit.__exit__(*(exc_info or (None, None, None)))


@contextmanager
def shared_reads() -> Iterator[None]:
    """Let the read units inside share one session and transaction: the token check and a read-only view
    then cost one BEGIN ... COMMIT instead of two (on PostgreSQL, two round trips fewer)."""
    reads = SharedReads(caledee().engine)
    g.caledee_shared_reads = reads
    try:
        yield
    except BaseException as exc:
        reads.end(type(exc), exc, exc.__traceback__)
        raise
    else:
        reads.end()
    finally:
        g.pop("caledee_shared_reads", None)


@contextmanager
def read_unit() -> Iterator[Session]:
    reads: SharedReads | None = g.get("caledee_shared_reads")
    if reads is not None:
        with reads.unit() as session:
            yield session
        return
    with db.read_unit(caledee().engine) as session:
        yield session


@contextmanager
def write_unit() -> Iterator[Session]:
    reads: SharedReads | None = g.get("caledee_shared_reads")
    if reads is not None:
        reads.wrote()
    with db.write_unit(caledee().engine) as session:
        yield session


def current_user_id() -> str:
    """The authenticated user of this request (set by ``api.auth.require_scopes``)."""
    return g.caledee_user_id


def current_token_id() -> str:
    """The id of the API token this request authenticated with (set with the user)."""
    return g.caledee_token_id
