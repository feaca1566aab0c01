"""Busy time of one host, from every event in their busy calendars (whatever wrote it: CalDAV, REST,
mail) and from the bookings table.

Calendar events come from the occurrence index (``store.busy_intervals``: opaque, not-cancelled
instances, recurrences already expanded at write time). Objects whose instances in the window lie
beyond the indexing horizon are expanded here, for the part after ``expanded_until`` only. Only objects
overlapping the window are read.

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
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.models import Booking, CalendarObject, Collection, User
from caldee_dav.scheduling.availability import Interval

log = logging.getLogger(__name__)

BLOCKING_STATUSES = ("active", "pending")
# All-day events are stored as UTC days; a host's local day is at most 14 hours away from that.
ALL_DAY_SLACK = timedelta(days=1)


@dataclass
class HostBookings:
    """Active and pending bookings that involve a host, overlapping a window."""

    bookings: list[Booking]

    def intervals(self) -> list[Interval]:
        return [Interval(b.start_at, b.end_at) for b in self.bookings]

    def starts_of(self, event_type_id: str) -> list[datetime]:
        return [b.start_at for b in self.bookings if b.event_type_id == event_type_id]


def busy_collection_ids(session: Session, host: User, configured: Sequence[int]) -> list[int]:
    """The host's calendars among ``configured``; all of the host's calendars when none is."""
    query = select(Collection.id).where(Collection.owner_id == host.id, Collection.tag == "VCALENDAR")
    if configured:
        chosen = list(session.scalars(query.where(Collection.id.in_(list(configured)))))
        if chosen:
            return chosen
    return list(session.scalars(query))


def host_bookings(
    session: Session, host_id: str, start: datetime, end: datetime, *, exclude_booking_id: str | None = None
) -> HostBookings:
    """Active and pending bookings where ``host_id`` is the host or one of the collective hosts."""
    pattern = '%"' + host_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    query = select(Booking).where(
        Booking.status.in_(BLOCKING_STATUSES),
        Booking.start_at < end,
        Booking.end_at > start,
        or_(Booking.host_user_id == host_id, cast(Booking.host_ids, String).like(pattern, escape="\\")),
    )
    if exclude_booking_id is not None:
        query = query.where(Booking.id != exclude_booking_id)
    return HostBookings(list(session.scalars(query.order_by(Booking.start_at))))


def calendar_busy(
    session: Session,
    collection_ids: Sequence[int],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    exclude_uids: AbstractCollection[str] = (),
) -> list[Interval]:
    """Busy intervals of the events in ``collection_ids`` that overlap [start, end)."""
    query_start = int((start - ALL_DAY_SLACK).timestamp())
    query_end = int((end + ALL_DAY_SLACK).timestamp())
    indexed, unindexed = store.busy_intervals(session, collection_ids, query_start, query_end)
    excluded = _excluded_object_ids(session, collection_ids, exclude_uids)
    result: list[Interval] = []
    for busy in indexed:
        if busy.object_id in excluded:
            continue
        interval = Interval(datetime.fromtimestamp(busy.start, UTC), datetime.fromtimestamp(busy.end, UTC))
        if busy.all_day:
            interval = _local_days(interval.start.date(), interval.end.date(), zone)
        result.append(interval)
    for obj in unindexed:
        if obj.id not in excluded:
            result.extend(_expand_beyond_index(obj, zone, start - ALL_DAY_SLACK, end + ALL_DAY_SLACK))
    return [i for i in result if i.start < end and i.end > start]


def _excluded_object_ids(
    session: Session, collection_ids: Sequence[int], uids: AbstractCollection[str]
) -> set[int]:
    if not uids or not collection_ids:
        return set()
    query = select(CalendarObject.id).where(
        CalendarObject.collection_id.in_(list(collection_ids)), CalendarObject.uid.in_(list(uids))
    )
    return set(session.scalars(query))


def _local_days(first: date, end_day: date, zone: ZoneInfo) -> Interval:
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(end_day, time(0), tzinfo=zone).astimezone(UTC)
    return Interval(start, end)


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
        calendar = ical.parse_calendar(obj.text)
        instances = list(ical.vevent_instances_between(calendar, first, end))
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
