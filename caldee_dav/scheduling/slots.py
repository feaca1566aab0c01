"""The slot engine (pure): which starts an event type offers, for one or several hosts.

Rules, applied in this order to every candidate start ``s`` of a slot [s, e = s + duration):

* Alignment: candidates are ``open.start + k * interval`` for each open interval of a host's schedule
  (one interval per local day, see ``availability``), with the whole slot inside the open interval.
* The slot starts inside the asked range [range_start, range_end).
* Minimum notice: s >= now + notice. Booking window: s < now + window (when there is one).
* Busy time, with this event type's buffers: the slot is free when [s - buffer_before, e + buffer_after)
  overlaps no busy interval of the host. Busy intervals are the host's opaque calendar events, and its
  active or pending bookings widened by their own event type's buffers (``busy.HostBookings``).
  Buffers may reach outside open hours.
* Per-day cap: at most ``max_per_day`` active or pending bookings of this event type per host-local day
  (the day in the time zone of the host's schedule).

Kinds: one_on_one has one host. round_robin offers a start when ANY host has it free (each host
aligned on their own schedule) and remembers which hosts are free. collective offers a start only when
EVERY host is free, aligned on the intersection of their schedules.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from caldee_dav.errors import Conflict, Field, InvalidInput, Problem
from caldee_dav.scheduling.availability import Interval, intersect, merge

ONE_ON_ONE, ROUND_ROBIN, COLLECTIVE = "one_on_one", "round_robin", "collective"
# The field a refused start is reported on (a booking's, or a reschedule's, ``start``).
START = Field("start")


@dataclass(frozen=True)
class SlotRules:
    duration: timedelta
    interval: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    minimum_notice: timedelta = timedelta(0)
    booking_window: timedelta | None = None
    max_per_day: int | None = None


@dataclass
class HostTime:
    """Everything the engine knows about one host for the range asked."""

    host_id: str
    timezone: str
    open: list[Interval]
    busy: list[Interval] = field(default_factory=list)
    # Starts of this event type's active and pending bookings of this host (for the per-day cap).
    booked_starts: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    # The hosts free for this slot: any of them may take it (round robin), or all attend (collective).
    host_ids: tuple[str, ...]


class _HostCheck:
    """Busy and per-day-cap lookups for one host in O(log n)."""

    def __init__(self, host: HostTime, rules: SlotRules) -> None:
        self.host = host
        self.rules = rules
        self.busy = merge(host.busy)
        self.ends = [b.end for b in self.busy]
        self.zone = ZoneInfo(host.timezone)
        self.per_day: Counter[date] = Counter(s.astimezone(self.zone).date() for s in host.booked_starts)

    def is_busy(self, start: datetime, end: datetime) -> bool:
        padded_start = start - self.rules.buffer_before
        padded_end = end + self.rules.buffer_after
        index = bisect_right(self.ends, padded_start)  # first busy interval ending after padded_start
        return index < len(self.busy) and self.busy[index].start < padded_end

    def day_is_full(self, start: datetime) -> bool:
        cap = self.rules.max_per_day
        return cap is not None and self.per_day[start.astimezone(self.zone).date()] >= cap

    def is_free(self, start: datetime, end: datetime) -> bool:
        return not self.day_is_full(start) and not self.is_busy(start, end)

    def free_starts(self, starts: Iterable[datetime]) -> Iterator[datetime]:
        """The starts whose slot ``is_free``: the same tests in one loop (a 30-day range has about a
        thousand candidates per host, and three calls for each cost more than the tests)."""
        before, after = self.rules.buffer_before, self.rules.duration + self.rules.buffer_after
        busy_starts, busy_ends, count = [b.start for b in self.busy], self.ends, len(self.busy)
        capped = self.rules.max_per_day is not None
        for start in starts:
            if capped and self.day_is_full(start):
                continue
            index = bisect_right(busy_ends, start - before)  # first busy interval ending after the padding
            if index < count and busy_starts[index] < start + after:
                continue
            yield start


def _earliest_start(rules: SlotRules, range_start: datetime, now: datetime) -> datetime:
    return max(range_start, now + rules.minimum_notice)


def _latest_start(rules: SlotRules, range_end: datetime, now: datetime) -> datetime:
    """Starts must be strictly before this."""
    if rules.booking_window is None:
        return range_end
    return min(range_end, now + rules.booking_window)


def aligned_starts(
    open_intervals: Sequence[Interval], rules: SlotRules, lower: datetime, upper: datetime
) -> Iterator[datetime]:
    """Candidate starts in [lower, upper), aligned from each open interval's start, slot inside it."""
    step = rules.interval
    for interval in open_intervals:
        last = min(interval.end - rules.duration, upper - timedelta(microseconds=1))
        if last < interval.start or interval.start >= upper:
            continue
        first_step = 0
        if lower > interval.start:
            first_step = math.ceil((lower - interval.start) / step)
        start = interval.start + first_step * step
        while start <= last:
            yield start
            start += step


def offered_slots(
    kind: str,
    hosts: Sequence[HostTime],
    rules: SlotRules,
    range_start: datetime,
    range_end: datetime,
    now: datetime,
) -> list[Slot]:
    """Every slot offered in [range_start, range_end), in start order."""
    if not hosts or rules.duration <= timedelta(0) or rules.interval <= timedelta(0):
        return []
    lower = _earliest_start(rules, range_start, now)
    upper = _latest_start(rules, range_end, now)
    if lower >= upper:
        return []
    checks = [_HostCheck(host, rules) for host in hosts]
    if kind == COLLECTIVE:
        common = checks[0].host.open
        for check in checks[1:]:
            common = intersect(common, check.host.open)
        slots = []
        for start in aligned_starts(common, rules, lower, upper):
            end = start + rules.duration
            if all(check.is_free(start, end) for check in checks):
                slots.append(Slot(start, end, tuple(c.host.host_id for c in checks)))
        return slots
    free_hosts: dict[datetime, list[str]] = {}
    for check in checks:
        for start in check.free_starts(aligned_starts(check.host.open, rules, lower, upper)):
            free_hosts.setdefault(start, []).append(check.host.host_id)
    return [Slot(s, s + rules.duration, tuple(free_hosts[s])) for s in sorted(free_hosts)]


def _refused_start(message: str, code: str) -> InvalidInput:
    return InvalidInput.about([Problem(START.path, message, code)])


def require_slot(
    kind: str, hosts: Sequence[HostTime], rules: SlotRules, start: datetime, now: datetime
) -> Slot:
    """The slot starting at ``start``, or the reason it is not offered: InvalidInput (400) for a start
    that can never be booked (past, too soon, beyond the window, not a slot start), Conflict (409) for
    one taken by busy time or the per-day cap."""
    if start < now:
        raise _refused_start("is in the past", "in_past")
    if start < now + rules.minimum_notice:
        minutes = int(rules.minimum_notice.total_seconds() // 60)
        raise _refused_start(f"is too soon: this event type needs {minutes} minutes of notice", "too_soon")
    if rules.booking_window is not None and start >= now + rules.booking_window:
        days = rules.booking_window.days
        raise _refused_start(f"is beyond the booking window of {days} days from now", "beyond_window")
    probe_end = start + timedelta(seconds=1)
    open_rules = SlotRules(duration=rules.duration, interval=rules.interval)
    plain_hosts = [HostTime(h.host_id, h.timezone, h.open) for h in hosts]
    if not any(s.start == start for s in offered_slots(kind, plain_hosts, open_rules, start, probe_end, now)):
        minutes = int(rules.interval.total_seconds() // 60)
        raise _refused_start(
            "is not a slot of this event type: it is outside the available hours or not aligned"
            f" to the {minutes}-minute slot interval",
            "not_a_slot",
        )
    for slot in offered_slots(kind, hosts, rules, start, probe_end, now):
        if slot.start == start:
            return slot
    raise Conflict("Slot unavailable: the time is already taken.")
