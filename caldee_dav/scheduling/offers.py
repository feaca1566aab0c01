"""From database rows to the slot engine and back: the slots an event type offers right now.

Loads an event type with its hosts, each host's schedule (the event type's schedule for the owner,
else the host's default schedule, else Monday-Friday 09:00-17:00 in the host's time zone) and their
busy time, then asks the pure engine (``slots``). Used by GET /availability and, inside the booking
transaction, to re-check a start before writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.errors import Conflict, InvalidInput, Problem
from caldee_dav.models import Booking, EventType, Schedule, User
from caldee_dav.scheduling import busy, teams
from caldee_dav.scheduling.availability import WeeklySchedule, open_intervals
from caldee_dav.scheduling.event_types import get_event_type
from caldee_dav.scheduling.slots import COLLECTIVE, HostTime, Slot, SlotRules, offered_slots, require_slot

DEFAULT_DURATION_MIN = 30
# Bookings are loaded this far around a range so every per-day cap sees its whole local day.
DAY_MARGIN = timedelta(days=2)


@dataclass
class Host:
    user: User
    schedule: WeeklySchedule
    busy_calendars: busy.BusyCalendars


@dataclass
class EventTypeContext:
    event_type: EventType
    owner: User
    hosts: list[Host]

    @property
    def kind(self) -> str:
        return self.event_type.kind


def require_active(event_type: EventType) -> None:
    if not event_type.active:
        raise Conflict(f"The event type {event_type.name!r} is inactive: it offers no slots.")


def offered_durations(event_type: EventType) -> list[int]:
    return [int(d) for d in (event_type.durations_min or [])] or [DEFAULT_DURATION_MIN]


class DurationNotOffered(InvalidInput):
    """A duration the event type does not offer (about ``duration_min``; an edge may name it otherwise)."""

    def __init__(self, duration: int, offered: list[int]) -> None:
        listed = ", ".join(str(d) for d in offered)
        message = f"This event type does not offer {duration} minutes; it offers: {listed}."
        super().__init__(message, problems=[Problem(("duration_min",), message, "duration_not_offered")])
        self.duration, self.offered = duration, offered


def choose_duration(event_type: EventType, duration: int | None) -> int:
    offered = offered_durations(event_type)
    if duration is None:
        return offered[0]
    if duration not in offered:
        raise DurationNotOffered(duration, offered)
    return duration


def slot_rules(event_type: EventType, duration_min: int) -> SlotRules:
    window = event_type.booking_window_days
    return SlotRules(
        duration=timedelta(minutes=duration_min),
        interval=timedelta(minutes=event_type.slot_interval_min or duration_min),
        buffer_before=timedelta(minutes=event_type.buffer_before_min or 0),
        buffer_after=timedelta(minutes=event_type.buffer_after_min or 0),
        minimum_notice=timedelta(minutes=event_type.minimum_notice_min or 0),
        booking_window=timedelta(days=window) if window is not None else None,
        max_per_day=event_type.max_bookings_per_day,
    )


def _weekly(schedule: Schedule) -> WeeklySchedule:
    return WeeklySchedule(schedule.timezone, schedule.weekly_rules or [], schedule.date_overrides or [])


def _schedule_for(session: Session, event_type: EventType, user: User) -> WeeklySchedule:
    if event_type.schedule_id and user.id == event_type.user_id:
        chosen = session.get(Schedule, event_type.schedule_id)
        if chosen is not None:
            return _weekly(chosen)
    default = session.scalars(
        select(Schedule)
        .where(Schedule.user_id == user.id, Schedule.is_default.is_(True))
        .order_by(Schedule.id)
    ).first()
    return _weekly(default) if default is not None else WeeklySchedule(user.timezone)


def host_ids_of(session: Session, event_type: EventType) -> list[str]:
    """The hosts who may host now, in their configured order.

    Another user's time is offered (and their calendars read) only through an accepted membership of the
    event type's team, checked now: a host who left the team is no longer offered or booked. Without a
    team the owner alone hosts, whatever an older row says.
    """
    if event_type.team_id is None:
        return [event_type.user_id]
    ids = list(dict.fromkeys(str(h) for h in (event_type.host_ids or []))) or [event_type.user_id]
    members = teams.accepted_member_ids(session, event_type.team_id, ids)
    return [host_id for host_id in ids if host_id in members]


def load_context(
    session: Session, event_type: EventType, host_ids: list[str] | None = None
) -> EventTypeContext:
    """Hosts, schedules and busy calendars of the event type; ``host_ids`` when already known
    (``host_ids_of``)."""
    if host_ids is None:
        host_ids = host_ids_of(session, event_type)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(host_ids)))} if host_ids else {}
    # After the hosts: the owner is usually one of them, and is then found in the session, with no query.
    owner = session.get(User, event_type.user_id)
    assert owner is not None  # the foreign key guarantees it
    hosts = [
        Host(
            user=users[host_id],
            schedule=_schedule_for(session, event_type, users[host_id]),
            busy_calendars=busy.busy_calendars(
                session, users[host_id], [int(c) for c in event_type.busy_collection_ids or []]
            ),
        )
        for host_id in host_ids
        if host_id in users
    ]
    return EventTypeContext(event_type, owner, hosts)


def host_times(
    session: Session,
    context: EventTypeContext,
    rules: SlotRules,
    start: datetime,
    end: datetime,
    *,
    exclude_booking: Booking | None = None,
) -> list[HostTime]:
    """What the engine needs about every host for slots starting in [start, end)."""
    busy_start = start - rules.buffer_before
    busy_end = end + rules.duration + rules.buffer_after
    exclude_uids = [exclude_booking.ical_uid] if exclude_booking is not None else []
    times = []
    for host in context.hosts:
        zone = ZoneInfo(host.schedule.timezone)
        bookings = busy.host_bookings(
            session,
            host.user.id,
            min(busy_start - busy.MAX_BUFFER, start - DAY_MARGIN),
            max(busy_end + busy.MAX_BUFFER, end + DAY_MARGIN),
            exclude_booking_id=exclude_booking.id if exclude_booking is not None else None,
        )
        calendar = busy.calendar_busy(
            session, host.busy_calendars, zone, busy_start, busy_end, exclude_uids=exclude_uids
        )
        times.append(
            HostTime(
                host_id=host.user.id,
                timezone=host.schedule.timezone,
                open=open_intervals(host.schedule, start, end),
                busy=calendar + bookings.intervals(),
                booked_starts=bookings.starts_of(context.event_type.id),
            )
        )
    return times


def list_slots(
    session: Session,
    context: EventTypeContext,
    duration_min: int,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Slot]:
    rules = slot_rules(context.event_type, duration_min)
    times = host_times(session, context, rules, start, end)
    return offered_slots(context.kind, times, rules, start, end, now)


def check_slot(
    session: Session,
    context: EventTypeContext,
    duration_min: int,
    start: datetime,
    now: datetime,
    *,
    exclude_booking: Booking | None = None,
    only_hosts: list[str] | None = None,
) -> Slot:
    """The offered slot at ``start`` (raises InvalidInput or Conflict saying why not).

    ``only_hosts`` restricts the check to some hosts (a rescheduled booking keeps its hosts).
    """
    rules = slot_rules(context.event_type, duration_min)
    if only_hosts is not None:
        context = EventTypeContext(
            context.event_type, context.owner, [h for h in context.hosts if h.user.id in only_hosts]
        )
        if not context.hosts:
            raise Conflict("Slot unavailable: the booking's host no longer hosts this event type.")
    times = host_times(
        session, context, rules, start, start + timedelta(seconds=1), exclude_booking=exclude_booking
    )
    kind = COLLECTIVE if only_hosts is not None and len(only_hosts) > 1 else context.kind
    return require_slot(kind, times, rules, start, now)


MAX_RANGE = timedelta(days=62)


class EmptyRange(InvalidInput):
    """A range to list slots in whose end is not after its start."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__("The range to list slots in must end after it starts.")
        self.start, self.end = start, end


class RangeTooLong(InvalidInput):
    """A range to list slots in longer than MAX_RANGE (its cost grows with its length)."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.max_days = MAX_RANGE.days
        super().__init__(f"A range to list slots in may span at most {self.max_days} days.")
        self.start, self.end = start, end


@dataclass(frozen=True)
class EmptyReason:
    """Why a range offers no slot whatever the calendars hold: it lies wholly outside the bookable range."""

    code: str  # "window-in-the-past", "before-minimum-notice", "outside-booking-window"
    message: str


@dataclass(frozen=True)
class Offer:
    """The slots starting in a range, and when there can be none there, why."""

    slots: list[Slot]
    empty_reason: EmptyReason | None = None


def empty_reason(event_type: EventType, start: datetime, end: datetime, now: datetime) -> EmptyReason | None:
    """Why no slot can start in [start, end) whatever the calendars hold, or None when some might."""
    notice = timedelta(minutes=event_type.minimum_notice_min or 0)
    if end <= now:
        return EmptyReason("window-in-the-past", "The range lies wholly in the past.")
    if end <= now + notice:
        minutes = int(notice.total_seconds() // 60)
        return EmptyReason(
            "before-minimum-notice",
            f"The range ends before the minimum notice of {minutes} minutes from now allows a booking"
            f" (the first bookable start is {(now + notice).isoformat(timespec='minutes')}).",
        )
    window = event_type.booking_window_days
    if window is not None and start >= now + timedelta(days=window):
        return EmptyReason(
            "outside-booking-window",
            f"The range starts after the booking window: this event type takes bookings up to {window}"
            f" days ahead (until {(now + timedelta(days=window)).isoformat(timespec='minutes')}).",
        )
    return None


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise EmptyRange(start, end)
    if end - start > MAX_RANGE:
        raise RangeTooLong(start, end)


def offer(
    session: Session,
    event_type: EventType,
    start: datetime,
    end: datetime,
    duration_min: int | None,
    now: datetime,
) -> Offer:
    """The slots ``event_type`` offers starting in [start, end), and why there are none when the range
    lies outside the bookable range. An inactive event type is a Conflict (409)."""
    check_range(start, end)
    require_active(event_type)
    duration = choose_duration(event_type, duration_min)
    reason = empty_reason(event_type, start, end, now)
    if reason is not None:
        return Offer([], reason)
    return Offer(list_slots(session, load_context(session, event_type), duration, start, end, now))


def availability(
    session: Session,
    owner_id: str,
    event_type_id: str,
    start: datetime,
    end: datetime,
    duration_min: int | None,
    now: datetime,
) -> Offer:
    """GET /availability: slots starting in [start, end). An inactive event type is a Conflict (409),
    the same answer POST /bookings gives, rather than a silently empty list."""
    check_range(start, end)
    event_type = get_event_type(session, owner_id, event_type_id)
    return offer(session, event_type, start, end, duration_min, now)
