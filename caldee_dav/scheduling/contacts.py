"""A user's contacts: everyone who booked one of their event types or left their details as a lead,
merged by email address, case-insensitively (``Ada@X.com`` and ``ada@x.com`` are one person).

The merge is SQL: a GROUP BY of the lower-cased email over a UNION ALL of the user's bookings (as
their owner) and leads. Grouping 100,000 bookings on every request took about half a second, so the
database keeps the groups: ``contact_summaries`` (``models.ContactSummary``), one row per user and
email key, recomputed by triggers (migration 0009) whenever a booking or lead of that person is
inserted, changed or deleted, cascades included, in the same transaction. A page is then a range of
``ix_contact_owner_activity`` and the total a count of the user's rows in it: two queries.

What the fields mean (docs/api.md, "Contacts"):

* ``kind``: ``client`` once they have any booking (even canceled: they did book), else ``lead``.
* ``meetings``: bookings that are not canceled, that is active or pending (awaiting the host's
  confirmation; a declined booking is canceled). A no-show stays a meeting and counts in ``no_shows``.
* ``status``: ``client`` for clients; for leads the status of their lead changed most recently.
* ``email``, ``name``: the spelling of their most recently changed booking or lead; the most recent
  name given.
* ``last_activity_at`` / ``first_seen_at``: the latest change / earliest creation of their bookings
  and leads.
* Order: most recent activity first, ties by lower-cased email, descending (a total order: pages never
  repeat or skip a contact while nothing changes; both descending, a page is a backward range of
  ``ix_contact_owner_activity``, where a mixed order sorted 10,000 rows for a page at offset 10,000).
* ``q`` matches the email or the name shown, as a case-insensitive substring;
  ``%`` and ``_`` match themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from caldee_dav.errors import InvalidInput, Problem
from caldee_dav.models import ContactSummary
from caldee_dav.store.collections import escape_like

Kind = Literal["client", "lead"]
KINDS: tuple[Kind, ...] = ("client", "lead")
CLIENT_STATUS = "client"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Longest search text: longer than any name (200) or email (320) column could hold a match for.
MAX_QUERY_LENGTH = 320


@dataclass(frozen=True)
class Contact:
    email: str
    name: str | None
    kind: Kind
    status: str
    meetings: int
    no_shows: int
    last_activity_at: datetime
    first_seen_at: datetime


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    total: int
    next_offset: int | None


def _filters(owner_id: str, kind: Kind | None, q: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [ContactSummary.owner_id == owner_id]
    if kind == "client":
        conditions.append(ContactSummary.bookings > 0)
    elif kind == "lead":
        conditions.append(ContactSummary.bookings == 0)
    if q:
        pattern = "%" + escape_like(q.lower()) + "%"
        conditions.append(
            ContactSummary.email_key.like(pattern, escape="\\")
            | ContactSummary.name_key.like(pattern, escape="\\")
        )
    return conditions


def check_page(offset: int, limit: int) -> None:
    """400 naming the parameter for an offset below 0 or a limit outside 1..MAX_LIMIT."""
    problems = []
    if offset < 0:
        problems.append(Problem(("offset",), "must be 0 or more", "invalid_offset"))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(Problem(("limit",), f"must be between 1 and {MAX_LIMIT}", "invalid_limit"))
    if problems:
        raise InvalidInput.about(problems)


def list_contacts(
    session: Session,
    owner_id: str,
    *,
    kind: Kind | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> ContactPage:
    """One page of the owner's contacts, most recent activity first, with the total after filters."""
    check_page(offset, limit)
    if kind is not None and kind not in KINDS:
        raise InvalidInput.about([Problem(("kind",), "must be client or lead", "invalid_kind")])
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise InvalidInput.about(
            [Problem(("q",), f"must be at most {MAX_QUERY_LENGTH} characters", "too_long")]
        )
    conditions = _filters(owner_id, kind, q)
    page = (
        select(ContactSummary)
        .where(*conditions)
        .order_by(ContactSummary.last_activity_at.desc(), ContactSummary.email_key.desc())
        .offset(offset)
        .limit(limit)
    )
    contacts = [_contact(row) for row in session.scalars(page)]
    total = session.scalar(select(func.count()).select_from(ContactSummary).where(*conditions)) or 0
    end = offset + len(contacts)
    return ContactPage(contacts, total, end if contacts and end < total else None)


def _contact(row: ContactSummary) -> Contact:
    client = row.bookings > 0
    return Contact(
        email=row.email,
        name=row.name,
        kind="client" if client else "lead",
        status=CLIENT_STATUS if client else (row.lead_status or "new"),
        meetings=row.meetings,
        no_shows=row.no_shows,
        last_activity_at=row.last_activity_at,
        first_seen_at=row.first_seen_at,
    )
