"""Invitations mailed to a calendar (iMIP, RFC 6047), applied to it and logged: the domain behind the
inbound SMTP server and ``POST /inbound/{token}``.

The edge (``inbound/``) reads the mail: sender, Message-ID, the calendars it carries and their METHOD,
or why it is ignored (an auto-reply, our own outbound mail). Here each calendar's events are applied
with ``caldee_dav.ical.itip`` and written through ``calendar_edits.put_from_client``, the path every
client write takes, so the new or changed event shows over CalDAV, REST and the feeds at once, and a
booking's event edited by mail carries the change to its booking as a CalDAV edit would.

Trust. Mail's From can be forged; what a stranger can do is bounded:
* a change of an existing event (REQUEST, CANCEL) needs the sender to be its ORGANIZER, the calendar's
  owner, or one of the calendar's allowed senders (``inbound_allowed_senders``, when set);
* a REPLY changes only the answer of the attendee who is the sender;
* a new event needs the sender to be allowed to create (anyone while the list is unset);
* nothing by mail takes a booking's UID (``...@caledee``) in a calendar that does not hold it.

Every message is logged once per calendar (``InboundMessage``, keyed by Message-ID): a re-delivery
finds the first row and changes nothing. Each UID is applied in a savepoint, so one refused event
leaves no half-write and does not undo the others; the log row is written either way.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from caldee_dav import db, ical, store
from caldee_dav.calendars import accounts, objects
from caldee_dav.calendars.objects import Preconditions
from caldee_dav.config import Settings
from caldee_dav.errors import CaledeeError, InvalidInput, Problem
from caldee_dav.ical import itip
from caldee_dav.ical.parse import as_utc, parse_without_iana_zones
from caldee_dav.models import Booking, Collection, InboundMessage, event_id_for, new_id
from caldee_dav.scheduling import (
    booking_calendar,
    bookings,
    calendar_edits,
    calendar_events,
    cursors,
    webhook_events,
)

log = logging.getLogger(__name__)

SMTP, HTTP = "smtp", "http"
OUTCOMES = (itip.CREATED, itip.UPDATED, itip.CANCELLED, itip.REPLIED, itip.IGNORED, itip.REJECTED)
# Which outcome a message with several actions is listed under: the most consequential.
_RANK = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
MAX_ALLOWED_SENDERS = 100
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
CURSOR_TAG = "inbound"
# Sender and subject are kept for the log, not whole: a header may be any length.
MAX_LOGGED_TEXT = 998
INBOUND_HREF_PREFIX = "inbound-"
SENT_BY_PROPERTY = "X-CALEDEE-MAIL-FROM"
# A creation reads no zone (the event's own times are kept); apply_request takes one all the same.
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class CalendarText:
    """One calendar a message carries, and the iTIP method the edge read for it (None: none given)."""

    text: str
    method: str | None


@dataclass(frozen=True)
class ReceivedMail:
    """A message as the edge read it. ``ignored`` says why it is not applied at all (an auto-reply,
    our own mail, no calendar data, too complex to read); ``digest`` (SHA-256 of the raw message) keys
    the log when there is no Message-ID."""

    via: str
    digest: str
    message_id: str | None
    sender: str | None
    subject: str | None
    calendars: Sequence[CalendarText] = ()
    ignored: str | None = None


@dataclass(frozen=True)
class Action:
    uid: str | None
    recurrence_id: str | None
    outcome: str
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        """As logged: text that came in the mail made printable (no NUL reaches PostgreSQL)."""
        return {
            "uid": _clip(self.uid),
            "recurrenceId": _clip(self.recurrence_id),
            "outcome": self.outcome,
            "reason": _clip(self.reason, 1000),
        }


@dataclass(frozen=True)
class LoggedMessage:
    """A row of a calendar's inbound log; ``duplicate``: this delivery found it already logged."""

    row: InboundMessage
    calendar_public_id: str
    duplicate: bool = False


# --- which calendar --------------------------------------------------------------------------


def calendar_for_address(session: Session, address: str, mail_domain: str) -> Collection | None:
    """The calendar whose inbound address is ``address`` (``cal-<id>@<mail_domain>``, any case), as
    mail changes it: its events, never its own columns (a detached object, the lighter read)."""
    public_id = _public_id_of_address(address, mail_domain)
    if public_id is None:
        return None
    return store.calendar_for_writing_by_public_id(session, public_id)


def calendar_for_token(session: Session, token: str) -> Collection | None:
    """``calendar_for_address`` for the calendar whose inbound URL carries ``token``."""
    return store.calendar_for_writing_by_inbound_token(session, token) if _token_ok(token) else None


def calendar_head_for_address(session: Session, address: str, mail_domain: str) -> store.CalendarHead | None:
    """``calendar_for_address``'s calendar, as ``work_ahead`` needs it (a lighter read)."""
    public_id = _public_id_of_address(address, mail_domain)
    return store.calendar_head_by_public_id(session, public_id) if public_id is not None else None


def calendar_head_for_token(session: Session, token: str) -> store.CalendarHead | None:
    return store.calendar_head_by_inbound_token(session, token) if _token_ok(token) else None


def _public_id_of_address(address: str, mail_domain: str) -> str | None:
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower() != mail_domain.lower() or not local.lower().startswith("cal-"):
        return None
    hex_id = local[4:].lower()
    if not hex_id or len(hex_id) > 32 or not hex_id.isalnum():
        return None
    return f"cal_{hex_id}"


def _token_ok(token: str) -> bool:
    return bool(token) and len(token) <= 64 and token.isascii()


# --- receiving --------------------------------------------------------------------------------


def message_key(mail: ReceivedMail) -> str:
    if mail.message_id:
        return hashlib.sha256(mail.message_id.strip().encode("utf-8", "replace")).hexdigest()
    return mail.digest


def receive(
    session: Session,
    settings: Settings,
    calendar: Collection,
    mail: ReceivedMail,
    now: datetime,
    read: Sequence[ReadCalendar] | None = None,
) -> LoggedMessage:
    """Apply ``mail`` to ``calendar`` and log it, in the caller's transaction; a re-delivery of a
    logged message returns its row and changes nothing. ``read``: ``read_calendars(mail)``, when the
    caller read them before its transaction."""
    key = message_key(mail)
    logged: dict[str, Any] = {
        "id": new_id("inm"),
        "collection_id": calendar.id,
        "message_key": key,
        "message_id": _clip(mail.message_id),
        "received_at": now,
        "via": mail.via,
        "sender": _clip(mail.sender, 320),
        "subject": _clip(mail.subject),
        "method": None,
        "uids": [],
        "outcome": itip.IGNORED,
        "reason": None,
        "actions": [],
    }
    # PostgreSQL: the row first, so that a concurrent delivery of the same message waits on it (and
    # then finds it). SQLite: this transaction holds the database's one write lock, so no delivery
    # runs meanwhile: a lookup now, and the row written once, whole, when the message is applied.
    on_postgresql = db.on_postgresql(session)
    if not (_logged_first(session, logged) if on_postgresql else _not_logged(session, calendar.id, key)):
        return LoggedMessage(_logged_row(session, calendar.id, key), calendar.public_id, duplicate=True)
    read_any = mail.ignored is None and bool(mail.calendars)
    if mail.ignored is not None:
        actions = [Action(None, None, itip.IGNORED, mail.ignored)]
    elif not mail.calendars:
        actions = [Action(None, None, itip.IGNORED, "the message carries no calendar data")]
    else:
        actions = []
        for read_calendar in read_calendars(mail, settings, now) if read is None else read:
            actions.extend(_apply_calendar(session, settings, calendar, mail, read_calendar, now))
    result = {
        "method": next((p.method for p in mail.calendars if p.method), None) if read_any else None,
        "uids": list(dict.fromkeys(_clip(a.uid) for a in actions if a.uid)),
        "outcome": min((a.outcome for a in actions), key=_RANK.__getitem__),
        "reason": _clip("; ".join(a.reason for a in actions if a.reason), 4000) or None,
        "actions": [a.as_json() for a in actions],
    }
    if on_postgresql:
        session.connection().execute(_LOG_OUTCOME, {"row_id": logged["id"], **result})
    else:
        _LOG_WHOLE.run(session, logged | result)
    row = InboundMessage(**(logged | result))  # as logged (not in the session: read, never changed)
    if mail.ignored is None and mail.calendars and calendar.owner_id is not None:
        resource = (webhook_events.INBOUND_MESSAGE, row.id)
        webhook_events.emit(session, calendar.owner_id, "invite.received", resource, now)
    log.info(
        "inbound %s to %s from %s: %s (%s)",
        mail.message_id,
        calendar.public_id,
        mail.sender,
        row.outcome,
        row.reason,
    )
    return LoggedMessage(row, calendar.public_id)


def _logged_first(session: Session, row: dict[str, Any]) -> bool:
    """PostgreSQL: INSERT ... ON CONFLICT DO NOTHING: whether this delivery logged the message first
    (no savepoint needed to survive the duplicate, as a failed INSERT would need)."""
    return session.connection().execute(_LOG_FIRST, row).first() is not None


def _not_logged(session: Session, collection_id: int, key: str) -> bool:
    return _LOGGED.first(session, {"collection_id": collection_id, "message_key": key}) is None


# Built once (their columns come from the parameters): these run for every message.
_LOG_FIRST = (
    postgresql.insert(InboundMessage)
    .on_conflict_do_nothing(index_elements=["collection_id", "message_key"])
    .returning(InboundMessage.id)
)
# The row's outcome, once the message is applied: the columns set are the parameters' (method, uids,
# outcome, reason, actions), typed by their columns.
_LOG_OUTCOME = InboundMessage.__table__.update().where(InboundMessage.__table__.c.id == bindparam("row_id"))
_LOG_WHOLE = db.PlainStatement(
    InboundMessage.__table__.insert().values(
        {column.name: bindparam(column.name) for column in InboundMessage.__table__.c}
    )
)
_LOGGED = db.PlainStatement(
    select(InboundMessage.id).where(
        InboundMessage.collection_id == bindparam("collection_id"),
        InboundMessage.message_key == bindparam("message_key"),
    )
)


def _logged_row(session: Session, collection_id: int, key: str) -> InboundMessage:
    query = select(InboundMessage).where(
        InboundMessage.collection_id == collection_id, InboundMessage.message_key == key
    )
    return session.scalars(query).one()


@dataclass(frozen=True)
class ReadCalendar:
    """One calendar of a message, parsed and its time zones normalised: the work that needs no
    transaction, done before one opens. ``problem``: why none of it is applied (not iCalendar, too
    many components, no event, a method that is not applied). ``ahead``: its events' changes worked
    out against one calendar (``work_ahead``)."""

    method: str
    events: tuple[itip.Incoming, ...] = ()
    problems: tuple[Action, ...] = ()
    ahead: Mapping[str, WorkedAhead] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkedAhead:
    """A REQUEST, PUBLISH or CANCEL of one event worked out before the write transaction, against the
    object the calendar held then (``etag``; None: none). The transaction takes it when it finds the
    same object and the same calendar zone, and works the change out again otherwise.

    On SQLite one writer at a time holds the database: a series update parsed, merged, written out
    and indexed here holds no other writer up meanwhile. ``organizers``: of the stored object, for the
    trust check (None: none stored). ``error``: why it cannot be stored (raised when it is applied)."""

    etag: str | None
    zone: ZoneInfo | None
    organizers: frozenset[str] | None
    applied: itip.Applied | None
    prepared: objects.PreparedObject | None = None
    error: Exception | None = None


AHEAD_METHODS = ("REQUEST", "PUBLISH", "CANCEL")


def read_calendars(mail: ReceivedMail, settings: Settings, now: datetime) -> list[ReadCalendar]:
    """The message's calendars, read (none when the message is not to be applied)."""
    if mail.ignored is not None:
        return []
    return [_read_calendar(part, settings.max_components_per_object) for part in mail.calendars]


def work_ahead(
    session: Session,
    settings: Settings,
    calendar: store.CalendarHead,
    mail: ReceivedMail,
    read: Sequence[ReadCalendar],
    now: datetime,
) -> list[ReadCalendar]:
    """``read`` with each event's change worked out against what ``calendar`` holds now (a read, in
    the caller's read-only unit, before its write transaction): built, written out and indexed."""
    uids = {e.uid for r in read if r.method in AHEAD_METHODS for e in r.events}
    if not uids:
        return list(read)
    stored = store.texts_by_uids(session, calendar.id, uids)
    limits = objects.WriteLimits.from_settings(settings)
    sender = (mail.sender or "").strip().lower()
    zone = calendar_events.zone_of_calendar(calendar.timezone, calendar.owner_timezone)
    worked = []
    for r in read:
        if r.method not in AHEAD_METHODS:
            worked.append(r)
            continue
        ahead = {}
        for event in r.events:
            obj = stored.get(event.uid)
            in_zone = zone if obj is not None else None
            ahead[event.uid] = _worked_out(r.method, event, obj, in_zone, sender, limits, now)
        worked.append(replace(r, ahead=ahead))
    return worked


def _worked_out(
    method: str,
    incoming: itip.Incoming,
    stored: store.ObjectText | None,
    zone: ZoneInfo | None,
    sender: str,
    limits: objects.WriteLimits,
    now: datetime,
) -> WorkedAhead:
    """REQUEST, PUBLISH or CANCEL of ``incoming`` against ``stored`` (None: the calendar does not hold
    its UID), merged in ``zone`` (the calendar's; None for a creation, which reads no zone)."""
    etag = stored.etag if stored is not None else None
    # A stored event that cannot be read has no organizer anyone can match: only the owner and the
    # allowed senders get as far as its error.
    organizers = frozenset[str]() if stored is not None else None
    try:
        # The stored zones are zoneinfo's, known by name: not parsed, added again when it is written.
        existing = parse_without_iana_zones(stored.text) if stored is not None else None
        if existing is not None:
            organizers = frozenset(_organizers(existing))
        in_zone = zone or UTC_ZONE
        if method == "CANCEL":
            applied = itip.apply_cancel(existing, incoming, in_zone, now)
        else:
            applied = itip.apply_request(existing, incoming, in_zone, now)
        if applied.calendar is None:
            return WorkedAhead(etag, zone, organizers, applied)
        _remember_sender(applied.calendar, sender)
        prepared = _as_stored(applied.calendar, limits, now, was_stored=existing is not None)
        return WorkedAhead(etag, zone, organizers, applied, prepared)
    except (CaledeeError, ical.InvalidCalendarData, ValueError, LookupError) as exc:
        return WorkedAhead(etag, zone, organizers, None, error=exc)


def _read_calendar(part: CalendarText, max_components: int) -> ReadCalendar:
    method = (part.method or "PUBLISH").upper()
    try:
        parsed = ical.parse_calendar(itip.known_zones_by_name(part.text))
        count = len(ical.main_components(parsed))
        if count > max_components:
            reason = f"{count} components; the limit is {max_components}"
            return ReadCalendar(method, problems=(Action(None, None, itip.REJECTED, reason),))
        parsed = itip.normalise_time_zones(parsed)
    except ical.InvalidCalendarData as exc:
        return ReadCalendar(method, problems=(Action(None, None, itip.REJECTED, _reason(exc)),))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        reason = f"not valid iCalendar: {_reason(exc)}"
        return ReadCalendar(method, problems=(Action(None, None, itip.REJECTED, reason),))
    incoming = tuple(itip.incoming_events(parsed))
    if not incoming:
        return ReadCalendar(
            method, problems=(Action(None, None, itip.IGNORED, "the calendar holds no event"),)
        )
    if method not in itip.APPLIED_METHODS:
        ignored = tuple(Action(i.uid, None, itip.IGNORED, _not_applied(method, i)) for i in incoming)
        return ReadCalendar(method, problems=ignored)
    return ReadCalendar(method, incoming)


def _not_applied(method: str, incoming: itip.Incoming) -> str:
    """Why a message of ``method`` changes nothing; a COUNTER's proposal is kept in the log."""
    if method != "COUNTER":
        return f"METHOD:{method}: not applied"
    proposals = []
    for component in incoming.components:
        try:
            start = as_utc(component.decoded("DTSTART")).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (KeyError, ValueError, TypeError, OverflowError):
            start = "no valid DTSTART"
        comment = f" ({component['COMMENT']})" if "COMMENT" in component else ""
        proposals.append(f"start {start}{comment}")
    return f"METHOD:COUNTER: a proposal, recorded, not applied: {'; '.join(proposals)}"


def _apply_calendar(
    session: Session,
    settings: Settings,
    calendar: Collection,
    mail: ReceivedMail,
    read: ReadCalendar,
    now: datetime,
) -> list[Action]:
    if read.problems:
        return list(read.problems)
    return [
        _apply_event(session, settings, calendar, mail, read.method, event, read.ahead.get(event.uid), now)
        for event in read.events
    ]


def _apply_event(
    session: Session,
    settings: Settings,
    calendar: Collection,
    mail: ReceivedMail,
    method: str,
    incoming: itip.Incoming,
    ahead: WorkedAhead | None,
    now: datetime,
) -> Action:
    recurrence_ids = [str(c["RECURRENCE-ID"].to_ical().decode()) for c in incoming.occurrences]
    recurrence_id = ",".join(recurrence_ids) or None
    try:
        with session.begin_nested():
            applied = _apply(session, settings, calendar, mail, method, incoming, ahead, now)
    except (CaledeeError, ical.InvalidCalendarData, ValueError, LookupError) as exc:
        return Action(incoming.uid, recurrence_id, itip.REJECTED, _reason(exc))
    return Action(incoming.uid, recurrence_id, applied.outcome, applied.reason)


def _apply(
    session: Session,
    settings: Settings,
    calendar: Collection,
    mail: ReceivedMail,
    method: str,
    incoming: itip.Incoming,
    ahead: WorkedAhead | None,
    now: datetime,
) -> itip.Applied:
    sender = (mail.sender or "").strip().lower()
    stored = store.text_by_uid(session, calendar.id, incoming.uid)
    if method == "REPLY":
        return _apply_reply(session, settings, calendar, incoming, stored, sender, now)
    if ahead is None or not _still_current(session, calendar, stored, ahead):
        zone = _calendar_zone(session, calendar) if stored is not None else None
        limits = objects.WriteLimits.from_settings(settings)
        ahead = _worked_out(method, incoming, stored, zone, sender, limits, now)
    refusal = _refusal(session, calendar, sender, incoming, ahead.organizers)
    if refusal is not None:
        return itip.Applied(itip.REJECTED, refusal)
    if ahead.error is not None:
        raise ahead.error
    assert ahead.applied is not None
    if ahead.prepared is not None:
        _put(session, settings, calendar, stored, incoming.uid, ahead.prepared, now)
    return ahead.applied


def _still_current(
    session: Session, calendar: Collection, stored: store.ObjectText | None, ahead: WorkedAhead
) -> bool:
    """Whether ``ahead`` was worked out against the object the transaction finds (and, for a change
    of a stored event, in the zone the calendar has now)."""
    if stored is None:
        return ahead.etag is None
    return ahead.etag == stored.etag and ahead.zone == _calendar_zone(session, calendar)


def _calendar_zone(session: Session, calendar: Collection) -> ZoneInfo:
    """``calendar_events.calendar_zone`` as this transaction finds it: the calendar's and its owner's
    zone names read with one plain statement (loading the owner with the ORM cost more than the rest
    of an update's checks)."""
    head = store.calendar_head_by_id(session, calendar.id)
    if head is None:
        return calendar_events.zone_of_calendar(calendar.timezone, None)
    return calendar_events.zone_of_calendar(head.timezone, head.owner_timezone)


def _apply_reply(
    session: Session,
    settings: Settings,
    calendar: Collection,
    incoming: itip.Incoming,
    stored: store.ObjectText | None,
    sender: str,
    now: datetime,
) -> itip.Applied:
    existing = parse_without_iana_zones(stored.text) if stored is not None else None
    zone = _calendar_zone(session, calendar)
    applied = itip.apply_reply(existing, incoming, sender, zone, now)
    if applied.calendar is None:
        return applied
    if applied.answers and _record_booking_answers(session, settings, calendar, incoming.uid, applied, now):
        return applied
    limits = objects.WriteLimits.from_settings(settings)
    prepared = _as_stored(applied.calendar, limits, now, was_stored=True)
    _put(session, settings, calendar, stored, incoming.uid, prepared, now)
    if calendar.owner_id is not None:  # an attendee answered the owner's event
        resource = webhook_events.event_resource(calendar.public_id, event_id_for(incoming.uid))
        webhook_events.emit(session, calendar.owner_id, "event.responded", resource, now)
    return applied


def _refusal(
    session: Session,
    calendar: Collection,
    sender: str,
    incoming: itip.Incoming,
    organizers: frozenset[str] | None,
) -> str | None:
    """Why ``sender`` may not make this change (None: they may). ``organizers``: the stored event's
    (None: the calendar does not hold it)."""
    allowed = calendar.inbound_allowed_senders
    if not sender:
        return "the message has no sender address"
    if organizers is None:
        if booking_calendar.booking_id_of(incoming.uid) is not None:
            return f"UID {incoming.uid!r} is a booking's; mail cannot create it"
        if allowed is None or sender_matches(sender, allowed) or _is_owner(session, calendar, sender):
            return None
        return f"{sender} may not add events to this calendar (not among its allowed senders)"
    if (
        sender in organizers
        or (allowed is not None and sender_matches(sender, allowed))
        or _is_owner(session, calendar, sender)
    ):
        return None
    if not organizers:
        return f"the event has no organizer; {sender} may not change it"
    return f"{sender} is not the organizer ({', '.join(sorted(organizers))}) of this event"


def _is_owner(session: Session, calendar: Collection, sender: str) -> bool:
    owner = accounts.get_user(session, calendar.owner_id) if calendar.owner_id else None
    return owner is not None and owner.email.lower() == sender


def _organizers(calendar: icalendar.Calendar) -> set[str]:
    """Who speaks for the event: its ORGANIZERs, or, for an event that names none (a PUBLISH), the
    sender of the mail that added it (``SENT_BY_PROPERTY``)."""
    found = set()
    for component in ical.main_components(calendar):
        for name in ("ORGANIZER", SENT_BY_PROPERTY):
            if name in component:
                found.add(ical.events.email_of(component[name]).strip().lower())
    return found - {""}


def _remember_sender(calendar: icalendar.Calendar, sender: str) -> None:
    """An event without ORGANIZER keeps who mailed it in, so that only they may change it later."""
    components = [c for c in ical.main_components(calendar) if c.name == "VEVENT"]
    if sender and not any("ORGANIZER" in c for c in components):
        for component in components:
            component.pop(SENT_BY_PROPERTY, None)
            component.add(SENT_BY_PROPERTY, f"mailto:{sender}")


def sender_matches(sender: str, allowed: Sequence[Any]) -> bool:
    """Whether ``sender`` is one of ``allowed``: an address, or a domain (``example.com`` or
    ``@example.com``) that the address is at."""
    sender = sender.strip().lower()
    domain = sender.rpartition("@")[2]
    for entry in allowed:
        text = str(entry).strip().lower()
        if "@" in text.lstrip("@"):
            if sender == text:
                return True
        elif domain == text.lstrip("@"):
            return True
    return False


def _as_stored(
    parsed: icalendar.Calendar, limits: objects.WriteLimits, now: datetime, *, was_stored: bool
) -> objects.PreparedObject:
    """``parsed`` written out and indexed as it is: its components are the parser's (typed values,
    zones resolved), not parsed once more from the text they are written as. A stored event was read
    without its zoneinfo VTIMEZONEs (and a REPLY or CANCEL adds none): each TZID in use gets one again.
    A creation has its zones from the message."""
    if was_stored:
        ical.events.add_time_zones(parsed)
    return objects.prepare_parsed(ical.events.to_text(parsed), parsed, limits, now)


def _put(
    session: Session,
    settings: Settings,
    calendar: Collection,
    stored: store.ObjectText | None,
    uid: str,
    prepared: objects.PreparedObject,
    now: datetime,
) -> None:
    if stored is None:
        href = f"{INBOUND_HREF_PREFIX}{event_id_for(uid).removeprefix('ev_')}.ics"
        preconditions = Preconditions(if_none_match=True)
    else:
        href, preconditions = stored.href, Preconditions(if_match=stored.etag)
    calendar_edits.put_from_client(session, settings, calendar, href, prepared, preconditions, now)


def _record_booking_answers(
    session: Session, settings: Settings, calendar: Collection, uid: str, applied: itip.Applied, now: datetime
) -> bool:
    """A reply to a booking's event: the answers go on the booking (whose VEVENT is rebuilt from it in
    every host's calendar). False when ``uid`` is no active booking's held in ``calendar``."""
    booking_id = booking_calendar.booking_id_of(uid)
    if booking_id is None:
        return False
    booking = session.get(Booking, booking_id, with_for_update=True)
    if booking is None or booking.ical_uid != uid or booking.status in bookings.ENDED_STATUSES:
        return False
    if calendar.owner_id not in [str(h) for h in booking.host_ids or [booking.host_user_id]]:
        return False
    answers = dict(booking.attendee_partstats or {})
    answers.update({email: partstat for email, partstat in applied.answers})
    booking.attendee_partstats = answers
    booking.updated_at = now
    session.flush()
    booking_calendar.write_update(session, settings, booking, bookings.event_type_of(session, booking), now)
    return True


# --- the log ----------------------------------------------------------------------------------


def list_messages(
    session: Session,
    owner_id: str,
    calendar_id: str,
    *,
    outcome: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[LoggedMessage], str | None]:
    """One page of the calendar's inbound log, newest first, and the next page's cursor."""
    problems = []
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(Problem(("limit",), f"must be 1 to {MAX_LIMIT}", "out_of_range"))
    if outcome is not None and outcome not in OUTCOMES:
        problems.append(Problem(("outcome",), f"must be one of {', '.join(OUTCOMES)}", "invalid"))
    if problems:
        raise InvalidInput.about(problems)
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    query = select(InboundMessage).where(InboundMessage.collection_id == calendar.id)
    if outcome is not None:
        query = query.where(InboundMessage.outcome == outcome)
    if cursor:
        received, row_id = cursors.decode_cursor(cursor, tag=CURSOR_TAG, given_by="the inbound messages list")
        query = query.where(
            or_(
                InboundMessage.received_at < received,
                and_(InboundMessage.received_at == received, InboundMessage.id < row_id),
            )
        )
    query = query.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit + 1)
    rows = list(session.scalars(query))
    views = [LoggedMessage(r, calendar.public_id) for r in rows[:limit]]
    if len(rows) > limit:
        last = rows[limit - 1]
        return views, cursors.encode_cursor(last.received_at, last.id, tag=CURSOR_TAG)
    return views, None


def set_allowed_senders(calendar: Collection, senders: Sequence[str] | None) -> None:
    """Who may create events by mail (None: anyone). Entries are addresses or domains."""
    if senders is None:
        calendar.inbound_allowed_senders = None
        return
    problems = [
        Problem(("inbound_allowed_senders", index), "must be an address or a domain", "invalid")
        for index, entry in enumerate(senders)
        if not _sender_entry_ok(entry)
    ]
    if len(senders) > MAX_ALLOWED_SENDERS:
        problems.append(Problem(("inbound_allowed_senders",), f"at most {MAX_ALLOWED_SENDERS}", "too_long"))
    if problems:
        raise InvalidInput.about(problems)
    calendar.inbound_allowed_senders = list(dict.fromkeys(s.strip().lower() for s in senders))


def _sender_entry_ok(entry: object) -> bool:
    if not isinstance(entry, str):
        return False
    text = entry.strip().lower().lstrip("@")
    local, at, domain = text.rpartition("@")
    return (
        0 < len(text) <= 320
        and "." in domain
        and all(ch.isalnum() or ch in ".-_+'" for ch in local + domain)
        and (not at or bool(local))
    )


def _clip(text: str | None, limit: int = MAX_LOGGED_TEXT) -> str | None:
    if text is None:
        return None
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:limit]


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:500]
