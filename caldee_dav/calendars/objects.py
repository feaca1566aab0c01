"""The one write path for calendar objects.

Whoever writes (a CalDAV client through Radicale or the fast path, a booking; later REST events and
inbound mail), an object is parsed, checked (UID, one UID per object, the calendar's component set,
size), indexed with one horizon policy, checked against the caller's preconditions (If-Match /
If-None-Match) and stored with its occurrences and change record here, in the caller's transaction.
``caldee_dav.store.writes`` is imported by this module alone (an import-linter contract).

Preparing (parse, index) needs no lock, so callers do it before they open their write unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import icalendar
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.config import Settings
from caldee_dav.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from caldee_dav.models import CalendarObject, Collection
from caldee_dav.store import writes

# Stored among a calendar's properties under the name clients give it at creation (RFC 4791 5.2.3).
SUPPORTED_COMPONENTS = "C:supported-calendar-component-set"
# Radicale refuses items over 80% of the request limit (its max_resource_size); so does every path here.
ITEM_SHARE_OF_REQUEST_LIMIT = 0.8


class ComponentNotAccepted(InvalidInput):
    """The calendar's supported-calendar-component-set does not name the object's component."""

    def __init__(self, collection_path: str, component: str) -> None:
        super().__init__(f"the calendar {collection_path!r} does not hold {component} objects")
        self.collection_path, self.component = collection_path, component


class UidConflict(Conflict):
    """Another object of the calendar has this UID (RFC 4791 5.3.2.1 no-uid-conflict)."""

    def __init__(self, uid: str, existing_href: str) -> None:
        super().__init__(f"UID {uid!r} is already used by {existing_href!r}")
        self.uid, self.existing_href = uid, existing_href


class ObjectTooLarge(InvalidInput):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the calendar object is {size} bytes; the limit is {limit}")
        self.size, self.limit = size, limit


class TooManyComponents(InvalidInput):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"the calendar object holds {count} components; the limit is {limit}")
        self.count, self.limit = count, limit


class UnsafeHref(InvalidInput):
    def __init__(self, href: str) -> None:
        super().__init__(f"unsafe item name {href!r}")
        self.href = href


@dataclass(frozen=True)
class WriteLimits:
    """The one indexing policy: instances up to ``horizon_days`` from now, at most ``max_instances``
    per object; objects up to ``max_size`` bytes and ``max_components`` components; recurrence rules
    promising at most ``series_limit`` instances, indexed within ``time_limit`` seconds."""

    horizon_days: int
    max_instances: int
    max_size: int
    max_components: int = 1000
    series_limit: int = 100_000
    time_limit: float | None = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WriteLimits:
        return cls(
            horizon_days=settings.occurrence_horizon_days,
            max_instances=settings.max_occurrences_per_object,
            max_size=int(settings.max_resource_size * ITEM_SHARE_OF_REQUEST_LIMIT),
            max_components=settings.max_components_per_object,
            series_limit=settings.max_instances_per_series,
            time_limit=settings.expansion_time_limit,
        )

    def horizon_end(self, now: datetime) -> int:
        return int((now + timedelta(days=self.horizon_days)).timestamp())


@dataclass(frozen=True)
class Preconditions:
    """HTTP-style conditions on the object already at the href (RFC 7232)."""

    if_match: str | None = None  # an ETag, or "*": the object must exist
    if_none_match: bool = False  # "*": the object must not exist

    def check(self, href: str, existing_etag: str | None) -> None:
        if self.if_none_match and existing_etag is not None:
            raise PreconditionFailed(href, None, existing_etag)
        if self.if_match and (existing_etag is None or self.if_match not in ("*", existing_etag)):
            raise PreconditionFailed(href, self.if_match, existing_etag)


NO_PRECONDITIONS = Preconditions()


@dataclass(frozen=True)
class PreparedObject:
    """A checked object ready to store: its text, ETag and index."""

    text: str
    etag: str
    index: ical.ObjectIndex

    @property
    def uid(self) -> str:
        return self.index.uid


@dataclass(frozen=True)
class WriteResult:
    obj: CalendarObject  # as written, detached
    created: bool  # False: an object at the href was replaced


def prepare_object(text: str, limits: WriteLimits, now: datetime) -> PreparedObject:
    """Parse, check and index iCalendar text; InvalidCalendarData or ObjectTooLarge says why not."""
    return prepare_parsed(text, ical.parse_calendar(text), limits, now)


def prepare_parsed(
    text: str, calendar: icalendar.Calendar, limits: WriteLimits, now: datetime
) -> PreparedObject:
    """``prepare_object`` for a caller that has parsed ``text`` already (the fast PUT inspects it
    first): the body is parsed once."""
    text = ical.with_crlf_line_endings(text)
    _check_size(text, limits)
    if "\x00" in text:  # no iCalendar value holds one, and PostgreSQL text cannot
        raise ical.InvalidCalendarData("the calendar data contains a NUL character")
    return PreparedObject(text, ical.etag_of(text), _index(calendar, limits, now))


def _index(calendar: icalendar.Calendar, limits: WriteLimits, now: datetime) -> ical.ObjectIndex:
    """The object's index under the one policy: TooManyComponents, or ical's errors, say why not."""
    components = len(ical.main_components(calendar))
    if components > limits.max_components:
        raise TooManyComponents(components, limits.max_components)
    return ical.index_object(
        calendar,
        horizon_end=limits.horizon_end(now),
        max_instances=limits.max_instances,
        series_limit=limits.series_limit,
        time_limit=limits.time_limit,
    )


def check_upload(text: str, limits: WriteLimits, now: datetime) -> None:
    """Refuse, before anyone parses it further or takes a lock, an upload (one object, or a whole
    calendar) holding an object with too many components or a recurrence this server does not store:
    TooManyComponents or ical.UnacceptableRecurrence. Text that is not iCalendar passes: whoever
    handles it next reports that."""
    try:
        calendar = ical.parse_calendar(text)
    except ical.InvalidCalendarData:
        return
    for part in ical.split_by_uid(calendar):
        try:
            _index(part, limits, now)
        except ical.UnacceptableRecurrence:
            raise
        except ical.InvalidCalendarData:
            continue  # another problem (no UID, a DTEND of the wrong type): Radicale reports it


def prepare_checked_item(
    text: str, *, uid: str, component: str, is_calendar: bool, limits: WriteLimits, now: datetime
) -> PreparedObject:
    """``prepare_object`` for an item Radicale has already parsed and checked with vobject: a vCard, or
    iCalendar that vobject reads and icalendar cannot, is stored unindexed (Radicale filters it)."""
    try:
        calendar = ical.parse_calendar(text) if is_calendar else None
    except ical.InvalidCalendarData:
        calendar = None
    if calendar is not None:
        return prepare_parsed(text, calendar, limits, now)
    _check_size(text, limits)
    return PreparedObject(text, ical.etag_of(text), ical.ObjectIndex(uid=uid, component=component))


def _check_size(text: str, limits: WriteLimits) -> None:
    size = len(text.encode())
    if size > limits.max_size:
        raise ObjectTooLarge(size, limits.max_size)


def accepts_component(collection: Collection, component: str) -> bool:
    """Whether a calendar takes an object of ``component`` (RFC 4791 5.3.2.1): any kind, unless the
    supported-calendar-component-set a client gave it at creation names fewer (a task list)."""
    allowed = (collection.props or {}).get(SUPPORTED_COMPONENTS)
    if not allowed or collection.tag != "VCALENDAR" or not component:
        return True
    return component.upper() in {name.strip().upper() for name in str(allowed).split(",")}


def check_href(href: str) -> None:
    if not href or "/" in href or href in (".", ".."):
        raise UnsafeHref(href)


def has_uid(session: Session, collection: Collection, uid: str) -> bool:
    """Whether the calendar holds an object with ``uid``, with the calendar locked until the caller's
    transaction ends, so that two uploads of one new UID cannot both see "no". (A row lock, not a
    revision bump: a check that ends in a refusal must not change the sync token.)"""
    store.lock_collection(session, collection.id)
    return store.object_by_uid(session, collection.id, uid) is not None


def put_object(
    session: Session,
    collection: Collection,
    href: str,
    prepared: PreparedObject,
    preconditions: Preconditions = NO_PRECONDITIONS,
) -> WriteResult:
    """Create or replace the object at ``href`` in the caller's transaction.

    Takes the calendar's lock first (its revision bump; a no-op for a caller that already holds it
    through ``store.lock_collection_for_write``), then checks the component set, the preconditions and
    the UID: one object per UID in a calendar, and a replacement keeps the UID of what it replaces.
    """
    check_href(href)
    if not accepts_component(collection, prepared.index.component):
        raise ComponentNotAccepted(collection.path, prepared.index.component)
    store.bump_revision(session, collection)
    existing, other = store.objects_at_href_or_uid(session, collection.id, href, prepared.uid)
    preconditions.check(href, existing.etag if existing is not None else None)
    if existing is not None and existing.uid != prepared.uid:
        raise UidConflict(existing.uid, href)
    if existing is None and other is not None:
        raise UidConflict(prepared.uid, other.href)
    obj = writes.write_object(
        session,
        collection,
        href,
        existing.id if existing is not None else None,
        prepared.text,
        prepared.etag,
        prepared.index,
    )
    return WriteResult(obj, created=existing is None)


def delete_object(
    session: Session, collection: Collection, href: str, preconditions: Preconditions = NO_PRECONDITIONS
) -> None:
    store.bump_revision(session, collection)
    existing = store.get_object(session, collection.id, href)
    if existing is None:
        raise NotFound(f"{collection.path}/{href} does not exist")
    preconditions.check(href, existing.etag)
    writes.delete_object(session, collection, existing.id, href)
    session.expunge(existing)


def move_object(
    session: Session, source: Collection, href: str, target: Collection, target_href: str
) -> CalendarObject:
    """Move (or rename) an object, keeping its text and index; both calendars record the change."""
    check_href(target_href)
    obj = store.get_object(session, source.id, href)
    if obj is None:
        raise NotFound(f"{source.path}/{href} does not exist")
    if not accepts_component(target, obj.component):
        raise ComponentNotAccepted(target.path, obj.component)
    return writes.move_object(session, source, obj, target, target_href)


def delete_calendar(session: Session, collection: Collection) -> None:
    """Delete a collection, its descendants and every object in them."""
    writes.delete_collection(session, collection)
