"""PUT of one plain event (or task) into a calendar: parsed once with icalendar and stored through the
write service (``caldee_dav.calendars.objects``) in one transaction.

Radicale's own PUT parses the body with vobject before our storage indexes it with icalendar again.
Here a body is parsed once. What Radicale rewrites or bounds on the way in (recurrence rules, whose
occurrence count it caps, and the EXDATE/RDATE/DURATION quirks of some clients) and every refusal
(invalid data, failed preconditions, UID conflicts, a component the calendar does not hold) still
goes through Radicale, so its answers keep their exact form.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from caldee_dav import clock, ical, store
from caldee_dav.calendars import objects
from caldee_dav.calendars.objects import Preconditions, PreparedObject, WriteLimits
from caldee_dav.config import Settings
from caldee_dav.dav.fast.answer import AnswerAfterRollback, DavAnswer, NotHandled
from caldee_dav.dav.fast.target import DavTarget
from caldee_dav.errors import CaledeeError
from caldee_dav.scheduling import calendar_edits

# Properties Radicale's check_and_sanitize_items rewrites or limits: such bodies take Radicale's path.
RADICALE_CHECKED = ("RRULE", "RDATE", "EXDATE", "EXRULE", "DURATION")


def preconditions_of(environ: dict) -> Preconditions:
    return Preconditions(environ.get("HTTP_IF_MATCH") or None, environ.get("HTTP_IF_NONE_MATCH", "") == "*")


def parse_put(body: bytes, limits: WriteLimits) -> PreparedObject:
    """The body as a checked, indexed object, computed before any lock is taken."""
    text = _plain_event_text(body)
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
        return objects.prepare_parsed(text, calendar, limits, clock.now())
    except CaledeeError as exc:
        raise NotHandled from exc
    except ical.InvalidCalendarData as exc:
        raise NotHandled from exc


def answer_put(
    session: Session,
    settings: Settings,
    target: DavTarget,
    prepared: PreparedObject,
    preconditions: Preconditions,
) -> DavAnswer:
    """Store the object in the caller's write unit; NotHandled (rolled back) leaves it to Radicale. An
    edit of a booking's event that the booking cannot follow is answered 403 with the reason
    (AnswerAfterRollback)."""
    if target.item is None:
        raise NotHandled
    # A booking's event: the booking and its hosts are locked before the calendar, as in every change
    # of a booking.
    calendar_edits.lock_booking(session, prepared.uid)
    # The calendar's row lock and revision come first, before anything is checked. (Radicale creates
    # no collection inside a calendar, so the item path names an item.)
    collection = store.lock_collection_for_write(session, target.collection_path)
    if collection is None or collection.tag != "VCALENDAR":
        raise NotHandled
    try:
        written = calendar_edits.put_from_client(
            session, settings, collection, target.item, prepared, preconditions, clock.now()
        )
    except calendar_edits.BookingEditRefused as exc:
        body = (exc.message + "\n").encode()
        raise AnswerAfterRollback(
            DavAnswer("403 Forbidden", body, [("Content-Type", "text/plain; charset=utf-8")])
        ) from exc
    except CaledeeError as exc:
        raise NotHandled from exc  # Radicale answers 400, 409 or 412 in its own words
    status = "201 Created" if written.created else "204 No Content"
    return DavAnswer(status, b"", [("ETag", prepared.etag)])


def _plain_event_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotHandled from exc
    if not text.strip():
        raise NotHandled
    return text
