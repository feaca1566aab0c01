"""Busy time of one host, from every event in their busy calendars (whatever wrote it: CalDAV, REST,
mail) and from the bookings table.

A booking is busy with its own event type's buffers around it, [start - buffer_before, end +
buffer_after), whatever event type is asked for later: the buffers come with the booking rows, from
one join. Its event in the calendars stays busy as it is (the bookings add the padding).

Calendar events come from the occurrence index (opaque, not-cancelled instances, recurrences already
expanded at write time). Objects whose instances in the window lie beyond the indexing horizon are
expanded here, for the part after ``expanded_until`` only. Only objects overlapping the window are read.

This runs on every GET /availability, over every instance in the window (about 1,400 in 30 days for a
host with 10,000 events a year), so the index is read as plain rows of POSIX seconds and merged as
integer pairs; only the merged intervals become datetimes.

All-day events are busy for the whole local day of the host: the index keeps DATE values as UTC
midnights (RFC 4791 floating semantics) and flags them ``all_day``, so they are moved to the host's
midnights here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection as AbstractCollection
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.errors import WorkLimitExceeded
from caldee_dav.models import Booking, BookingHost, CalendarObject, EventType, User
from caldee_dav.scheduling.availability import Interval, merge
from caldee_dav.scheduling.event_type_fields import INT_SETTINGS, MAX_DURATION_MIN

log = logging.getLogger(__name__)

BLOCKING_STATUSES = ("active", "pending")
# All-day events are stored as UTC days; a host's local day is at most 14 hours away from that.
ALL_DAY_SLACK = timedelta(days=1)
# The widest buffer an event type may have: a booking this far outside a window can still reach into it.
MAX_BUFFER = timedelta(minutes=max(INT_SETTINGS["buffer_before_min"][1], INT_SETTINGS["buffer_after_min"][1]))


class BookedTime(NamedTuple):
    """What busy time needs of a booking (a plain row: no ORM object, no JSON columns decoded)."""

    start_at: datetime
    end_at: datetime
    event_type_id: str
    # The buffers of the booking's event type, in minutes.
    buffer_before_min: int
    buffer_after_min: int


_MINUTE = timedelta(minutes=1)


@dataclass
class HostBookings:
    """Active and pending bookings that involve a host, overlapping a window."""

    bookings: list[BookedTime]

    def intervals(self) -> list[Interval]:
        """Each booking's busy time: its own event type's buffers around it."""
        return [
            Interval(b.start_at - b.buffer_before_min * _MINUTE, b.end_at + b.buffer_after_min * _MINUTE)
            for b in self.bookings
        ]

    def starts_of(self, event_type_id: str) -> list[datetime]:
        return [b.start_at for b in self.bookings if b.event_type_id == event_type_id]


@dataclass(frozen=True)
class BusyCalendars:
    """The calendars whose events make a host busy."""

    ids: list[int]
    # The longest instance in any of them, in seconds: it bounds the occurrence index scan.
    max_span: int = 0


def busy_calendars(session: Session, host: User, configured: Sequence[int]) -> BusyCalendars:
    """The host's calendars among ``configured``; all of the host's calendars when none is."""
    spans = store.calendar_spans(session, host.id, configured) if configured else {}
    if not spans:
        spans = store.calendar_spans(session, host.id)
    return BusyCalendars(list(spans), max(spans.values(), default=0))


def _bookings_statement(*, excluding: bool) -> Select[tuple[datetime, datetime, str, int, int]]:
    """Active and pending bookings overlapping [:start, :end) that :host_id hosts (alone or with
    others), with their event type's buffers; ``excluding`` leaves out :booking_id. The index range on
    booking_hosts starts at :earliest_start, a booking's longest duration before :start. Built once:
    building it cost about a fifth of running it. (Untyped parameters take the type of the column they
    are compared with, so times are converted as the column converts them.)"""
    query = (
        select(
            Booking.start_at,
            Booking.end_at,
            Booking.event_type_id,
            EventType.buffer_before_min,
            EventType.buffer_after_min,
        )
        .join(BookingHost, BookingHost.booking_id == Booking.id)
        .join(EventType, EventType.id == Booking.event_type_id)
        .where(
            BookingHost.user_id == bindparam("host_id"),
            BookingHost.start_at >= bindparam("earliest_start"),
            BookingHost.start_at < bindparam("end"),
            Booking.end_at > bindparam("start"),
            Booking.status.in_(BLOCKING_STATUSES),
        )
    )
    if excluding:
        query = query.where(Booking.id != bindparam("booking_id"))
    return query.order_by(Booking.start_at)


_BOOKINGS_STATEMENT = _bookings_statement(excluding=False)
_BOOKINGS_STATEMENT_EXCLUDING = _bookings_statement(excluding=True)


def host_bookings(
    session: Session, host_id: str, start: datetime, end: datetime, *, exclude_booking_id: str | None = None
) -> HostBookings:
    """Active and pending bookings where ``host_id`` is the host or one of the collective hosts,
    overlapping [start, end) without their buffers: a caller that needs busy time over a window asks
    for it widened by ``MAX_BUFFER`` on each side."""
    earliest_start = start - timedelta(minutes=MAX_DURATION_MIN)
    parameters = {"host_id": host_id, "earliest_start": earliest_start, "start": start, "end": end}
    statement = _BOOKINGS_STATEMENT
    if exclude_booking_id is not None:
        statement, parameters["booking_id"] = _BOOKINGS_STATEMENT_EXCLUDING, exclude_booking_id
    return HostBookings([BookedTime(*row) for row in session.execute(statement, parameters)])


def calendar_busy(
    session: Session,
    calendars: BusyCalendars,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    exclude_uids: AbstractCollection[str] = (),
) -> list[Interval]:
    """Busy intervals of the events in ``calendars`` that overlap [start, end): sorted, and merged where
    they overlap or touch (the slot engine merges busy time anyway; merging here makes fewer datetimes)."""
    if not calendars.ids:
        return []
    query_start = int((start - ALL_DAY_SLACK).timestamp())
    query_end = int((end + ALL_DAY_SLACK).timestamp())
    # Seconds compared with the float bounds: Python compares int and float exactly.
    lower, upper = start.timestamp(), end.timestamp()
    local_days = _LocalDays(zone)
    spans: list[tuple[int, int]] = []
    beyond_ids: list[int] = []
    rows = store.busy_index_rows(
        session, calendars.ids, calendars.max_span, query_start, query_end, exclude_uids
    )
    for kind, first, last in rows:
        if kind == store.BUSY_BEYOND:
            beyond_ids.append(first)
            continue
        if kind == store.BUSY_ALL_DAY:
            first, last = local_days.span(first, last)
        if first < upper and last > lower:
            spans.append((first, last))
    result = [
        Interval(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC))
        for first, last in _merge_seconds(spans)
    ]
    beyond_index = [
        interval
        for obj in store.objects_by_id(session, beyond_ids)
        for interval in _expand_beyond_index(obj, zone, start - ALL_DAY_SLACK, end + ALL_DAY_SLACK)
        if interval.start < end and interval.end > start
    ]
    return merge(result + beyond_index) if beyond_index else result


def _merge_seconds(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``availability.merge`` on (start, end) pairs of seconds: sorted, disjoint, touching ones joined,
    empty ones dropped."""
    merged: list[tuple[int, int]] = []
    spans.sort()
    for first, last in spans:
        if last <= first:
            continue
        if merged and first <= merged[-1][1]:
            if last > merged[-1][1]:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


class _LocalDays:
    """All-day instances (UTC midnights in the index) as the host's local days, in seconds; each day's
    local midnight is computed once (a window has a few dozen all-day instances on a handful of days)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.midnights: dict[int, int] = {}

    def span(self, first: int, last: int) -> tuple[int, int]:
        return self.midnight(first), self.midnight(last)

    def midnight(self, seconds: int) -> int:
        """The local midnight starting the UTC date of ``seconds``."""
        day_number = seconds // 86_400
        found = self.midnights.get(day_number)
        if found is None:
            day = _EPOCH_DAY + timedelta(days=day_number)
            local = datetime.combine(day, time(0), tzinfo=self.zone)
            found = self.midnights[day_number] = (local - _EPOCH) // _SECOND
        return found


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date()
_SECOND = timedelta(seconds=1)


def _in_zone(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as a UTC instant: dates and floating times are the host's local time."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def instance_interval(component: icalendar.cal.Component, zone: ZoneInfo) -> Interval:
    start_value = component.decoded("DTSTART")
    start = _in_zone(start_value, zone)
    if "DTEND" in component:
        end = _in_zone(component.decoded("DTEND"), zone)
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    elif isinstance(start_value, datetime):
        end = start
    else:
        end = _in_zone(start_value + timedelta(days=1), zone)
    return Interval(start, max(start, end))


def _expand_beyond_index(
    obj: CalendarObject, zone: ZoneInfo, start: datetime, end: datetime
) -> list[Interval]:
    """Instances of ``obj`` in the window that the index does not hold (after ``expanded_until``)."""
    first = max(start, datetime.fromtimestamp(max(obj.expanded_until, 0), UTC))
    if first >= end:
        return []
    try:
        with ical.deadline(ical.READ_SECONDS):
            calendar = ical.parse_calendar(obj.text)
            instances = list(ical.vevent_instances_between(calendar, first, end))
    except ical.TooCostly as exc:
        # Not "free": a guess here could double-book. The window is refused instead.
        message = f"the busy time of {obj.href!r} in this window is too costly to compute ({exc})"
        raise WorkLimitExceeded(message) from exc
    except Exception:  # noqa: BLE001 - a rule the library cannot expand blocks nothing; logged
        log.warning("cannot expand %s for busy time", obj.href, exc_info=True)
        return []
    result = []
    for component in instances:
        if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        result.append(instance_interval(component, zone))
    return result
