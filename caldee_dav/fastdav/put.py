"""PUT of one plain event (or task) into a calendar: validated with icalendar, stored in one transaction.

Radicale's own PUT parses the body with vobject before we index it with icalendar again. Here a
body is parsed once. What Radicale rewrites or bounds on the way in (recurrence rules, whose
occurrence count it caps, and the EXDATE/RDATE/DURATION quirks of some clients) and every refusal
(invalid data, failed preconditions, UID conflicts) still goes through Radicale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.fastdav.answer import DavAnswer, NotHandled
from caldee_dav.fastdav.target import DavTarget

# Properties Radicale's check_and_sanitize_items rewrites or limits: such bodies take Radicale's path.
RADICALE_CHECKED = ("RRULE", "RDATE", "EXDATE", "EXRULE", "DURATION")


@dataclass(frozen=True)
class Preconditions:
    if_match: str  # "" when absent
    if_none_match: bool  # If-None-Match: *

    def hold_for(self, existing_etag: str | None) -> bool:
        if self.if_match and (existing_etag is None or self.if_match not in ("*", existing_etag)):
            return False
        return not (self.if_none_match and existing_etag is not None)


@dataclass(frozen=True)
class IndexLimits:
    horizon_seconds: int
    max_occurrences: int


def parse_put(body: bytes, limits: IndexLimits) -> tuple[str, ical.ObjectIndex]:
    """The body's text and index, computed before any lock is taken."""
    text = _plain_event_text(body)
    return text, _index(text, limits)


def answer_put(
    session: Session, target: DavTarget, text: str, index: ical.ObjectIndex, preconditions: Preconditions
) -> DavAnswer:
    """Store the object in the caller's write unit; NotHandled (rolled back) leaves it to Radicale."""
    if target.item is None:
        raise NotHandled
    # The calendar's row lock and revision come first, before anything is checked. (Radicale creates
    # no collection inside a calendar, so the item path names an item.)
    collection = store.lock_collection_for_write(session, target.collection_path)
    if collection is None or collection.tag != "VCALENDAR":
        raise NotHandled
    if not store.accepts_component(collection, index.component):
        raise NotHandled  # Radicale refuses it (our storage's upload)
    existing, other = store.objects_at_href_or_uid(session, collection.id, target.item, index.uid)
    if not preconditions.hold_for(existing.etag if existing is not None else None):
        raise NotHandled  # Radicale answers 412
    same_uid = existing.uid == index.uid if existing is not None else False
    if (existing is not None and not same_uid) or (existing is None and other is not None):
        raise NotHandled  # Radicale answers 409 no-uid-conflict
    etag = ical.etag_of(text)
    store.write_object(session, collection, target.item, existing.id if existing else None, text, etag, index)
    return DavAnswer("204 No Content" if same_uid else "201 Created", b"", [("ETag", etag)])


def _plain_event_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotHandled from exc
    if not text.strip():
        raise NotHandled
    return text


def _index(text: str, limits: IndexLimits) -> ical.ObjectIndex:
    try:
        calendar = ical.parse_calendar(text)
        if ical.parse_errors(calendar):
            # icalendar keeps what it cannot read as text; vobject, under Radicale, refuses most of
            # it. Radicale decides, so the fast path never stores what Radicale would refuse.
            raise NotHandled
        ical.validate_object(calendar)
        components = ical.main_components(calendar)
        if any(name in component for component in components for name in RADICALE_CHECKED):
            raise NotHandled
        horizon = int(time.time()) + limits.horizon_seconds
        return ical.index_object(calendar, horizon_end=horizon, max_instances=limits.max_occurrences)
    except ical.InvalidCalendarData as exc:
        raise NotHandled from exc
