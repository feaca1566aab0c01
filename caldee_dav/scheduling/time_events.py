"""Time-based work of the background worker: ``event.starting`` / ``event.ending`` webhooks and booking
reminder mails, found by scanning a short window around now.

One scan, ``fire_due(engine, settings, now)``:

* event times: the owners with an active webhook subscribed to ``event.starting`` or ``event.ending``
  (one query), then each of their calendars' occurrences overlapping [now - LOOKBACK, now + LEAD) as the
  REST events list reads them (``calendar_events.list_events``: the occurrence index, recurring series
  expanded in the window only). An occurrence whose start (end) lies in that window, and that is not
  cancelled, is emitted with a dedupe key naming the trigger, calendar, occurrence and the instant: any
  number of processes and the repeated scans of the window emit it once (``webhook_events.emit``'s
  conflict-tolerant insert), and an event moved to a later time fires again at its new time. A booking's
  event is an event too: it fires like any other.
* reminders: active bookings (not pending ones: a request the host has not confirmed is not a meeting yet,
  and its invitee hears when it is) whose start minus one of their event type's reminder minutes lies in
  the window. The row in ``booking_reminders_sent`` (booking, minutes, start) is inserted first,
  conflict-tolerant, and only the process that inserted it queues the mail, in the same transaction; a
  rescheduled booking has a new start, so it is reminded again.

LOOKBACK lets a worker that was down for a moment (a restart, a deploy) catch up; LEAD fires a little
early rather than late ("within a minute"). Work is bounded: at most MAX_PER_SCAN emits and mails per
scan, the rest the next scan (which comes well before the window has moved past them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caldee_dav import clock, db
from caldee_dav.config import Settings
from caldee_dav.errors import CaledeeError
from caldee_dav.ical import events as ev
from caldee_dav.models import Booking, BookingReminderSent, Collection, EventType, Webhook, WebhookEvent
from caldee_dav.scheduling import calendar_events, mail_out, webhook_events
from caldee_dav.scheduling.background import BackgroundLoop
from caldee_dav.scheduling.bookings import ACTIVE
from caldee_dav.scheduling.event_type_fields import DEFAULT_REMINDER_MINUTES, reminder_minutes_of

log = logging.getLogger(__name__)

LOOKBACK = timedelta(minutes=2)
LEAD = timedelta(minutes=1)
MAX_PER_SCAN = 500
STARTING, ENDING = "event.starting", "event.ending"
TIME_TRIGGERS = (STARTING, ENDING)
# Occurrences read per calendar and page of the events list.
PAGE = 100


@dataclass(frozen=True)
class Due:
    """One time-based webhook event to emit."""

    owner_id: str
    type: str
    calendar_id: str
    occurrence_id: str
    at: datetime

    @property
    def dedupe_key(self) -> str:
        return f"{self.type}:{self.calendar_id}:{self.occurrence_id}:{_stamp(self.at)}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fire_due(engine: Engine, settings: Settings, now: datetime) -> int:
    """One scan: emit the due event.starting / event.ending webhooks and queue the due reminder mails;
    how many were emitted or queued (at most MAX_PER_SCAN)."""
    fired = _fire_event_times(engine, now, MAX_PER_SCAN)
    return fired + _send_reminders(engine, settings, now, MAX_PER_SCAN - fired)


# --- event.starting / event.ending ---------------------------------------------------------------


def _fire_event_times(engine: Engine, now: datetime, budget: int) -> int:
    if budget <= 0:
        return 0
    with db.read_unit(engine) as session:
        wanted = _owners_subscribed(session)
        due = _due_event_times(session, wanted, now, budget) if wanted else []
    if not due:
        return 0
    fired = 0
    with db.write_unit(engine) as session:
        for item in due:
            resource = webhook_events.event_resource(item.calendar_id, item.occurrence_id)
            try:
                emitted = webhook_events.emit(
                    session, item.owner_id, item.type, resource, now, dedupe_key=item.dedupe_key
                )
            except CaledeeError as exc:  # deleted since the scan read it (its data cannot be rendered)
                log.info("time events: %s of %s not sent: %s", item.type, item.occurrence_id, exc)
                continue
            fired += emitted is not None
    return fired


def _owners_subscribed(session: Session) -> dict[str, set[str]]:
    """Owner id -> the time-based triggers some active webhook of theirs is subscribed to."""
    rows = session.execute(select(Webhook.owner_id, Webhook.triggers).where(Webhook.active == true()))
    wanted: dict[str, set[str]] = {}
    for owner_id, triggers in rows:
        types = set(TIME_TRIGGERS) & set(triggers or [])
        if types:
            wanted.setdefault(owner_id, set()).update(types)
    return wanted


def _due_event_times(session: Session, wanted: dict[str, set[str]], now: datetime, budget: int) -> list[Due]:
    """The starts and ends in [now - LOOKBACK, now + LEAD) of the subscribed owners' calendars, not yet
    emitted, at most ``budget``."""
    calendars = session.scalars(
        select(Collection)
        .where(Collection.owner_id.in_(list(wanted)), Collection.tag == "VCALENDAR")
        .order_by(Collection.id)
    ).all()
    window = calendar_events.Window(now - LOOKBACK, now + LEAD)
    due: list[Due] = []
    for calendar in calendars:
        found = _calendar_due(session, calendar, window, wanted[calendar.owner_id or ""])
        due.extend(_not_emitted(session, found))
        if len(due) >= budget:
            break
    return due[:budget]


def _calendar_due(
    session: Session, calendar: Collection, window: calendar_events.Window, types: set[str]
) -> list[Due]:
    """The calendar's starts and ends of ``types`` in the window, page by page of the events list."""
    owner_id = calendar.owner_id or ""
    zone = calendar_events.calendar_zone(session, calendar)
    found: list[Due] = []
    cursor: str | None = None
    while True:
        try:
            page = calendar_events.list_events(
                session, owner_id, calendar.public_id, window, limit=PAGE, cursor=cursor
            )
        except CaledeeError as exc:  # a series too costly to expand: the other calendars still fire
            log.warning("time events: calendar %s skipped: %s", calendar.public_id, exc)
            return found
        for view in page.events:
            if view.data.status == "cancelled":
                continue
            start, end = ev.data_interval(view.data, zone)
            moments = {STARTING: start, ENDING: end}
            found += [
                Due(owner_id, type_, calendar.public_id, view.id, moments[type_])
                for type_ in TIME_TRIGGERS
                if type_ in types and window.start <= moments[type_] < window.end
            ]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _not_emitted(session: Session, found: Sequence[Due]) -> list[Due]:
    """``found`` without those emitted before (by an earlier scan or another process): the repeated
    scans of a window cost one query, not a rendering per occurrence."""
    if not found:
        return []
    keys = [item.dedupe_key for item in found]
    emitted = set(session.scalars(select(WebhookEvent.dedupe_key).where(WebhookEvent.dedupe_key.in_(keys))))
    return [item for item in found if item.dedupe_key not in emitted]


# --- booking reminders ---------------------------------------------------------------------------


def _send_reminders(engine: Engine, settings: Settings, now: datetime, budget: int) -> int:
    if budget <= 0:
        return 0
    with db.read_unit(engine) as session:
        due = _due_reminders(session, now, budget)
    if not due:
        return 0
    sent = 0
    with db.write_unit(engine) as session:
        for booking_id, minutes, start_at in due:
            booking = session.get(Booking, booking_id)
            # Read again in this transaction: cancelled or moved since the scan read it? Not this reminder.
            if booking is None or booking.status != ACTIVE or booking.start_at != start_at:
                continue
            if not _claim_reminder(session, booking_id, minutes, start_at, now):
                continue
            mail = mail_out.queue_booking_mail(
                session, settings, booking, mail_out.BookingChange.REMINDER, now, minutes_before=minutes
            )
            sent += mail is not None
    return sent


def _due_reminders(session: Session, now: datetime, budget: int) -> list[tuple[str, int, datetime]]:
    """(booking id, minutes before, start) of the active bookings whose start minus one of their event
    type's reminder minutes lies in [now - LOOKBACK, now + LEAD), not reminded yet; one query over the
    bookings, a range of their start for each reminder length in use."""
    lengths = _reminder_lengths(session)
    ranges = [
        and_(
            Booking.start_at >= now - LOOKBACK + timedelta(minutes=m),
            Booking.start_at < now + LEAD + timedelta(minutes=m),
        )
        for m in sorted(lengths)
    ]
    rows = session.execute(
        select(Booking.id, Booking.start_at, EventType.reminder_minutes)
        .join(EventType, EventType.id == Booking.event_type_id)
        .where(Booking.status == ACTIVE, or_(*ranges))
        .order_by(Booking.start_at, Booking.id)
    ).all()
    due = [
        (booking_id, m, start_at)
        for booking_id, start_at, stored in rows
        for m in reminder_minutes_of(stored)
        if now - LOOKBACK <= start_at - timedelta(minutes=m) < now + LEAD
    ]
    return _not_reminded(session, due)[:budget]


def _reminder_lengths(session: Session) -> set[int]:
    """Every reminder length some event type asks for (one narrow read of the event types)."""
    lengths = set(DEFAULT_REMINDER_MINUTES)
    for (stored,) in session.execute(select(EventType.reminder_minutes)):
        lengths.update(stored or [])
    return lengths


def _not_reminded(
    session: Session, due: Iterable[tuple[str, int, datetime]]
) -> list[tuple[str, int, datetime]]:
    candidates = list(due)
    if not candidates:
        return []
    sent = set(
        session.execute(
            select(
                BookingReminderSent.booking_id,
                BookingReminderSent.minutes_before,
                BookingReminderSent.start_at,
            ).where(BookingReminderSent.booking_id.in_({booking_id for booking_id, _, _ in candidates}))
        ).all()
    )
    return [item for item in candidates if tuple(item) not in sent]


def _claim_reminder(
    session: Session, booking_id: str, minutes: int, start_at: datetime, now: datetime
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING into ``booking_reminders_sent``: whether this call inserted the
    row (another process that found the same reminder waits for this one's commit and inserts nothing)."""
    insert = postgresql.insert if db.on_postgresql(session) else sqlite.insert
    statement = (
        insert(BookingReminderSent)
        .values(booking_id=booking_id, minutes_before=minutes, start_at=start_at, created_at=now)
        .on_conflict_do_nothing(index_elements=["booking_id", "minutes_before", "start_at"])
        .returning(BookingReminderSent.booking_id)
    )
    return session.execute(statement).first() is not None


# --- the scanner thread --------------------------------------------------------------------------


class TimeEventScanner(BackgroundLoop):
    """Runs ``fire_due`` every ``settings.time_events_interval_seconds``; started beside the webhook
    dispatcher (each ``caledee serve`` process with background work on, and ``caledee worker``):
    several scanners fire each event and reminder once."""

    name, what = "caledee-time-events", "time events"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(settings.time_events_interval_seconds)
        self.engine, self.settings = engine, settings

    def run_round(self) -> None:
        fire_due(self.engine, self.settings, clock.now())
