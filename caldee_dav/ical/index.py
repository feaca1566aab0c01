"""What the store keeps beside an object's text: UID, bounds and the instances up to a horizon.

Time-range semantics follow RFC 4791 section 9.9 the way Radicale applies them, so that the SQL index
and Radicale's own filter agree."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import icalendar

from caldee_dav.ical.budget import TooCostly, deadline
from caldee_dav.ical.expand import ZONE_SLACK, first_instance_from, iter_instance_spans
from caldee_dav.ical.parse import (
    DAY,
    SECOND,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    as_utc,
    main_components,
    start_in_utc,
    validate_object,
)
from caldee_dav.ical.rules import UnacceptableRecurrence, check_recurrence_rules


@dataclass(frozen=True)
class Instance:
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
    UnacceptableRecurrence (see ``caldee_dav.ical.rules``)."""
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
            instances, finished = _expand(calendar, horizon_end, max_instances)
            first_later = None if instances or finished else _first_start_after(calendar, horizon_end)
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


def _first_start_after(calendar: icalendar.Calendar, horizon_end: int) -> int | None:
    first = first_instance_from(calendar, datetime.fromtimestamp(horizon_end, UTC))
    return _timestamp(start_in_utc(first)) if first is not None else None


def _expand(
    calendar: icalendar.Calendar, horizon_end: int, max_instances: int
) -> tuple[list[Instance], bool]:
    """Instances in start order; ``finished`` is False when the horizon or the cap stopped us."""
    instances: list[Instance] = []
    horizon = datetime.fromtimestamp(horizon_end, UTC)
    starts = [as_utc(c.decoded("DTSTART")) for c in main_components(calendar) if "DTSTART" in c]
    for span in iter_instance_spans(calendar, min(starts) - ZONE_SLACK, horizon):
        if len(instances) >= max_instances:
            return instances, False
        # As _instance_bounds reads the instance's own component (DTEND always set, never before
        # DTSTART), from its times.
        start = as_utc(span.start)
        instances.append(_instance(span.component, start, max(as_utc(span.end), start), span.start))
    masters = [c for c in main_components(calendar) if "RECURRENCE-ID" not in c]
    if any(_is_unbounded(m) for m in masters):
        return instances, False
    # Whether anything starts after the horizon (a bounded rule may run for centuries).
    return instances, first_instance_from(calendar, horizon) is None
