"""Bookings: create, reschedule, confirm, decline, cancel, no-show, get.

Every change is one transaction supplied by the caller (``db.write_unit``): the booking row and the
VEVENT in the hosts' calendars change together or not at all.

No double booking: before checking a start, the transaction locks every involved host's ``users`` row
(PostgreSQL ``SELECT ... ORDER BY id FOR NO KEY UPDATE``, always in id order so two bookings cannot
deadlock; on SQLite the write transaction's BEGIN IMMEDIATE already serializes writers). The check that
follows therefore sees every booking committed before it, and no other booking of these hosts commits
until this one does. The check is the same engine as GET /availability: notice, window, per-day cap,
alignment and busy time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.config import Settings
from caldee_dav.errors import Conflict, FieldPath, InvalidInput, NotFound, Problem
from caldee_dav.models import Booking, BookingHost, EventType, User, new_id
from caldee_dav.scheduling import (
    booking_calendar,
    booking_list,
    event_types,
    leads,
    mail_out,
    offers,
    webhook_events,
)
from caldee_dav.scheduling.answers import validate_answers
from caldee_dav.scheduling.busy import BLOCKING_STATUSES
from caldee_dav.scheduling.mail_out import BookingChange
from caldee_dav.scheduling.slots import COLLECTIVE, ROUND_ROBIN
from caldee_dav.zones import zone_named

ACTIVE, PENDING, CANCELED, DECLINED = "active", "pending", "canceled", "declined"
ENDED_STATUSES = (CANCELED, DECLINED)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 320  # the invitee's and guests' columns
# The webhook event of each change (booking.created, or booking.requested when pending, at creation).
WEBHOOK_TYPE = {
    BookingChange.CONFIRMED: "booking.confirmed",
    BookingChange.RESCHEDULED: "booking.rescheduled",
    BookingChange.CANCELED: "booking.cancelled",
    BookingChange.DECLINED: "booking.rejected",
}


@dataclass(frozen=True)
class Invitee:
    name: str
    email: str
    timezone: str


@dataclass
class NewBooking:
    event_type_id: str
    start: datetime
    invitee: Invitee
    duration_min: int | None = None
    answers: list[tuple[str, str]] = field(default_factory=list)
    guests: list[str] = field(default_factory=list)
    notes: str | None = None
    location_input: str | None = None


# --- helpers ----------------------------------------------------------------------------------


def lock_users(session: Session, user_ids: Sequence[str]) -> None:
    """Row-lock users in id order (PostgreSQL); SQLite's write transaction already excludes writers.

    FOR NO KEY UPDATE, not FOR UPDATE: it excludes other bookers just the same but not the FOR KEY SHARE
    locks PostgreSQL takes on a user when a row referencing it is inserted (an Idempotency-Key row just
    before this lock, say), which would otherwise deadlock two concurrent requests of one user.
    """
    if db.on_postgresql(session):
        ids = sorted(set(user_ids))
        query = select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update(key_share=True)
        session.execute(query).all()


def invitee_problems(invitee: Invitee, guests: Sequence[str]) -> list[Problem]:
    """What is wrong with the invitee and guests, each naming its field."""
    problems = []
    if zone_named(invitee.timezone) is None:
        message = f"unknown time zone {invitee.timezone!r}; use an IANA name such as Europe/Paris"
        problems.append(Problem(("invitee", "timezone"), message, "invalid_time_zone"))
    emails: list[tuple[FieldPath, str]] = [(("invitee", "email"), invitee.email)]
    emails += [(("guests", index), guest) for index, guest in enumerate(guests)]
    for path, email in emails:
        if not EMAIL_PATTERN.match(email):
            problems.append(Problem(path, f"{email!r} is not an email address", "invalid_email"))
        # Kept lower-cased, which lengthens a few characters ("İ"): it must still fit the column (a
        # 500 on PostgreSQL otherwise).
        elif len(email.lower()) > MAX_EMAIL_LENGTH:
            problems.append(Problem(path, f"must be at most {MAX_EMAIL_LENGTH} characters", "too_long"))
    return problems


def _check_invitee(invitee: Invitee, guests: Sequence[str]) -> None:
    problems = invitee_problems(invitee, guests)
    if problems:
        raise InvalidInput.about(problems)


def _location(event_type: EventType, location_input: str | None) -> dict[str, Any] | None:
    configured = dict(event_type.location or {})
    if location_input:
        return {"kind": configured.get("kind") or "custom", "value": location_input}
    if configured:
        return {"kind": configured.get("kind"), "value": configured.get("value")}
    return None


def pick_round_robin_host(
    session: Session, event_type: EventType, free_host_ids: Sequence[str], start: datetime, zone: ZoneInfo
) -> str:
    """The free host with the fewest active or pending bookings of this event type in the slot's week
    (Monday to Sunday in the owner's time zone); ties go to the least recently booked, then by id."""
    local_day = start.astimezone(zone).date()
    monday = local_day - timedelta(days=local_day.weekday())
    week_start = datetime.combine(monday, time(0), tzinfo=zone).astimezone(UTC)
    week_end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone).astimezone(UTC)
    of_type = (Booking.event_type_id == event_type.id, Booking.host_user_id.in_(list(free_host_ids)))
    counts = dict(
        session.execute(
            select(Booking.host_user_id, func.count())
            .where(*of_type, Booking.status.in_(BLOCKING_STATUSES))
            .where(Booking.start_at >= week_start, Booking.start_at < week_end)
            .group_by(Booking.host_user_id)
        ).all()
    )
    latest = dict(
        session.execute(
            select(Booking.host_user_id, func.max(Booking.created_at))
            .where(*of_type)
            .group_by(Booking.host_user_id)
        ).all()
    )
    never = datetime.min.replace(tzinfo=UTC)

    def fairness(host_id: str) -> tuple[int, datetime, str]:
        last = latest.get(host_id) or never
        if isinstance(last, str):  # an aggregate may come back untyped on SQLite
            last = datetime.fromisoformat(last)
        return counts.get(host_id, 0), last.replace(tzinfo=UTC) if last.tzinfo is None else last, host_id

    return min(free_host_ids, key=fairness)


def _require_booking(session: Session, user_id: str, booking_id: str, *, lock: bool = False) -> Booking:
    """A booking the user sees (``booking_list.visible_to``); anyone else's is as unknown as a made-up id."""
    query = select(Booking).where(Booking.id == booking_id, booking_list.visible_to(user_id))
    booking = session.scalars(query.with_for_update() if lock else query).first()
    if booking is None:
        raise NotFound(f"No booking {booking_id!r}.")
    return booking


def get_booking(session: Session, owner_id: str, booking_id: str) -> Booking:
    return _require_booking(session, owner_id, booking_id)


def event_type_of(session: Session, booking: Booking) -> EventType:
    event_type = session.get(EventType, booking.event_type_id)
    assert event_type is not None  # bookings are deleted with their event type
    return event_type


# --- lifecycle --------------------------------------------------------------------------------


def create_booking(
    session: Session, settings: Settings, owner_id: str, request: NewBooking, now: datetime
) -> Booking:
    event_type = event_types.get_event_type(session, owner_id, request.event_type_id)
    return book_event_type(session, settings, event_type, request, now)


def book_event_type(
    session: Session, settings: Settings, event_type: EventType, request: NewBooking, now: datetime
) -> Booking:
    """Book ``event_type``, found by whoever asks (the host's token, or its public page): the same
    checks and the same booking either way. A lead of this event type with the invitee's email is
    marked booked in the same transaction."""
    # The booking belongs to the event type's creator (the caller may be an admin of its team).
    owner_id = event_type.user_id
    offers.require_active(event_type)
    duration = offers.choose_duration(event_type, request.duration_min)
    answers = validate_answers(event_type, request.answers)
    _check_invitee(request.invitee, request.guests)
    start = request.start.astimezone(UTC)

    host_ids = offers.host_ids_of(session, event_type)
    lock_users(session, [owner_id, *host_ids])
    context = offers.load_context(session, event_type, host_ids)
    slot = offers.check_slot(session, context, duration, start, now)
    if event_type.kind == COLLECTIVE:
        host_ids = list(slot.host_ids)
        primary = owner_id if owner_id in host_ids else host_ids[0]
    elif event_type.kind == ROUND_ROBIN and len(slot.host_ids) > 1:
        primary = pick_round_robin_host(
            session, event_type, slot.host_ids, start, ZoneInfo(context.owner.timezone)
        )
        host_ids = [primary]
    else:
        primary = slot.host_ids[0]
        host_ids = [primary]

    booking_id = new_id("bkg")
    booking = Booking(
        id=booking_id,
        owner_id=owner_id,
        event_type_id=event_type.id,
        host_user_id=primary,
        host_ids=host_ids,
        start_at=start,
        end_at=start + timedelta(minutes=duration),
        duration_min=duration,
        status=PENDING if event_type.requires_confirmation else ACTIVE,
        invitee_name=request.invitee.name,
        invitee_email=request.invitee.email.lower(),
        invitee_timezone=request.invitee.timezone,
        guests=list(dict.fromkeys(g.lower() for g in request.guests)),
        answers=answers,
        notes=request.notes,
        location=_location(event_type, request.location_input),
        ical_uid=booking_calendar.ical_uid(booking_id),
        sequence=0,
        created_at=now,
        updated_at=now,
        hosts=[BookingHost(user_id=host_id, start_at=start) for host_id in dict.fromkeys(host_ids)],
    )
    session.add(booking)
    session.flush()
    leads.record_booking(session, booking, now)
    booking_calendar.write_new(session, settings, booking, event_type, now)
    mail_out.queue_booking_mail(session, settings, booking, BookingChange.CREATED, now)
    created = "booking.requested" if booking.status == PENDING else "booking.created"
    _emit(session, booking, created, now)
    return booking


def _emit(session: Session, booking: Booking, type_: str, now: datetime) -> None:
    webhook_events.emit(session, booking.owner_id, type_, (webhook_events.BOOKING, booking.id), now)


def _changed(
    session: Session,
    settings: Settings,
    booking: Booking,
    now: datetime,
    change: BookingChange,
    previous_start: datetime | None = None,
) -> Booking:
    """The new version of the booking (SEQUENCE + 1) in the hosts' calendars, and the message telling
    the invitee and guests, in the caller's transaction."""
    booking.sequence += 1
    booking.updated_at = now
    session.flush()
    booking_calendar.write_update(session, settings, booking, event_type_of(session, booking), now)
    mail_out.queue_booking_mail(session, settings, booking, change, now, previous_start=previous_start)
    _emit(session, booking, WEBHOOK_TYPE[change], now)
    return booking


def cancel_booking(
    session: Session,
    settings: Settings,
    owner_id: str,
    booking_id: str,
    *,
    reason: str | None,
    canceled_by: str,
    now: datetime,
) -> Booking:
    """Cancel (idempotent: an ended booking is returned unchanged). The VEVENT stays, CANCELLED."""
    booking = _require_booking(session, owner_id, booking_id, lock=True)
    if booking.status in ENDED_STATUSES:
        return booking
    booking.status = CANCELED
    booking.canceled_at, booking.cancel_reason, booking.canceled_by = now, reason, canceled_by
    return _changed(session, settings, booking, now, BookingChange.CANCELED)


def reschedule_booking(
    session: Session,
    settings: Settings,
    owner_id: str,
    booking_id: str,
    *,
    start: datetime,
    duration_min: int | None,
    now: datetime,
) -> Booking:
    """Move a booking (same id, same hosts) to a start offered once its own time is freed."""
    booking = _require_booking(session, owner_id, booking_id, lock=True)
    if booking.status in ENDED_STATUSES:
        raise Conflict("A canceled booking cannot be rescheduled.")
    event_type = event_type_of(session, booking)
    offers.require_active(event_type)
    duration = offers.choose_duration(event_type, duration_min or booking.duration_min)
    start = start.astimezone(UTC)
    host_ids = [str(h) for h in booking.host_ids or [booking.host_user_id]]
    lock_users(session, [owner_id, *host_ids])
    context = offers.load_context(session, event_type)
    offers.check_slot(session, context, duration, start, now, exclude_booking=booking, only_hosts=host_ids)
    previous_start = booking.start_at
    booking.start_at, booking.end_at, booking.duration_min = (
        start,
        start + timedelta(minutes=duration),
        duration,
    )
    for host in booking.hosts:
        host.start_at = start
    return _changed(session, settings, booking, now, BookingChange.RESCHEDULED, previous_start)


def confirm_booking(
    session: Session, settings: Settings, owner_id: str, booking_id: str, now: datetime
) -> Booking:
    """pending -> active. Confirming a booking that is not pending (already active, or ended) is a
    Conflict, as declining one is: the request does not apply to it."""
    booking = _require_booking(session, owner_id, booking_id, lock=True)
    if booking.status != PENDING:
        raise Conflict(f"Only a pending booking can be confirmed; this one is {booking.status}.")
    booking.status, booking.confirmed_at = ACTIVE, now
    return _changed(session, settings, booking, now, BookingChange.CONFIRMED)


def decline_booking(
    session: Session,
    settings: Settings,
    owner_id: str,
    booking_id: str,
    *,
    reason: str | None,
    now: datetime,
) -> Booking:
    """pending -> declined (shown as canceled, canceledBy the host's email); idempotent when declined."""
    booking = _require_booking(session, owner_id, booking_id, lock=True)
    if booking.status == DECLINED:
        return booking
    if booking.status != PENDING:
        raise Conflict(
            f"Only a pending booking can be declined; this one is {booking.status}. Cancel it instead."
        )
    booking.status = DECLINED
    host = session.get(User, booking.host_user_id)
    booking.canceled_at, booking.cancel_reason = now, reason
    booking.canceled_by = host.email if host is not None else None
    return _changed(session, settings, booking, now, BookingChange.DECLINED)


def set_no_show(session: Session, owner_id: str, booking_id: str, no_show: bool, now: datetime) -> Booking:
    """Mark (or unmark) the invitee as a no-show; only for active bookings that have started (nobody can
    have failed to come yet before). The VEVENT is unchanged."""
    booking = _require_booking(session, owner_id, booking_id, lock=True)
    if booking.status != ACTIVE:
        raise Conflict(f"Only an active booking can be marked as a no-show; this one is {booking.status}.")
    if booking.start_at > now:
        raise Conflict(
            "A booking that has not started cannot be marked as a no-show; it starts at"
            f" {booking.start_at.isoformat(timespec='minutes')}."
        )
    if booking.no_show != no_show:
        booking.no_show, booking.updated_at = no_show, now
        _emit(session, booking, "booking.no_show", now)
    return booking
