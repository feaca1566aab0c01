"""Events of a calendar as plain fields: the domain behind ``/api/v2/calendars/{id}/events``.

The calendar object stays the truth: every read parses it (``caldee_dav.ical.events``), every write
rebuilds its text and stores it through ``calendar_edits.put_from_client`` / ``delete_from_client``,
so that editing or deleting a booking's event here cancels or reschedules the booking exactly as a
CalDAV client's edit does. A change is read, edited and written in the caller's one write unit, with
the ETag read as If-Match: a CalDAV client's edit between the read and the write is a 412, not a lost
write.

Ids: an event (a series or a one-off) is ``CalendarObject.event_id``; one occurrence of a series is
``{eventId}_{key}``, the key its original start (``20270104T090000Z`` in UTC, ``20270104`` all-day).

Listing reads the occurrence index for the objects with instances in the window (and those whose
instances there lie beyond the indexing horizon), in order of their first start, and parses only as
many as the page needs: a series of 100,000 instances costs a page's worth of instances.
"""

from __future__ import annotations

import bisect
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.calendars import accounts, objects
from caldee_dav.calendars.objects import Preconditions
from caldee_dav.config import Settings
from caldee_dav.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, Problem, WorkLimitExceeded
from caldee_dav.ical import events as ev
from caldee_dav.ical.events import UNCHANGED, EventData, EventEdit, Person
from caldee_dav.models import CalendarObject, Collection, event_id_for
from caldee_dav.scheduling import booking_calendar, calendar_edits, cursors, mail_out, webhook_events
from caldee_dav.scheduling.bookings import EMAIL_PATTERN
from caldee_dav.scheduling.editing import UNSET, Unset
from caldee_dav.zones import zone_named

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=90)
MAX_WINDOW = timedelta(days=366)
MAX_OFFSET = 10_000
UPCOMING_WINDOW = timedelta(days=366)
DELETE_MODES = ("single", "future", "all")
# Floating times and all-day events are indexed as UTC; no zone is further than this from it.
INDEX_SLACK = timedelta(days=2)
# Objects parsed per round trip while listing.
BATCH = 50


@dataclass(frozen=True)
class EventFields:
    """What a client sends (UNSET: not sent; None: cleared). Times are text, read by ``ev.parse_when``."""

    title: str | None | Unset = UNSET
    start: str | None | Unset = UNSET
    end: str | None | Unset = UNSET
    timezone: str | None | Unset = UNSET
    all_day: bool | None | Unset = UNSET
    description: str | None | Unset = UNSET
    location: str | None | Unset = UNSET
    status: str | None | Unset = UNSET
    attendees: Sequence[Person] | None | Unset = UNSET
    recurrence: str | None | Unset = UNSET
    metadata: dict[str, Any] | None | Unset = UNSET


@dataclass(frozen=True)
class EventView:
    """An event or one occurrence, with its ids."""

    data: EventData
    id: str
    calendar_id: str
    event_id: str
    series_id: str | None
    etag: str
    stored_at: datetime


@dataclass(frozen=True)
class EventRef:
    event_id: str
    key: ev.RecurrenceKey | None

    @classmethod
    def parse(cls, text: str) -> EventRef:
        event_id, underscore, key_text = text.rpartition("_")
        if underscore and event_id.startswith("ev_") and event_id != "ev":
            key = ev.parse_key(key_text)
            if key is None:
                raise NotFound(f"no event {text!r}")
            return cls(event_id, key)
        return cls(text, None)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Page:
    events: list[EventView]
    next_cursor: str | None


# --- reads -------------------------------------------------------------------------------------


def calendar_zone(session: Session, calendar: Collection) -> ZoneInfo:
    """The calendar's time zone, else its owner's, else UTC."""
    return zone_of_calendar(calendar.timezone, _owner_zone(session, calendar))


def zone_of_calendar(timezone: str | None, owner_timezone: str | None) -> ZoneInfo:
    """The zone named ``timezone`` (a calendar's), else ``owner_timezone`` (its owner's), else UTC."""
    for name in (timezone, owner_timezone):
        zone = zone_named(name)
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def _owner_zone(session: Session, calendar: Collection) -> str | None:
    owner = accounts.get_user(session, calendar.owner_id) if calendar.owner_id else None
    return owner.timezone if owner is not None else None


def _parsed(obj: CalendarObject, *, for_reading: bool = False) -> icalendar.Calendar:
    """``for_reading``: the object is only read, never edited and stored again (``parse_for_reading``)."""
    try:
        return ical.parse_for_reading(obj.text) if for_reading else ical.parse_calendar(obj.text)
    except ical.InvalidCalendarData as exc:
        raise Conflict(f"the event {obj.event_id!r} is stored as iCalendar that cannot be read") from exc


def _view(calendar: Collection, obj: CalendarObject, data: EventData) -> EventView:
    if data.recurrence_id is not None:
        ident, series = f"{obj.event_id}_{ev.format_key(data.recurrence_id)}", obj.event_id
    else:
        ident, series = obj.event_id, None
    return EventView(data, ident, calendar.public_id, obj.event_id, series, obj.etag, obj.last_modified)


def _object(session: Session, calendar: Collection, ref: EventRef) -> CalendarObject:
    obj = store.object_by_event_id(session, calendar.id, ref.event_id)
    if obj is None or obj.component != "VEVENT":
        raise NotFound(f"no event {ref.event_id!r} in this calendar")
    return obj


def _read(calendar: icalendar.Calendar, zone: ZoneInfo, ref: EventRef, obj: CalendarObject) -> EventData:
    with ical.deadline(ical.READ_SECONDS):
        data = (
            ev.read_series(calendar, zone) if ref.key is None else ev.find_occurrence(calendar, zone, ref.key)
        )
    if data is None:
        what = "event" if ref.key is None else f"occurrence {ev.format_key(ref.key)} of the event"
        raise NotFound(f"no {what} {obj.event_id!r}")
    return data


def get_event(session: Session, owner_id: str, calendar_id: str, event_ref: str) -> EventView:
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    ref = EventRef.parse(event_ref)
    obj = _object(session, calendar, ref)
    try:
        data = _read(_parsed(obj, for_reading=True), calendar_zone(session, calendar), ref, obj)
    except ical.TooCostly as exc:
        raise WorkLimitExceeded(f"finding this occurrence is too costly ({exc})") from exc
    return _view(calendar, obj, data)


def default_window(start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """[start, end): start defaults to now, end to start + 90 days; at most 366 days."""
    out_of_range = [
        Problem((name,), ev.OUT_OF_RANGE, "out_of_range")
        for name, value in (("start", start), ("end", end))
        if value is not None and not ev.in_supported_range(value)
    ]
    if out_of_range:
        raise InvalidInput.about(out_of_range)
    first = start or now
    last = end or first + DEFAULT_WINDOW
    if last <= first:
        raise InvalidInput.about([Problem(("end",), "must be after start", "end_before_start")])
    if last - first > MAX_WINDOW:
        message = f"the window from start to end may be at most {MAX_WINDOW.days} days"
        raise InvalidInput.about([Problem(("end",), message, "window_too_large")])
    return Window(first, last)


def list_events(
    session: Session,
    owner_id: str,
    calendar_id: str,
    window: Window,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int = 0,
) -> Page:
    """Occurrences overlapping the window, by start then id; one page after ``cursor`` / ``offset``."""
    if offset > MAX_OFFSET:
        raise InvalidInput.about([Problem(("offset",), f"must be at most {MAX_OFFSET}", "too_large")])
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    after = cursors.decode_cursor(cursor) if cursor else None
    found = _first_instances(session, calendar, window, offset + limit + 1, status=status, after=after)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    return Page(page, encode_cursor(page[-1], calendar_zone(session, calendar)) if more and page else None)


def upcoming(
    session: Session, owner_id: str, calendar_id: str, limit: int, now: datetime
) -> tuple[list[EventView], timedelta | None]:
    """The next ``limit`` occurrences starting at or after now (cancelled ones left out, within a year),
    and how long until the first starts."""
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    window = Window(now, now + UPCOMING_WINDOW)
    found = _first_instances(session, calendar, window, limit, starts_only=True, not_cancelled=True)
    zone = calendar_zone(session, calendar)
    starts_in = ev.instant(found[0].data.start, zone) - now if found else None
    return found, starts_in


def _sort_key(view: EventView, zone: ZoneInfo) -> tuple[datetime, str]:
    return ev.instant(view.data.start, zone), view.id


def _first_instances(
    session: Session,
    calendar: Collection,
    window: Window,
    wanted: int,
    *,
    status: str | None = None,
    after: tuple[datetime, str] | None = None,
    starts_only: bool = False,
    not_cancelled: bool = False,
) -> list[EventView]:
    """The first ``wanted`` occurrences (by start, then id) overlapping ``window`` (or starting in it,
    ``starts_only``) that pass the filters and come after ``after``.

    Objects are read in order of their earliest possible start; once ``wanted`` occurrences are found,
    an object that cannot start before the last of them is not read at all, and each object's
    expansion stops at its ``wanted``-th occurrence, or past the last one kept."""
    zone = calendar_zone(session, calendar)
    bounded = after is not None or starts_only
    expand_from = max(window.start, after[0]) if after is not None else window.start

    def accept(view: EventView) -> bool:
        key = _sort_key(view, zone)
        if (after is not None and key <= after) or (starts_only and key[0] < window.start):
            return False
        if not_cancelled and view.data.status == "cancelled":
            return False
        return status is None or view.data.status == status

    candidates = store.event_candidates(
        session,
        calendar,
        int((window.start - INDEX_SLACK).timestamp()),
        int((window.end + INDEX_SLACK).timestamp()),
        int((expand_from - INDEX_SLACK).timestamp()) if bounded else None,
    )
    best: list[EventView] = []
    slack = INDEX_SLACK.total_seconds()
    for batch_start in range(0, len(candidates), BATCH):
        batch = candidates[batch_start : batch_start + BATCH]
        last = _sort_key(best[-1], zone)[0] if len(best) >= wanted else None
        if last is not None and batch[0][1] - slack > last.timestamp():
            break
        by_id = {obj.id: obj for obj in store.objects_by_id(session, [object_id for object_id, _ in batch])}
        for object_id, first_start in batch:
            last = _sort_key(best[-1], zone)[0] if len(best) >= wanted else None
            if last is not None and first_start - slack > last.timestamp():
                break
            obj = by_id.get(object_id)
            if obj is None or not _may_pass(obj, status):
                continue
            found = _object_instances(
                calendar, obj, zone, Window(expand_from, window.end), accept, wanted, last
            )
            for view in found:  # kept in order: a page's worth, not a sort per object
                bisect.insort(best, view, key=lambda kept: _sort_key(kept, zone))
            del best[wanted:]
    return best


def _may_pass(obj: CalendarObject, status: str | None) -> bool:
    """Whether any occurrence of ``obj`` can have ``status``: their statuses are those of its VEVENTs
    (none or an unknown one: confirmed), so a filter skips a long series of another status unexpanded."""
    if status is None:
        return True
    lines = obj.text.splitlines()
    found = [
        line.partition(":")[2].strip().lower()
        for line in lines
        if line.upper().startswith(("STATUS:", "STATUS;"))
    ]
    statuses = {value if value in ev.STATUSES else "confirmed" for value in found}
    if len(found) < sum(1 for line in lines if line.strip().upper() == "BEGIN:VEVENT"):
        statuses.add("confirmed")
    return status in statuses


def _object_instances(
    calendar: Collection,
    obj: CalendarObject,
    zone: ZoneInfo,
    window: Window,
    accept: Callable[[EventView], bool],
    wanted: int,
    last: datetime | None,
) -> list[EventView]:
    """The object's first ``wanted`` occurrences in the window that ``accept`` takes, none starting
    after ``last``; expanded within the read time limit."""
    if not obj.recurring:
        return _one_off_instance(calendar, obj, zone, window, accept)
    try:
        parsed = ical.parse_for_reading(obj.text)
    except ical.InvalidCalendarData:
        log.warning("cannot parse %s for the events list", obj.href)
        return []
    found: list[EventView] = []
    try:
        with ical.deadline(ical.READ_SECONDS):
            for data in ev.occurrences(parsed, zone, window.start, window.end):
                view = _view(calendar, obj, data)
                if last is not None and _sort_key(view, zone)[0] > last + INDEX_SLACK:
                    break
                if accept(view):
                    found.append(view)
                    if len(found) >= wanted:
                        break
    except ical.TooCostly as exc:
        raise WorkLimitExceeded(f"listing the occurrences of {obj.event_id!r} is too costly ({exc})") from exc
    except (ValueError, TypeError, KeyError, OverflowError):
        log.warning("cannot expand %s for the events list", obj.href, exc_info=True)
    return found


def _one_off_instance(
    calendar: Collection,
    obj: CalendarObject,
    zone: ZoneInfo,
    window: Window,
    accept: Callable[[EventView], bool],
) -> list[EventView]:
    """``_object_instances`` of an object that is not recurring: its one event, when it overlaps the
    window and ``accept`` takes it (read through the memo of stored one-off events)."""
    try:
        data = ev.read_stored_one_off(obj.text, zone)
    except ical.InvalidCalendarData:
        log.warning("cannot parse %s for the events list", obj.href)
        return []
    if data is None:
        return []
    first, last = ev.data_interval(data, zone)
    overlaps = first < window.end and (last > window.start or (first == last and first >= window.start))
    view = _view(calendar, obj, data)
    return [view] if overlaps and accept(view) else []


def encode_cursor(view: EventView, zone: ZoneInfo) -> str:
    return cursors.encode_cursor(*_sort_key(view, zone))


# --- checking input ----------------------------------------------------------------------------


def _edit_of(
    fields: EventFields, current: ev.Timing | None, default_zone: str, *, occurrence: bool
) -> EventEdit:
    """The checked edit ``fields`` ask for (``current`` None: a new event); InvalidInput lists every
    problem."""
    problems: list[Problem] = []
    creating = current is None
    for name in ("title", "start", "end", "all_day", "status", "timezone"):
        if getattr(fields, name) is None:
            problems.append(Problem((name,), "cannot be null", "required"))
    if creating:
        for name in ("title", "start", "end"):
            if getattr(fields, name) is UNSET:
                problems.append(Problem((name,), "is required", "required"))
    values: dict[str, Any] = {}
    if isinstance(fields.title, str):
        if not fields.title.strip():
            problems.append(Problem(("title",), "must not be empty", "required"))
        problems += ev.check_text("title", fields.title, ev.MAX_TITLE_BYTES)
        values["title"] = fields.title
    for name, limit in (("description", ev.MAX_DESCRIPTION_BYTES), ("location", ev.MAX_LOCATION_BYTES)):
        value = getattr(fields, name)
        if value is not UNSET:
            problems += ev.check_text(name, value, limit)
            values[name] = value
    if isinstance(fields.status, str):
        if fields.status not in ev.STATUSES:
            problems.append(Problem(("status",), f"must be one of {', '.join(ev.STATUSES)}", "invalid"))
        values["status"] = fields.status
    if fields.attendees is not UNSET:
        problems += _attendee_problems(fields.attendees)
        values["attendees"] = fields.attendees
    if fields.metadata is not UNSET:
        if fields.metadata is not None:
            try:
                ev.metadata_text(fields.metadata)
            except ValueError as exc:
                problems.append(Problem(("metadata",), str(exc), "too_large"))
        values["metadata"] = fields.metadata or None
    if fields.recurrence is not UNSET:
        if occurrence:
            message = "cannot be changed on one occurrence; PATCH the series (its event id) instead"
            problems.append(Problem(("recurrence",), message, "occurrence_recurrence"))
        elif fields.recurrence is not None:
            try:
                values["recurrence"] = ev.check_rule(fields.recurrence)
            except ValueError as exc:
                problems.append(Problem(("recurrence",), str(exc), "invalid_rule"))
        else:
            values["recurrence"] = None
    timing = UNCHANGED
    try:
        timing = ev.resolve_timing(
            current,
            start=_given(fields.start),
            end=_given(fields.end),
            zone=_given(fields.timezone),
            all_day=_given(fields.all_day),
            default_zone=default_zone,
        )
    except InvalidInput as exc:
        problems += [p for p in exc.problems if p.path not in {q.path for q in problems}]
    if problems:
        raise InvalidInput.about(problems)
    if creating:
        values.setdefault("status", "confirmed")
        for name in ("description", "location", "attendees", "metadata", "recurrence"):
            values.setdefault(name, None)
    return EventEdit(timing=timing, **values)


def _given(value: Any) -> Any:
    return UNCHANGED if value is UNSET or value is None else value


def _attendee_problems(attendees: Sequence[Person] | None) -> list[Problem]:
    if attendees is None:
        return []
    if len(attendees) > ev.MAX_ATTENDEES:
        return [Problem(("attendees",), f"at most {ev.MAX_ATTENDEES} attendees", "too_many")]
    problems = []
    for index, person in enumerate(attendees):
        if not EMAIL_PATTERN.match(person.email.strip()) or len(person.email) > 320:
            problems.append(
                Problem(("attendees", index, "email"), "is not an email address", "invalid_email")
            )
        if person.name is not None:
            # A name becomes a CN parameter: no control characters and, in a parameter value, no line breaks.
            name_problems = ev.check_text("name", person.name, 1024)
            if not name_problems and ("\n" in person.name or "\r" in person.name):
                name_problems = [Problem(("name",), "must be one line", "control_character")]
            problems += [Problem(("attendees", index, "name"), p.message, p.code) for p in name_problems]
    return problems


def _timing_of(data: EventData, zone: ZoneInfo) -> ev.Timing:
    """The current timing of an event, as an edit merges new values into it."""
    if data.all_day:
        return ev.Timing(data.start, data.end, data.zone)
    name = data.zone if data.zone == "UTC" or zone_named(data.zone) is not None else zone.key
    tz = ZoneInfo(name) if name != "UTC" else UTC
    return ev.Timing(data.start.astimezone(tz), data.end.astimezone(tz), name)  # type: ignore[union-attr]


# --- writes ------------------------------------------------------------------------------------


def _organizer(session: Session, calendar: Collection) -> Person | None:
    owner = accounts.get_user(session, calendar.owner_id) if calendar.owner_id else None
    return Person(owner.email, owner.display_name or owner.slug) if owner is not None else None


def _prepare(settings: Settings, text: str, now: datetime) -> objects.PreparedObject:
    """The write service's checks and index; a rule it does not store is a 400 about ``recurrence``."""
    try:
        return objects.prepare_object(text, objects.WriteLimits.from_settings(settings), now)
    except ical.UnacceptableRecurrence as exc:
        raise InvalidInput.about([Problem(("recurrence",), exc.reason, "unacceptable_rule")]) from exc
    except ical.InvalidCalendarData as exc:
        raise InvalidInput(f"the event would not be valid iCalendar: {exc.reason}") from exc


def create_event(
    session: Session, settings: Settings, owner_id: str, calendar_id: str, fields: EventFields, now: datetime
) -> EventView:
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    zone = calendar_zone(session, calendar)
    edit = _edit_of(fields, None, zone.key, occurrence=False)
    uid = str(uuid.uuid4())
    assert not uid.endswith(booking_calendar.UID_SUFFIX)  # that suffix means a booking's event
    parsed = ev.new_event(uid, edit, _organizer(session, calendar), now)
    prepared = _prepare(settings, ev.to_text(parsed), now)
    href = booking_calendar.object_href(uid)
    written = calendar_edits.put_from_client(
        session, settings, calendar, href, prepared, Preconditions(if_none_match=True), now
    )
    return _written_view(calendar, written.obj, prepared, zone, EventRef(event_id_for(uid), None))


def _written_view(
    calendar: Collection, obj: CalendarObject, prepared: objects.PreparedObject, zone: ZoneInfo, ref: EventRef
) -> EventView:
    return _view(calendar, obj, _read(ical.parse_calendar(prepared.text), zone, ref, obj))


@dataclass
class _Loaded:
    calendar: Collection
    obj: CalendarObject
    parsed: icalendar.Calendar
    zone: ZoneInfo
    ref: EventRef
    current: EventData


def _load_for_write(
    session: Session, owner_id: str, calendar_id: str, event_ref: str, if_match: str | None
) -> _Loaded:
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    ref = EventRef.parse(event_ref)
    obj = _object(session, calendar, ref)
    if if_match is not None and if_match not in ("*", obj.etag):
        raise PreconditionFailed(obj.href, if_match, obj.etag)
    # The order every booking change takes: the booking's row before the calendar.
    calendar_edits.lock_booking(session, obj.uid)
    zone = calendar_zone(session, calendar)
    parsed = _parsed(obj)
    try:
        current = _read(parsed, zone, ref, obj)
    except ical.TooCostly as exc:
        raise WorkLimitExceeded(f"finding this occurrence is too costly ({exc})") from exc
    return _Loaded(calendar, obj, parsed, zone, ref, current)


def _store(
    session: Session, settings: Settings, loaded: _Loaded, now: datetime
) -> tuple[objects.PreparedObject, CalendarObject]:
    """Write the edited object over the one read, if it is still the one read (its ETag)."""
    prepared = _prepare(settings, ev.to_text(loaded.parsed), now)
    written = calendar_edits.put_from_client(
        session,
        settings,
        loaded.calendar,
        loaded.obj.href,
        prepared,
        Preconditions(if_match=loaded.obj.etag),
        now,
    )
    return prepared, written.obj


def _stored_view(session: Session, settings: Settings, loaded: _Loaded, now: datetime) -> EventView:
    """``_store``, and the event (or occurrence) as written."""
    prepared, written = _store(session, settings, loaded, now)
    return _written_view(loaded.calendar, written, prepared, loaded.zone, loaded.ref)


def update_event(
    session: Session,
    settings: Settings,
    owner_id: str,
    calendar_id: str,
    event_ref: str,
    fields: EventFields,
    now: datetime,
    *,
    if_match: str | None = None,
) -> EventView:
    """PATCH: the series (or one-off event), or one occurrence (its override, made if needed)."""
    loaded = _load_for_write(session, owner_id, calendar_id, event_ref, if_match)
    occurrence = loaded.ref.key is not None
    edit = _edit_of(fields, _timing_of(loaded.current, loaded.zone), loaded.zone.key, occurrence=occurrence)
    organizer = _organizer(session, loaded.calendar)
    if loaded.ref.key is not None:
        ev.edit_occurrence(loaded.parsed, loaded.ref.key, edit, loaded.zone, organizer, now)
    else:
        try:
            ev.edit_series(loaded.parsed, edit, loaded.zone, organizer, now)
        except ev.NoSeries as exc:
            raise Conflict("this event has no series to change; change its occurrences") from exc
    return _stored_view(session, settings, loaded, now)


def delete_event(
    session: Session,
    settings: Settings,
    owner_id: str,
    calendar_id: str,
    event_ref: str,
    mode: str,
    now: datetime,
    *,
    if_match: str | None = None,
) -> None:
    """DELETE: a series or one-off event goes whole (any mode); an occurrence goes alone (``single``:
    an EXDATE), with every later one (``future``: the rule ends before it), or with its series (``all``)."""
    if mode not in DELETE_MODES:
        raise InvalidInput.about([Problem(("mode",), f"must be one of {', '.join(DELETE_MODES)}", "invalid")])
    loaded = _load_for_write(session, owner_id, calendar_id, event_ref, if_match)
    key = loaded.ref.key
    whole = key is None or mode == "all"
    if key is not None and mode == "single":
        ev.cancel_occurrence(loaded.parsed, key, loaded.zone, now)
    elif key is not None and mode == "future":
        whole = not ev.end_series_before(loaded.parsed, key, loaded.zone, now)
    if whole:
        calendar_edits.delete_from_client(
            session, settings, loaded.calendar, loaded.obj.href, Preconditions(if_match=loaded.obj.etag), now
        )
        return
    _store(session, settings, loaded, now)


def respond(
    session: Session,
    settings: Settings,
    owner_id: str,
    calendar_id: str,
    event_ref: str,
    response: str,
    now: datetime,
) -> EventView:
    """Set the calendar owner's answer (PARTSTAT) to an invitation, on the event or one occurrence."""
    if response not in ev.RESPONSES:
        message = f"must be one of {', '.join(ev.RESPONSES)}"
        raise InvalidInput.about([Problem(("response",), message, "invalid")])
    loaded = _load_for_write(session, owner_id, calendar_id, event_ref, None)
    owner = accounts.get_user(session, owner_id)
    addresses = [accounts.inbound_address(loaded.calendar, settings.mail_domain)]
    if owner is not None:
        addresses.insert(0, owner.email)
    try:
        ev.set_partstat(loaded.parsed, loaded.ref.key, addresses, response, loaded.zone, now)
    except ev.NotInvited as exc:
        raise Conflict(
            f"You are not invited to this event: none of its attendees is {' or '.join(addresses)}."
        ) from exc
    view = _stored_view(session, settings, loaded, now)
    resource = webhook_events.event_resource(view.calendar_id, view.id)
    webhook_events.emit(session, owner_id, "event.responded", resource, now)
    if owner is not None:  # the organizer learns the answer by iMIP REPLY (none when the owner organizes)
        text = ev.to_text(loaded.parsed)
        mail_out.queue_reply(session, settings, owner, text, loaded.ref.key, addresses, loaded.zone, now)
    return view


# --- the plain-text view -----------------------------------------------------------------------


TITLE_WIDTH = 30


def view_text(session: Session, owner_id: str, calendar_id: str, limit: int, now: datetime) -> str:
    """The next ``limit`` occurrences as a plain-text table, times in the calendar's zone."""
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    zone = calendar_zone(session, calendar)
    found, _ = upcoming(session, owner_id, calendar_id, limit, now)
    rows = [("TITLE", "START", "END", "STATUS")]
    for view in found:
        data = view.data
        rows.append((_cut(data.title), _local(data.start, zone), _local(_shown_end(data), zone), data.status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    rule = "-" * max(len(line) for line in [*lines, ""]) if lines else ""
    name = calendar.display_name or calendar.slug or calendar.public_id
    header = f"{name} ({calendar.public_id})  tz: {zone.key}"
    body = [header, rule, lines[0], rule, *lines[1:], rule, f"{len(found)} event(s)"]
    return "\n".join(body) + "\n"


def _cut(title: str) -> str:
    flat = " ".join(title.split())
    return flat if len(flat) <= TITLE_WIDTH else flat[: TITLE_WIDTH - 1] + "…"


def _shown_end(data: EventData) -> ev.When:
    return data.end - timedelta(days=1) if data.all_day else data.end  # inclusive, as the API shows it


def _local(value: ev.When, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def iso_duration(delta: timedelta) -> str:
    """``PT14M30S``, ``P2DT3H``, ``PT0S``: an ISO 8601 duration in whole seconds."""
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock_part = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{clock_part}" if clock_part else "")
    return text if text != "P" else "PT0S"
