"""Dates for tests, computed from the clock the server reads (``caldee_dav.clock``), never written down.

A booking, an availability range or an event that must lie in the future or inside the indexing
horizon is placed relative to the clock's today, so the suite passes whatever day it runs on, and
with the clock moved (``CALEDEE_TEST_CLOCK_OFFSET_DAYS``, installed by conftest.py in this process and
in every server the tests start). Dates that do not depend on now (pure functions given an explicit
``now`` or horizon, parsing fixed texts) may stay literal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from caldee_dav import clock

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def now() -> datetime:
    """The clock's now: aware, UTC."""
    return clock.now()


def today() -> date:
    """The clock's date in UTC."""
    return clock.now().date()


def days_ahead(days: int) -> date:
    """Today plus ``days`` (negative: in the past)."""
    return today() + timedelta(days=days)


def next_weekday(weekday: int, *, after_days: int = 1) -> date:
    """The first ``weekday`` (MON ... SUN) at least ``after_days`` days after today."""
    first = days_ahead(after_days)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def at(day: date, hour: int = 0, minute: int = 0, zone: str = "UTC") -> datetime:
    """``hour:minute`` wall-clock time on ``day`` in ``zone``, aware (``datetime.UTC`` for UTC)."""
    return datetime.combine(day, time(hour, minute), UTC if zone == "UTC" else ZoneInfo(zone))


def next_dst_change(zone: str, *, forward: bool, after_days: int = 1) -> date:
    """The first day at least ``after_days`` days after today on which ``zone`` moves its clocks
    forward (``forward``, spring) or back (autumn)."""
    day = days_ahead(after_days)
    for _ in range(2 * 366):
        before, after = at(day - timedelta(days=1), 12, zone=zone), at(day, 12, zone=zone)
        if before.utcoffset() != after.utcoffset():
            if (after.utcoffset() > before.utcoffset()) == forward:  # type: ignore[operator]
                return day
        day += timedelta(days=1)
    raise ValueError(f"{zone} does not change its clocks")


def ical_day(day: date) -> str:
    """An iCalendar DATE: ``YYYYMMDD``."""
    return day.strftime("%Y%m%d")


def ical_utc(moment: datetime) -> str:
    """An iCalendar UTC DATE-TIME: ``YYYYMMDDTHHMMSSZ``."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ical_local(day: date, hour: int, minute: int = 0) -> str:
    """An iCalendar local DATE-TIME (for a TZID parameter or floating): ``YYYYMMDDTHHMMSS``."""
    return f"{ical_day(day)}T{hour:02d}{minute:02d}00"


def api_utc(moment: datetime) -> str:
    """A time as the REST API writes it: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
