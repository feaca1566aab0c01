"""A schedule's open time as UTC intervals: weekly rules and date overrides, built day by day in the
schedule's own time zone (pure; no SQL, no HTTP).

Local wall times become instants with zoneinfo, so a 09:00-17:00 day is 09:00-17:00 local on a DST
change day too. Times that do not exist (the spring gap) move forward by the gap, as clocks do:
02:30 on the spring-forward day in Paris is 03:30 CEST. Times that happen twice (the autumn fold)
take the first occurrence for an interval's start and the second for its end, so the interval
covers every instant the wall clock shows between them.

Each local day's rules are merged into disjoint intervals, but days are never merged with each
other: slots are aligned from the start of each day's interval, and that alignment must not depend
on the range a caller asks about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a host without any schedule offers: Monday to Friday, 09:00-17:00 in their own time zone.
DEFAULT_WEEKLY_RULES: tuple[dict[str, str], ...] = tuple(
    {"day": day, "start": "09:00", "end": "17:00"} for day in WEEKDAYS[:5]
)


class Interval(NamedTuple):
    """A half-open span [start, end) of aware UTC datetimes, ordered by start then end.

    A named tuple rather than a dataclass: busy time has thousands of them per request, and tuples are
    built and sorted in C.
    """

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class WeeklySchedule:
    """The plain data of a schedule the engine needs (a ``models.Schedule`` row converts to this)."""

    timezone: str
    weekly_rules: Sequence[Mapping[str, Any]] = DEFAULT_WEEKLY_RULES
    date_overrides: Sequence[Mapping[str, Any]] = ()


def parse_clock(value: str) -> tuple[int, int]:
    """ "HH:MM" (00:00-24:00) as (hours, minutes); ValueError otherwise."""
    hours_text, _, minutes_text = value.partition(":")
    hours, minutes = int(hours_text), int(minutes_text)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"{value!r} is not a time of day between 00:00 and 24:00")
    return hours, minutes


def local_to_utc(day: date, clock: str, zone: ZoneInfo, *, is_end: bool = False) -> datetime:
    """The instant the wall clock of ``zone`` shows ``clock`` on ``day`` ("24:00" = next midnight)."""
    hours, minutes = parse_clock(clock)
    if hours == 24:
        day, hours = day + timedelta(days=1), 0
    naive = datetime.combine(day, time(hours, minutes))
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    # Two offsets: either the wall time happens twice (fold) or never (gap).
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
    if not exists:
        # In a gap fold=0 uses the offset before the change, which lands the instant after the gap.
        return first.astimezone(UTC)
    return (second if is_end else first).astimezone(UTC)


def _day_rules(
    schedule: WeeklySchedule, overrides: Mapping[str, Sequence[Mapping[str, Any]]], day: date
) -> Sequence[Mapping[str, Any]]:
    override = overrides.get(day.isoformat())
    if override is not None:
        return override
    weekday = WEEKDAYS[day.weekday()]
    return [rule for rule in schedule.weekly_rules if str(rule.get("day", "")).lower() == weekday]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same instants (touching ones are joined)."""
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if interval.end <= interval.start:
            continue
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


def open_intervals(schedule: WeeklySchedule, start: datetime, end: datetime) -> list[Interval]:
    """The schedule's open intervals of every local day that can touch [start, end), in UTC order.

    Whole days are returned (not clipped to the range) so that slot alignment is the same whatever
    range is asked; the caller filters slots by their start.
    """
    zone = ZoneInfo(schedule.timezone)
    overrides = {str(o.get("date")): list(o.get("intervals") or []) for o in schedule.date_overrides}
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    result: list[Interval] = []
    day = first_day
    while day <= last_day:
        spans = [
            Interval(
                local_to_utc(day, str(rule["start"]), zone),
                local_to_utc(day, str(rule["end"]), zone, is_end=True),
            )
            for rule in _day_rules(schedule, overrides, day)
        ]
        result.extend(merge(spans))
        day += timedelta(days=1)
    return [i for i in result if i.end > start - timedelta(days=1) and i.start < end + timedelta(days=1)]


def intersect(first: Sequence[Interval], second: Sequence[Interval]) -> list[Interval]:
    """Instants in both lists of sorted disjoint intervals (for collective event types)."""
    result: list[Interval] = []
    i = j = 0
    while i < len(first) and j < len(second):
        start = max(first[i].start, second[j].start)
        end = min(first[i].end, second[j].end)
        if start < end:
            result.append(Interval(start, end))
        if first[i].end < second[j].end:
            i += 1
        else:
            j += 1
    return result
