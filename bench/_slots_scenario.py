"""The benchmark's host: account, schedule, event type, bookings; and availability computed our way or
the naive way (the baseline).

The naive way is ``offers.host_times`` with the calendar's busy time taken from parsing every object
instead of the occurrence index: what a store without the index must do. Everything else (event type,
schedule, bookings, slot engine) is the same code, so both must give the same busy time and slots.
"""

from __future__ import annotations

from collections.abc import Collection as AbstractCollection
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from caldee_dav import clock, db, store
from caldee_dav.calendars import accounts
from caldee_dav.config import Settings
from caldee_dav.models import Booking, CalendarObject
from caldee_dav.scheduling import bookings, busy, event_types, offers
from caldee_dav.scheduling.availability import Interval, merge
from caldee_dav.scheduling.slots import Slot, offered_slots

USER = "host"
CALENDAR = "calendar"
TIMEZONE = "Europe/Paris"
DURATION_MIN = 30
# Every day, 08:00-20:00: 10,000 events a year fill Monday-Friday office hours (27 free half-hours in
# March 2027 before any booking), so the host also offers evenings and weekends. 720 candidate starts
# per 30 days, about 230 of them free.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_HOURS = ("08:00", "20:00")
# Naive expansion reads a little around the window, as the index query does (all-day slack).
SLACK = timedelta(days=1)


@dataclass
class Host:
    user_id: str
    token: str
    calendar_path: str
    event_type_id: str = ""


def create_host(engine: Engine, slug: str = USER) -> Host:
    with db.write_unit(engine) as session:
        user = accounts.create_user(
            session, email=f"{slug}@example.com", slug=slug, timezone=TIMEZONE, display_name="Bench Host"
        )
        calendar = accounts.create_calendar(session, user, name="Work", slug=CALENDAR)
        token = accounts.create_token(session, user, name="bench").secret
        return Host(user.id, token, calendar.path)


def create_event_type(client: Client, host: Host) -> str:
    """OPEN_HOURS in Paris every day, a 30-minute event type on it, both through the REST API."""
    auth = {"Authorization": f"Bearer {host.token}"}
    rules = [{"day": d, "start": OPEN_HOURS[0], "end": OPEN_HOURS[1]} for d in WEEKDAYS]
    schedule = client.post(
        "/api/v2/schedules",
        json={"name": "Bookable hours", "timezone": TIMEZONE, "isDefault": True, "weeklyRules": rules},
        headers=auth,
    )
    assert schedule.status_code == 201, schedule.get_data(as_text=True)
    event_type = client.post(
        "/api/v2/event-types",
        json={
            "name": "Intro call",
            "slug": "intro-call",
            "durationsMin": [DURATION_MIN],
            "scheduleId": schedule.get_json()["id"],
        },
        headers=auth,
    )
    assert event_type.status_code == 201, event_type.get_data(as_text=True)
    return str(event_type.get_json()["id"])


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, wall_time(0), tzinfo=ZoneInfo(TIMEZONE))


def free_slots(engine: Engine, host: Host, start: datetime, end: datetime) -> list[Slot]:
    """Slots offered now in [start, end), through the domain service, 60 days per call at most."""
    found: list[Slot] = []
    with db.read_unit(engine) as session:
        cursor = start
        while cursor < end:
            upto = min(cursor + timedelta(days=60), end)
            found += offers.availability(
                session, host.user_id, host.event_type_id, cursor, upto, None, clock.now()
            ).slots
            cursor = upto
    return found


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items evenly spaced through ``items``."""
    if count >= len(items):
        return list(items)
    return [items[(2 * k + 1) * len(items) // (2 * count)] for k in range(count)]


def preload_bookings(
    engine: Engine, settings: Settings, host: Host, count: int, first: date, weeks: int
) -> int:
    """``count`` bookings spread over ``weeks`` weeks from ``first``: ask each week's slots, book a few of
    them through the booking service (one transaction each, as POST /bookings does)."""
    made = 0
    for week in range(weeks):
        wanted = count * (week + 1) // weeks - count * week // weeks
        monday = first + timedelta(weeks=week)
        offered = free_slots(engine, host, local_midnight(monday), local_midnight(monday + timedelta(days=7)))
        for slot in spread(offered, wanted):
            request = bookings.NewBooking(
                event_type_id=host.event_type_id,
                start=slot.start,
                invitee=bookings.Invitee(f"Invitee {made}", f"preload{made}@example.com", "Europe/London"),
                duration_min=DURATION_MIN,
            )
            with db.write_unit(engine) as session:
                bookings.create_booking(session, settings, host.user_id, request, clock.now())
            made += 1
    return made


def overlapping_bookings(engine: Engine, host: Host) -> list[tuple[str, str]]:
    """Pairs of the host's active or pending bookings that overlap (there must be none)."""
    with db.read_unit(engine) as session:
        rows = session.execute(
            select(Booking.id, Booking.start_at, Booking.end_at)
            .where(Booking.host_user_id == host.user_id, Booking.status.in_(busy.BLOCKING_STATUSES))
            .order_by(Booking.start_at, Booking.end_at)
        ).all()
    clashes = []
    latest_end, latest_id = None, ""
    for booking_id, start, end in rows:
        if latest_end is not None and start < latest_end:
            clashes.append((latest_id, booking_id))
        if latest_end is None or end > latest_end:
            latest_end, latest_id = end, booking_id
    return clashes


def count_bookings(engine: Engine, host: Host) -> int:
    with db.read_unit(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Booking).where(Booking.owner_id == host.user_id))
            or 0
        )


# --- ours and the naive baseline, side by side --------------------------------------------------------


@dataclass
class Window:
    """What one availability answer rests on: the host's busy time (merged, clipped) and the slots."""

    busy: list[Interval]
    slots: list[Slot]


def naive_calendar_busy(
    session: Session,
    calendars: busy.BusyCalendars,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    exclude_uids: AbstractCollection[str] = (),
) -> list[Interval]:
    """``busy.calendar_busy`` without an index: read every object, parse it, expand it in the window."""
    query = select(CalendarObject.text).where(
        CalendarObject.collection_id.in_(calendars.ids), CalendarObject.component == "VEVENT"
    )
    if exclude_uids:
        query = query.where(CalendarObject.uid.not_in(list(exclude_uids)))
    result = []
    for text in session.scalars(query).all():
        calendar = icalendar.Calendar.from_ical(text)
        for component in recurring_ical_events.of(calendar, components=["VEVENT"]).between(
            start - SLACK, end + SLACK
        ):
            if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(component.get("STATUS", "")).upper() == "CANCELLED":
                continue
            interval = busy.instance_interval(component, zone)
            if interval.start < end and interval.end > start:
                result.append(interval)
    return result


@contextmanager
def calendar_busy_from(function: Any) -> Iterator[None]:
    """Run ``offers`` with another source of calendar busy time (everything else stays ours)."""
    original = busy.calendar_busy
    busy.calendar_busy = function
    try:
        yield
    finally:
        busy.calendar_busy = original


def compute_window(
    engine: Engine, host: Host, start: datetime, end: datetime, now: datetime, *, naive: bool
) -> Window:
    """GET /availability's computation for [start, end) (event type, hosts, bookings, engine: ours), with
    the calendar's busy time from the occurrence index or, ``naive``, from parsing every object."""
    with (
        db.read_unit(engine) as session,
        calendar_busy_from(naive_calendar_busy if naive else busy.calendar_busy),
    ):
        event_type = event_types.get_event_type(session, host.user_id, host.event_type_id)
        context = offers.load_context(session, event_type)
        rules = offers.slot_rules(event_type, offers.choose_duration(event_type, None))
        times = offers.host_times(session, context, rules, start, end)
    slots = offered_slots(context.kind, times, rules, start, end, now)
    busy_start, busy_end = start - rules.buffer_before, end + rules.duration + rules.buffer_after
    clipped = merge(
        Interval(max(i.start, busy_start), min(i.end, busy_end))
        for i in times[0].busy
        if i.start < busy_end and i.end > busy_start
    )
    return Window(clipped, slots)


def instances_in(engine: Engine, host: Host, start: datetime, end: datetime) -> int:
    """Opaque, not cancelled calendar instances overlapping [start, end), from the index."""
    with db.read_unit(engine) as session:
        collection = store.require_collection(session, host.calendar_path)
        rows = store.busy_index_rows(
            session, [collection.id], collection.max_span, int(start.timestamp()), int(end.timestamp())
        )
        return sum(1 for kind, _, _ in rows if kind != store.BUSY_BEYOND)


def slot_texts(slots: Sequence[Slot], zone: str = TIMEZONE) -> list[str]:
    """Slots as GET /availability writes them (start in the asked zone)."""
    tz = ZoneInfo(zone)
    return [s.start.astimezone(tz).isoformat(timespec="seconds") for s in slots]
