"""The one clock: every computation that depends on the time (slots, notice, booking window, the
indexing horizon, token expiry, DTSTAMP, created/updated stamps, sync) reads ``now()``.

The clock is installed once per process by the composition root (``install(Clock.from_settings(...))``:
the app factory, the Radicale plugins, the CLI). It is process-wide rather than passed everywhere
because some readers cannot take an argument: SQLAlchemy column defaults and Radicale's plugin
constructors. Domain services that compute with the time take ``now`` as a parameter; their callers
read it from here.

Tests move it with the ``clock_offset_days`` setting (servers) or ``install`` (in-process code); the
suite runs once more with the clock two years ahead to prove that no test depends on today's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Clock:
    """The real time, moved by ``offset`` (zero outside tests), or pinned to ``fixed``."""

    offset: timedelta = timedelta(0)
    fixed: datetime | None = None

    def now(self) -> datetime:
        """An aware UTC datetime."""
        if self.fixed is not None:
            return self.fixed
        return datetime.now(UTC) + self.offset

    @classmethod
    def moved_by_days(cls, days: int) -> Clock:
        return cls(offset=timedelta(days=days))


_installed = Clock()


def install(clock: Clock) -> Clock:
    """Make ``clock`` the process's clock; returns the one it replaces (for tests to put back)."""
    global _installed
    previous, _installed = _installed, clock
    return previous


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _installed.now()
