"""Writes from CalDAV clients, and what they mean for bookings: the calendar is the source of truth.

The dav edge stores a client's PUT and DELETE through here rather than through the write service
(``caldee_dav.calendars.objects``) directly: the write service lies below scheduling and knows no
bookings. An object whose UID is a booking's, in the calendar of one of the booking's hosts, speaks for
the booking while the booking is active or pending:

* deleted, or written with STATUS:CANCELLED: the booking is canceled by that host (``canceledBy`` is
  the host's email); its time is freed, and the other hosts' copies of a collective booking become
  STATUS:CANCELLED;
* written with another DTSTART/DTEND: the booking is rescheduled by ``bookings.reschedule_booking``,
  the code behind POST /bookings/{id}/reschedule (same locks, same checks, the booking's own time
  not counted against it), or the write is refused (``BookingEditRefused``) and nothing is stored;
* any other edit (title, description, alarms) is stored and the booking stays as it is.

The client's text is what stays in its calendar (the ETag it is answered with stays true); the booking
rewrites the other hosts' copies. A booking that has ended (canceled, declined) no longer follows its
event, and an object with a booking's UID in anyone else's calendar is just an event.

Lock order, as in the REST calls (PostgreSQL; SQLite serializes writers): the booking's row, then its
hosts' users rows, then calendars. A caller that locks the calendar before writing (the fast PUT) calls
``lock_booking`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.calendars import objects
from caldee_dav.calendars.objects import Preconditions, PreparedObject, WriteResult
from caldee_dav.config import Settings
from caldee_dav.errors import CaledeeError, Conflict, FieldPath, Forbidden, InvalidInput, Text, render
from caldee_dav.models import Booking, Collection, User
from caldee_dav.scheduling import booking_calendar, bookings, busy, webhook_events
from caldee_dav.scheduling.availability import Interval

DELETED_REASON = "The event was deleted from the host's calendar."
CANCELLED_REASON = "The event was marked cancelled in the host's calendar."
CALENDAR_DELETED_REASON = "The host's calendar holding the event was deleted."
# The reschedule request's fields, named by the event's properties that gave them.
_EVENT_PROPERTIES = {"start": "DTSTART", "duration_min": "DTEND"}


class BookingEditRefused(Forbidden):
    """A client's edit of a booking's event that the booking cannot follow (a new time that is not
    free, a recurrence, an all-day event): nothing is stored."""

    def __init__(self, booking: Booking, reason: str) -> None:
        super().__init__(f"This event is booking {booking.id}: {reason}")
        self.booking_id, self.reason = booking.id, reason


@dataclass(frozen=True)
class _Change:
    """What a client's edit asks of its booking: to be canceled, or moved to ``moved_to``."""

    cancel: bool = False
    moved_to: Interval | None = None


def lock_booking(session: Session, uid: str) -> None:
    """Lock the booking whose event has ``uid`` (none: nothing), and its hosts, before the caller
    locks a calendar: the order every booking change takes."""
    booking_id = booking_calendar.booking_id_of(uid)
    if booking_id is None:
        return
    booking = _locked_booking(session, booking_id)
    if booking is not None and booking.status not in bookings.ENDED_STATUSES:
        bookings.lock_users(session, [booking.owner_id, *_host_ids(booking)])


def put_from_client(
    session: Session,
    settings: Settings,
    collection: Collection,
    href: str,
    prepared: PreparedObject,
    preconditions: Preconditions,
    now: datetime,
) -> WriteResult:
    """``objects.put_object``, and the booking the object is (if any) following it."""
    booking = _followed_booking(session, collection, prepared.uid)
    if booking is None:
        written = objects.put_object(session, collection, href, prepared, preconditions)
        _emit_written(session, collection, written, now)
        return written
    host = _owner(session, collection)
    change = _requested_change(booking, prepared, ZoneInfo(host.timezone))
    if change is None:
        return objects.put_object(session, collection, href, prepared, preconditions)
    # A savepoint: a refused move leaves nothing written even where the edge commits its unit after
    # a failed write (Radicale's).
    with session.begin_nested():
        written = objects.put_object(session, collection, href, prepared, preconditions)
        if change.moved_to is not None:
            _reschedule(session, settings, booking, change.moved_to, now)
        else:
            _cancel(session, settings, booking, host, CANCELLED_REASON, now)
        # The booking has rewritten every copy of its event, this one too: the client's text stays.
        kept = objects.put_object(session, collection, href, prepared)
    return WriteResult(kept.obj, written.created)


def delete_from_client(
    session: Session,
    settings: Settings,
    collection: Collection,
    href: str,
    preconditions: Preconditions,
    now: datetime,
) -> None:
    """``objects.delete_object``; deleting a booking's event cancels the booking."""
    existing = store.get_object(session, collection.id, href)
    if existing is not None:
        lock_booking(session, existing.uid)
        gone = (existing.uid, existing.event_id, existing.component)
    objects.delete_object(session, collection, href, preconditions)
    booking = _followed_booking(session, collection, existing.uid) if existing is not None else None
    if booking is not None:
        _cancel(session, settings, booking, _owner(session, collection), DELETED_REASON, now)
    elif existing is not None and _is_plain_event(collection, gone[0], gone[2]):
        resource = webhook_events.deleted_event_resource(collection.public_id, gone[1])
        webhook_events.emit(session, collection.owner_id or "", "event.deleted", resource, now)


# --- webhooks -------------------------------------------------------------------------------------


def _is_plain_event(collection: Collection, uid: str, component: str | None) -> bool:
    """An event of a user's calendar that is not a booking's (a booking's changes are booking.*)."""
    return (
        collection.owner_id is not None
        and component == "VEVENT"
        and booking_calendar.booking_id_of(uid) is None
    )


def _emit_written(session: Session, collection: Collection, written: WriteResult, now: datetime) -> None:
    if not _is_plain_event(collection, written.obj.uid, written.obj.component):
        return
    type_ = "event.created" if written.created else "event.updated"
    resource = webhook_events.event_resource(collection.public_id, written.obj.event_id)
    webhook_events.emit(session, collection.owner_id or "", type_, resource, now)


def delete_calendar_from_client(
    session: Session, settings: Settings, collection: Collection, now: datetime
) -> None:
    """``objects.delete_calendar``; the bookings whose events it holds are canceled, as if each event
    had been deleted (a whole calendar deleted in a client)."""
    followed = []
    for uid in store.uids_ending_with(session, collection.id, booking_calendar.UID_SUFFIX):
        lock_booking(session, uid)
        booking = _followed_booking(session, collection, uid)
        if booking is not None:
            followed.append(booking)
    if followed:
        host = _owner(session, collection)
        for booking in followed:
            _cancel(session, settings, booking, host, CALENDAR_DELETED_REASON, now)
    objects.delete_calendar(session, collection)


# --- which booking, what change -----------------------------------------------------------------


def _locked_booking(session: Session, booking_id: str) -> Booking | None:
    query = select(Booking).where(Booking.id == booking_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def _host_ids(booking: Booking) -> list[str]:
    return [str(h) for h in booking.host_ids or [booking.host_user_id]]


def _followed_booking(session: Session, collection: Collection, uid: str) -> Booking | None:
    """The active or pending booking whose event has ``uid``, when ``collection`` is a calendar of one
    of its hosts."""
    booking_id = booking_calendar.booking_id_of(uid)
    if booking_id is None or collection.owner_id is None:
        return None
    booking = _locked_booking(session, booking_id)
    if booking is None or booking.ical_uid != uid or booking.status in bookings.ENDED_STATUSES:
        return None
    return booking if collection.owner_id in _host_ids(booking) else None


def _owner(session: Session, collection: Collection) -> User:
    owner = session.get(User, collection.owner_id)
    assert owner is not None  # a host's calendar: the owner is the host
    return owner


def _requested_change(booking: Booking, prepared: PreparedObject, zone: ZoneInfo) -> _Change | None:
    """What the new text asks of the booking (None: nothing); BookingEditRefused for an event a booking
    cannot be. Floating times are the host's local time."""
    try:
        components = ical.main_components(ical.parse_calendar(prepared.text))
    except ical.InvalidCalendarData:
        components = []
    if len(components) != 1 or components[0].name != "VEVENT":
        raise BookingEditRefused(booking, "a booking is one event; this object is not.")
    event = components[0]
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return _Change(cancel=True)
    if any(name in event for name in ("RRULE", "RDATE")):
        raise BookingEditRefused(booking, "a booking happens once; its event cannot recur.")
    if not isinstance(event.decoded("DTSTART"), datetime):
        raise BookingEditRefused(booking, "a booking has a start time; its event cannot last all day.")
    interval = busy.instance_interval(event, zone)
    if (interval.start, interval.end) == (booking.start_at, booking.end_at):
        return None
    return _Change(moved_to=interval)


def _cancel(
    session: Session, settings: Settings, booking: Booking, host: User, reason: str, now: datetime
) -> None:
    bookings.cancel_booking(
        session, settings, booking.owner_id, booking.id, reason=reason, canceled_by=host.email, now=now
    )


def _reschedule(session: Session, settings: Settings, booking: Booking, new: Interval, now: datetime) -> None:
    wanted = f"{_utc(new.start)} to {_utc(new.end)}"
    length = new.end - new.start
    if length <= timedelta(0) or length % timedelta(minutes=1):
        raise BookingEditRefused(booking, f"it cannot move to {wanted}: a booking lasts whole minutes.")
    try:
        bookings.reschedule_booking(
            session,
            settings,
            booking.owner_id,
            booking.id,
            start=new.start,
            duration_min=length // timedelta(minutes=1),
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        raise BookingEditRefused(booking, f"it cannot move to {wanted}: {_in_event_terms(exc)}") from exc


def _in_event_terms(exc: CaledeeError) -> str:
    text: Text = exc.text
    return render(text, _event_property)


def _event_property(path: FieldPath) -> str:
    return ".".join(_EVENT_PROPERTIES.get(str(part), str(part)) for part in path)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
