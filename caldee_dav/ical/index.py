"""What the store keeps beside an object's text: UID, bounds and the instances up to a horizon.

Time-range semantics follow RFC 4791 section 9.9 the way Radicale applies them, so that the SQL index
and Radicale's own filter agree."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

import icalendar

from caldee_dav.ical.budget import TooCostly, deadline
from caldee_dav.ical.expand import ZONE_SLACK, Expansion, InstanceTimes, LibraryExpansion, expansion_of
from caldee_dav.ical.parse import (
    DAY,
    SECOND,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    as_utc,
    main_components,
    validate_object,
)
from caldee_dav.ical.rules import UnacceptableRecurrence, check_recurrence_rules


class Instance(NamedTuple):
    """One indexed instance (UTC seconds). A named tuple rather than a frozen dataclass: a series makes
    hundreds, and a frozen dataclass takes twice as long to build (five ``object.__setattr__``)."""

    start: int
    end: int
    transparent: bool = False
    cancelled: bool = False
    # DTSTART is a DATE: busy for whole days of whoever reads it, not for UTC days.
    all_day: bool = False


@dataclass
class ObjectIndex:
    """What the store keeps beside the text of one calendar object."""

    uid: str
    component: str
    range_start: int = TIMESTAMP_MIN
    range_end: int = TIMESTAMP_MAX
    recurring: bool = False
    # Instances starting before this are all listed; TIMESTAMP_MIN means "none indexed, parse to answer".
    expanded_until: int = TIMESTAMP_MIN
    instances: list[Instance] = field(default_factory=list)


def _instance_bounds(component: icalendar.cal.Component) -> tuple[datetime, datetime]:
    start_value = component.decoded("DTSTART")
    start = as_utc(start_value)
    if "DTEND" in component:
        end = as_utc(component.decoded("DTEND"))
    elif "DURATION" in component:
        duration = component.decoded("DURATION")
        end = start + duration if duration.total_seconds() > 0 else start + SECOND
    elif isinstance(start_value, datetime):
        end = start + SECOND
    else:
        end = start + DAY
    return start, max(end, start)


def _is_unbounded(master: icalendar.cal.Component) -> bool:
    rules = master.get("RRULE")
    if rules is None:
        return False
    for rule in rules if isinstance(rules, list) else [rules]:
        if "COUNT" not in rule and "UNTIL" not in rule:
            return True
    return False


def _timestamp(value: datetime) -> int:
    return math.floor(value.timestamp())


def index_object(
    calendar: icalendar.Calendar,
    *,
    horizon_end: int,
    max_instances: int,
    series_limit: int | None = None,
    time_limit: float | None = None,
) -> ObjectIndex:
    """Index a validated object. VEVENTs get every instance up to ``horizon_end`` (bounded by
    ``max_instances``); VTODO and VJOURNAL are left for Radicale's filter (their RFC rules are subtle).

    Recurrence rules this server does not store (``series_limit``: the most instances a rule may
    promise), and series that take longer than ``time_limit`` seconds to index, raise
    UnacceptableRecurrence (see ``caldee_dav.ical.rules``).

    A series of a common shape is expanded by ``caldee_dav.ical.series`` (several times faster), any
    other by recurring_ical_events; the index is the same either way."""
    return _index_object(calendar, horizon_end, max_instances, series_limit, time_limit, by_library=False)


def index_object_by_library(
    calendar: icalendar.Calendar,
    *,
    horizon_end: int,
    max_instances: int,
    series_limit: int | None = None,
    time_limit: float | None = None,
) -> ObjectIndex:
    """``index_object`` as it was before the fast path: every series expanded by recurring_ical_events,
    every instance's TRANSP and STATUS read from its component. The reference ``index_object`` is
    compared with (tests/test_index_fast.py, bench/index_series.py)."""
    return _index_object(calendar, horizon_end, max_instances, series_limit, time_limit, by_library=True)


def _index_object(
    calendar: icalendar.Calendar,
    horizon_end: int,
    max_instances: int,
    series_limit: int | None,
    time_limit: float | None,
    *,
    by_library: bool,
) -> ObjectIndex:
    uid, component = validate_object(calendar)
    if series_limit is not None:
        check_recurrence_rules(calendar, series_limit, datetime.fromtimestamp(horizon_end, UTC))
    index = ObjectIndex(uid=uid, component=component)
    vevents = [c for c in main_components(calendar) if "DTSTART" in c]
    if component != "VEVENT" or not vevents:
        return index
    index.recurring = any(
        "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c for c in main_components(calendar)
    )
    if not index.recurring:
        start, end = _instance_bounds(vevents[0])
        index.range_start, index.range_end = _timestamp(start), math.ceil(end.timestamp())
        index.instances = [_instance(vevents[0], start, end)]
        index.expanded_until = TIMESTAMP_MAX
        return index
    try:
        with deadline(time_limit):
            expansion = LibraryExpansion(calendar) if by_library else expansion_of(calendar)
            rows = _library_rows if by_library else _InstanceRows()
            instances, finished = _expand(calendar, horizon_end, max_instances, expansion, rows)
            first_later = None if instances or finished else _first_start_after(expansion, horizon_end)
    except TooCostly as exc:
        raise UnacceptableRecurrence(f"the recurrence is too costly to expand: {exc}") from exc
    except Exception:  # noqa: BLE001 - a rule the library cannot expand: Radicale will filter it
        return index
    if not instances and first_later is not None:
        # The series starts beyond the horizon: nothing to index before it, the rest is read on demand.
        index.expanded_until = horizon_end
        index.range_start, index.range_end = first_later, TIMESTAMP_MAX
        return index
    if not instances:
        index.expanded_until = TIMESTAMP_MAX
        index.range_start = index.range_end = TIMESTAMP_MIN
        return index
    index.instances = instances
    index.range_start = min(i.start for i in instances)
    masters = [c for c in vevents if "RECURRENCE-ID" not in c]
    if finished:
        index.expanded_until = TIMESTAMP_MAX
        index.range_end = max(i.end for i in instances)
    else:
        last_start = instances[-1].start
        # Stopped by the cap, the index holds nothing after the last instance: the horizon is not reached.
        capped = len(instances) >= max_instances
        index.expanded_until = (
            horizon_end
            if not capped and last_start < horizon_end and any(_is_unbounded(m) for m in masters)
            else last_start
        )
        index.range_end = TIMESTAMP_MAX
    return index


def _instance(
    component: icalendar.cal.Component, start: datetime, end: datetime, dtstart: date | datetime | None = None
) -> Instance:
    """The index row of an instance of ``component`` from ``start`` to ``end`` (UTC); ``dtstart`` its
    DTSTART value when that is not the component's own (an instance of a series)."""
    dtstart = component.decoded("DTSTART") if dtstart is None else dtstart
    return Instance(
        start=_timestamp(start),
        end=math.ceil(end.timestamp()),
        transparent=str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT",
        cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
        all_day=not isinstance(dtstart, datetime),
    )


class _InstanceRows:
    """``_instance`` for the instances of one object, a batch at a time: each component's TRANSP and
    STATUS read once (icalendar's lookups were a sixth of the time of an instance of a weekly series)."""

    def __init__(self) -> None:
        self._flags: dict[int, tuple[bool, bool]] = {}  # by id(): the object's components outlive us

    def __call__(self, batch: list[InstanceTimes]) -> list[Instance]:
        if not batch:
            return []
        component = batch[0][2]
        if any(item[2] is not component for item in batch):  # overrides among them: one at a time
            return [row for item in batch for row in self([item])]
        transparent, cancelled = self._flags_of(component)
        floor, ceil = math.floor, math.ceil  # local names: looked up for every instance
        # As _instance_bounds reads the instance's own component (DTEND always set, never before
        # DTSTART), from its times.
        return [
            Instance(
                floor(start.timestamp()),
                ceil((end if end > start else start).timestamp()),
                transparent,
                cancelled,
                not isinstance(dtstart, datetime),
            )
            for start, end, _component, dtstart, _dtend, _key in batch
        ]

    def _flags_of(self, component: icalendar.cal.Component) -> tuple[bool, bool]:
        flags = self._flags.get(id(component))
        if flags is None:
            flags = self._flags[id(component)] = (
                str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT",
                str(component.get("STATUS", "")).upper() == "CANCELLED",
            )
        return flags


def _library_rows(batch: list[InstanceTimes]) -> list[Instance]:
    """The rows as before ``_InstanceRows``: ``_instance`` for each instance."""
    return [
        _instance(component, start, end if end > start else start, dtstart)
        for start, end, component, dtstart, _dtend, _key in batch
    ]


RowsOf = Callable[[list[InstanceTimes]], list[Instance]]


def _first_start_after(expansion: Expansion, horizon_end: int) -> int | None:
    first = expansion.first_start_from(datetime.fromtimestamp(horizon_end, UTC))
    return _timestamp(first) if first is not None else None


def _expand(
    calendar: icalendar.Calendar, horizon_end: int, max_instances: int, expansion: Expansion, rows: RowsOf
) -> tuple[list[Instance], bool]:
    """Instances in start order; ``finished`` is False when the horizon or the cap stopped us."""
    instances: list[Instance] = []
    horizon = datetime.fromtimestamp(horizon_end, UTC)
    starts = [as_utc(c.decoded("DTSTART")) for c in main_components(calendar) if "DTSTART" in c]
    for batch in expansion.instance_times(min(starts) - ZONE_SLACK, horizon):
        room = max_instances - len(instances)
        # One more instance than the cap holds: stopped by the cap.
        if len(batch) > room:
            instances += rows(batch[:room])
            return instances, False
        instances += rows(batch)
    masters = [c for c in main_components(calendar) if "RECURRENCE-ID" not in c]
    if any(_is_unbounded(m) for m in masters):
        return instances, False
    # Whether anything starts after the horizon (a bounded rule may run for centuries).
    return instances, expansion.first_start_from(horizon) is None
