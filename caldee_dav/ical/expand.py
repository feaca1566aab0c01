"""Recurrence expansion, lazily and in windows: a series is read only as far as its reader goes."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

import icalendar
import recurring_ical_events

from caldee_dav.ical.parse import as_utc, main_components, start_in_utc
from caldee_dav.ical.series import Found as SimpleFound
from caldee_dav.ical.series import SimpleSeries, simple_series

# Expansion walks a series in windows with ``between`` (``iter_vevent_instances``): recurring_ical_events'
# ``after`` costs seconds per hundred instances of an unbounded rule, ``between`` milliseconds. Windows
# grow over sparse stretches and shrink over dense ones, so each holds about a hundred to a thousand
# instances. The first is a week, or an hour when a rule repeats by the minute or second: a week of
# FREQ=SECONDLY is 604,800 instances, which took minutes to build.
FIRST_WINDOW = timedelta(days=7)
LARGEST_WINDOW = timedelta(days=3650)
SMALLEST_WINDOW = timedelta(hours=1)
DENSE_FREQUENCIES = {"SECONDLY", "MINUTELY"}
Found = TypeVar("Found")


def _first_window(calendar: icalendar.Calendar) -> timedelta:
    for component in main_components(calendar):
        rules = component.get("RRULE", [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if DENSE_FREQUENCIES.intersection(str(f).upper() for f in rule.get("FREQ", [])):
                return SMALLEST_WINDOW
    return FIRST_WINDOW


# Floating times and dates are read as UTC; no zone is further than this from it.
ZONE_SLACK = timedelta(days=2)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def vevent_instances_between(
    calendar: icalendar.Calendar, start: datetime, end: datetime, *, limit: int | None = None
) -> list[icalendar.cal.Component]:
    """Every VEVENT instance overlapping [start, end), in order of start; more than ``limit`` raises
    TooManyInstances (a client may ask for a range of centuries over a daily series)."""
    found = []
    for instance in iter_vevent_instances(calendar, start, end):
        found.append(instance)
        if limit is not None and len(found) > limit:
            raise TooManyInstances(f"more than {limit} instances between {start} and {end}")
    return found


def iter_vevent_instances(
    calendar: icalendar.Calendar, start: datetime, end: datetime
) -> Iterator[icalendar.cal.Component]:
    """The VEVENT instances overlapping [start, end), in order of start, expanded only as far as they
    are read: whether a series has an instance in a range without an end costs its first windows.

    The range is read in windows (see the constants above). recurring_ical_events' own ``after``
    narrows its window to 15 minutes wherever it finds instances: 350,000 windows for ten years of a
    daily series."""
    query = recurring_ical_events.of(calendar, components=["VEVENT"])

    def window(window_start: datetime, window_end: datetime) -> list[icalendar.cal.Component]:
        return sorted(query.between(window_start, window_end), key=start_in_utc)

    def key(instance: icalendar.cal.Component) -> tuple[str, object]:
        return str(instance.get("UID", "")), instance.get("RECURRENCE-ID", instance.get("DTSTART")).dt

    return _in_windows(calendar, start, end, window, key)


def _in_windows(
    calendar: icalendar.Calendar,
    start: datetime,
    end: datetime,
    window_of: Callable[[datetime, datetime], list[Found]],
    key: Callable[[Found], object],
) -> Iterator[Found]:
    """What ``window_of`` finds in [start, end), window after window (see the constants above), each
    instance once (one overlapping two windows comes back in both)."""
    for batch in _batches_in_windows(calendar, start, end, window_of, key):
        yield from batch


def _batches_in_windows(
    calendar: icalendar.Calendar,
    start: datetime,
    end: datetime,
    window_of: Callable[[datetime, datetime], list[Found]],
    key: Callable[[Found], object],
) -> Iterator[list[Found]]:
    """``_in_windows``, a window's new instances at a time."""
    seen: set[object] = set()
    window, window_start = _first_window(calendar), start
    while window_start < end:
        try:
            window_end = min(end, window_start + window)
        except OverflowError:
            window_end = end
        found = window_of(window_start, window_end)
        batch = []
        for item in found:
            item_key = key(item)
            if item_key not in seen:
                seen.add(item_key)
                batch.append(item)
        yield batch
        window_start = window_end
        if len(found) < 100:
            window = min(window * 2, LARGEST_WINDOW)
        elif len(found) > 1000:
            window = max(window / 4, SMALLEST_WINDOW)


@dataclass(frozen=True)
class InstanceSpan:
    """One VEVENT instance without a component of its own: its DTSTART, its DTEND as the instance's
    component would hold it (DURATION applied, a date's day), and the master or override it comes
    from, shared (never change it)."""

    start: date | datetime
    end: date | datetime
    component: icalendar.cal.Component


def iter_instance_spans(
    calendar: icalendar.Calendar, start: datetime, end: datetime
) -> Iterator[InstanceSpan]:
    """``iter_vevent_instances`` for a reader that needs each instance's times, not a component:
    recurring_ical_events copies the series' component for every instance it returns, half the time
    of indexing a weekly series. Same windows, same order, same de-duplication. A series of a common
    shape is computed without the library (``caldee_dav.ical.series``), with the same result."""
    yield from expansion_of(calendar).instance_spans(start, end)


def iter_instance_spans_by_library(
    calendar: icalendar.Calendar, start: datetime, end: datetime
) -> Iterator[InstanceSpan]:
    """``iter_instance_spans`` through recurring_ical_events whatever the series' shape."""
    query = recurring_ical_events.of(calendar, components=["VEVENT"])
    occurrences_between = getattr(query, "_occurrences_between", None)
    if occurrences_between is None:  # another release of the library: through the components
        for instance in iter_vevent_instances(calendar, start, end):
            ends = instance.decoded("DTEND") if "DTEND" in instance else instance.decoded("DTSTART")
            yield InstanceSpan(instance.decoded("DTSTART"), ends, instance)
        return

    def window(window_start: datetime, window_end: datetime) -> list[Any]:
        found = occurrences_between(query.to_datetime(window_start), query.to_datetime(window_end))
        return sorted(found, key=lambda occurrence: as_utc(occurrence.start))

    def key(occurrence: Any) -> tuple[str, object]:
        # The key of iter_vevent_instances: an instance's RECURRENCE-ID is its original start.
        recurrence_id = occurrence._adapter._component.get("RECURRENCE-ID")
        return occurrence.uid, recurrence_id.dt if recurrence_id else occurrence.start

    for occurrence in _in_windows(calendar, start, end, window, key):
        yield InstanceSpan(occurrence.start, occurrence.end, occurrence._adapter._component)


def first_instance_from(calendar: icalendar.Calendar, start: datetime) -> icalendar.cal.Component | None:
    """The first VEVENT instance starting at or after ``start``, or None. Asks whether a bounded series
    goes on past a moment: the windows double without the cap of ``iter_vevent_instances`` (about twenty
    reach the year 9999, where capped windows took eight hundred ``between`` calls), and only the window
    holding the first instance is expanded (a bounded rule: at most its promised instances)."""
    query = recurring_ical_events.of(calendar, components=["VEVENT"])
    return _first_in_windows(calendar, start, query.between, start_in_utc)


def _first_in_windows(
    calendar: icalendar.Calendar,
    start: datetime,
    window_of: Callable[[datetime, datetime], list[Found]],
    utc_start: Callable[[Found], datetime],
) -> Found | None:
    """What ``window_of`` finds starting at or after ``start`` (by ``utc_start``) first, in windows that
    double up to the year 9999 (see ``first_instance_from``)."""
    window, window_start = _first_window(calendar), start
    while window_start < FAR_FUTURE:
        try:
            window_end = min(FAR_FUTURE, window_start + window)
        except OverflowError:
            window_end = FAR_FUTURE
        found = [i for i in window_of(window_start, window_end) if utc_start(i) >= start]
        if found:
            return min(found, key=utc_start)
        window_start, window = window_end, window * 2
    return None


# What the index keeps of an instance: its UTC start, its UTC end, the component it comes from (shared,
# never change it), its start and end as the instance's own DTSTART and DTEND would hold them (a date for
# an all-day instance), and what tells it from the instances of earlier windows.
InstanceTimes = SimpleFound


class Expansion(Protocol):
    """How one object's VEVENT series is expanded: the library, or the fast path for its shape."""

    def instance_spans(self, start: datetime, end: datetime) -> Iterator[InstanceSpan]:
        """``iter_instance_spans``."""
        ...

    def instance_times(self, start: datetime, end: datetime) -> Iterator[list[InstanceTimes]]:
        """``instance_spans`` with each instance's times in UTC, some instances at a time."""
        ...

    def first_start_from(self, start: datetime) -> datetime | None:
        """The start (UTC) of ``first_instance_from``, or None."""
        ...


def expansion_of(calendar: icalendar.Calendar) -> Expansion:
    """The fast path when the series has a shape it computes (``caldee_dav.ical.series``), else the
    library. Read the calendar once: the expansion may keep what it read of it."""
    series = simple_series(calendar)
    return LibraryExpansion(calendar) if series is None else SimpleExpansion(calendar, series)


@dataclass(frozen=True)
class LibraryExpansion:
    """recurring_ical_events, as for every series before the fast path."""

    calendar: icalendar.Calendar

    def instance_spans(self, start: datetime, end: datetime) -> Iterator[InstanceSpan]:
        return iter_instance_spans_by_library(self.calendar, start, end)

    def instance_times(self, start: datetime, end: datetime) -> Iterator[list[InstanceTimes]]:
        for span in self.instance_spans(start, end):
            yield [(as_utc(span.start), as_utc(span.end), span.component, span.start, span.end, None)]

    def first_start_from(self, start: datetime) -> datetime | None:
        first = first_instance_from(self.calendar, start)
        return start_in_utc(first) if first is not None else None


@dataclass(frozen=True)
class SimpleExpansion:
    """A series of a common shape, its instances computed by ``SimpleSeries`` in the library's windows."""

    calendar: icalendar.Calendar
    series: SimpleSeries

    def instance_spans(self, start: datetime, end: datetime) -> Iterator[InstanceSpan]:
        for batch in self.instance_times(start, end):
            for _utc_start, _utc_end, component, instance_start, instance_end, _key in batch:
                yield InstanceSpan(instance_start, instance_end, component)

    def instance_times(self, start: datetime, end: datetime) -> Iterator[list[InstanceTimes]]:
        return _batches_in_windows(self.calendar, start, end, self.series.occurrences_between, FOUND_KEY)

    def first_start_from(self, start: datetime) -> datetime | None:
        if self.series.settled:
            # One window to the year 9999 finds what the doubling ones would, at the cost of one.
            found = [
                item[0] for item in self.series.occurrences_between(start, FAR_FUTURE) if item[0] >= start
            ]
            return min(found, default=None)
        first = _first_in_windows(self.calendar, start, self.series.occurrences_between, FOUND_UTC_START)
        return first[0] if first is not None else None


FOUND_UTC_START, FOUND_KEY = operator.itemgetter(0), operator.itemgetter(5)


class TooManyInstances(ValueError):
    """A range holds more instances of one object than the caller's limit."""
