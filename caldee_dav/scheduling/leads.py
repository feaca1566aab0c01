"""Leads: people who gave their details on an event type's public page but may not have booked yet.

One lead per event type and email, compared lower-cased (``Lead.email_key``). A public form sends its
answers so far as often as it likes: the first submission creates the lead, later ones update it
(name, time zone, answers merged by question). The host moves a lead through a pipeline
(``new`` -> ``contacted`` -> ``qualified`` / ``lost``).

Conversion: when that email books that event type (public or authenticated, ``record_booking`` in the
booking's transaction), the lead gets the booking's id and ``completed_at``; a lead that has booked
stays booked (cancelling the booking does not undo it). A booking without a lead creates none.

Lists are newest first, ``(created_at, id)`` descending, paged by a keyset cursor (opaque: base64 of
JSON, tagged so that a cursor of another list is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.calendars.accounts import EMAIL_PATTERN
from caldee_dav.errors import InvalidInput, NotFound, Problem
from caldee_dav.models import Booking, EventType, Lead, User, new_id
from caldee_dav.scheduling import cursors, webhook_events
from caldee_dav.scheduling.answers import validate_answers
from caldee_dav.zones import zone_named

STATUSES = ("new", "contacted", "qualified", "lost")
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320
MAX_ID_LENGTH = 40  # the ids' column
CURSOR_TAG = "lead"
DEFAULT_LIMIT, MAX_LIMIT = 50, 100


@dataclass(frozen=True)
class LeadInput:
    """What a public form sends: the email (required) and whatever else the invitee gave so far."""

    email: str
    name: str | None = None
    timezone: str | None = None  # None: the host's on a new lead, unchanged on an existing one
    answers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class LeadView:
    """A lead with the event type it came from."""

    lead: Lead
    event_type: EventType

    @property
    def booked(self) -> bool:
        return self.lead.booking_id is not None


@dataclass(frozen=True)
class Captured:
    """The result of a public submission: the lead, whether it is new, and what this submission gave
    (checked). The public caller is answered with these alone: anyone may submit any email, so the
    earlier answers, the pipeline status and whether that person booked are the host's to see."""

    view: LeadView
    created: bool
    given_name: str | None
    given_timezone: str
    given_answers: list[dict[str, Any]]


# --- capture (public) ---------------------------------------------------------------------------


def input_problems(given: LeadInput) -> list[Problem]:
    """What is wrong with the submission's own fields, each naming its field."""
    problems = []
    email = given.email.strip()
    if not EMAIL_PATTERN.match(email):
        problems.append(Problem(("email",), f"{given.email!r} is not an email address", "invalid_email"))
    # Lower-casing can lengthen a few characters; the stored key must fit its column.
    elif len(email) > MAX_EMAIL_LENGTH or len(email.lower()) > MAX_EMAIL_LENGTH:
        message = f"must be at most {MAX_EMAIL_LENGTH} characters"
        problems.append(Problem(("email",), message, "too_long"))
    if given.name is not None and len(given.name.strip()) > MAX_NAME_LENGTH:
        problems.append(Problem(("name",), f"must be at most {MAX_NAME_LENGTH} characters", "too_long"))
    if given.timezone is not None and zone_named(given.timezone) is None:
        message = f"unknown time zone {given.timezone!r}; use an IANA name such as Europe/Paris"
        problems.append(Problem(("timezone",), message, "invalid_time_zone"))
    return problems


def capture_lead(
    session: Session, event_type: EventType, host: User, given: LeadInput, now: datetime
) -> Captured:
    """Create the lead of ``given.email`` on ``event_type``, or update it: name and time zone when
    given, answers merged by question (a later answer to a question replaces the earlier one)."""
    problems = input_problems(given)
    if problems:
        raise InvalidInput.about(problems)
    answers = validate_answers(event_type, given.answers, require_all=False)
    email = given.email.strip()
    name = given.name.strip() if given.name and given.name.strip() else None
    timezone = given.timezone or host.timezone
    created = _insert_if_new(session, event_type, email, name, timezone, answers, now)
    lead = _locked_lead(session, event_type.id, email.lower())
    if created:
        webhook_events.emit(session, lead.owner_id, "lead.created", (webhook_events.LEAD, lead.id), now)
    if not created:
        lead.email = email
        lead.name = name or lead.name
        lead.timezone = given.timezone or lead.timezone
        lead.answers = _merged(lead.answers or [], answers)
        lead.updated_at = now
        session.flush()
    return Captured(LeadView(lead, event_type), created, name, timezone, answers)


def _insert_if_new(
    session: Session,
    event_type: EventType,
    email: str,
    name: str | None,
    timezone: str,
    answers: list[dict[str, Any]],
    now: datetime,
) -> bool:
    """Insert the lead unless one exists for this event type and email; whether it was inserted.

    ON CONFLICT DO NOTHING rather than look-then-insert: two first submissions racing (PostgreSQL) then
    make one lead, the second waiting for the first to commit and updating it, instead of a 500."""
    insert = postgresql.insert if db.on_postgresql(session) else sqlite.insert
    statement = (
        insert(Lead)
        .values(
            id=new_id("lead"),
            owner_id=event_type.user_id,
            event_type_id=event_type.id,
            name=name,
            email=email,
            email_key=email.lower(),
            timezone=timezone,
            answers=answers,
            status=STATUSES[0],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_type_id", "email_key"])
    )
    return session.execute(statement.returning(Lead.id)).first() is not None


def _locked_lead(session: Session, event_type_id: str, email_key: str) -> Lead:
    query = select(Lead).where(Lead.event_type_id == event_type_id, Lead.email_key == email_key)
    return session.scalars(query.with_for_update().execution_options(populate_existing=True)).one()


def _merged(earlier: list[Any], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier answers in their order with the given ones replacing theirs, then the new ones."""
    by_question = {str(a.get("questionId")): a for a in earlier if isinstance(a, dict)}
    by_question.update({a["questionId"]: a for a in given})
    return list(by_question.values())


# --- conversion (bookings) ----------------------------------------------------------------------


def record_booking(session: Session, booking: Booking, now: datetime) -> None:
    """Mark the lead of the booking's invitee on its event type as booked, in the booking's transaction.

    The lead points at its latest booking; ``completed_at`` stays the time it first booked."""
    lead = session.scalars(
        select(Lead).where(
            Lead.event_type_id == booking.event_type_id, Lead.email_key == booking.invitee_email.lower()
        )
    ).first()
    if lead is None:
        return
    lead.booking_id = booking.id
    lead.completed_at = lead.completed_at or now
    lead.updated_at = now
    session.flush()


# --- the host's side ----------------------------------------------------------------------------


def _lead_cursor(lead: Lead) -> str:
    return cursors.encode_cursor(lead.created_at, lead.id, tag=CURSOR_TAG)


def _could_be_id(value: object) -> bool:
    """Whether ``value`` may be a lead's id; if not, no query is made (PostgreSQL refuses a NUL: a 500)."""
    return isinstance(value, str) and "\x00" not in value and len(value) <= MAX_ID_LENGTH


def _check_status(status: str) -> None:
    if status not in STATUSES:
        message = f"must be one of {', '.join(STATUSES)}"
        raise InvalidInput.about([Problem(("status",), message, "invalid_status")])


def _after(cursor: str) -> ColumnElement[bool]:
    created, lead_id = cursors.decode_cursor(cursor, tag=CURSOR_TAG, given_by="the leads list")
    return or_(Lead.created_at < created, and_(Lead.created_at == created, Lead.id < lead_id))


def list_leads(
    session: Session,
    owner_id: str,
    *,
    status: str | None = None,
    booked: bool | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[LeadView], str | None]:
    """One page of the owner's leads, newest first, and the next page's cursor (None on the last)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.about([Problem(("limit",), f"must be 1 to {MAX_LIMIT}", "out_of_range")])
    query = select(Lead, EventType).join(EventType, EventType.id == Lead.event_type_id)
    query = query.where(Lead.owner_id == owner_id)
    if status is not None:
        _check_status(status)
        query = query.where(Lead.status == status)
    if booked is not None:
        query = query.where(Lead.booking_id.is_not(None) if booked else Lead.booking_id.is_(None))
    if cursor:
        query = query.where(_after(cursor))
    rows = session.execute(query.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit + 1)).all()
    views = [LeadView(lead, event_type) for lead, event_type in rows]
    if len(views) > limit:
        return views[:limit], _lead_cursor(views[limit - 1].lead)
    return views, None


def _require_lead(session: Session, owner_id: str, lead_id: str, *, lock: bool = False) -> LeadView:
    """The owner's lead; anyone else's is as unknown as a made-up id."""
    if not _could_be_id(lead_id):
        raise NotFound(f"No lead {lead_id[:MAX_ID_LENGTH]!r}.")
    query = (
        select(Lead, EventType)
        .join(EventType, EventType.id == Lead.event_type_id)
        .where(Lead.id == lead_id, Lead.owner_id == owner_id)
    )
    row = session.execute(query.with_for_update(of=Lead) if lock else query).first()
    if row is None:
        raise NotFound(f"No lead {lead_id!r}.")
    return LeadView(row[0], row[1])


def get_lead(session: Session, owner_id: str, lead_id: str) -> LeadView:
    return _require_lead(session, owner_id, lead_id)


def set_status(session: Session, owner_id: str, lead_id: str, status: str, now: datetime) -> LeadView:
    """Move the lead in the pipeline (any status to any other: a lost lead may come back)."""
    _check_status(status)
    view = _require_lead(session, owner_id, lead_id, lock=True)
    if view.lead.status != status:
        view.lead.status, view.lead.updated_at = status, now
        session.flush()
    return view
