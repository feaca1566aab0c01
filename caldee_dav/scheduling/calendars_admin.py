"""A user's calendars as a resource of their own: create, read, change, delete, and the secret tokens of
their feeds and inbound URL (``calendars.feed_tokens``).

Every calendar a user owns is one, whoever made it: this API, the CLI, or a CalDAV client's MKCALENDAR
(which makes no feed: ``has_feed`` stays false until the owner rotates the feed tokens). A calendar is
named by its REST id (``Collection.public_id``); anyone else's calendar is the same NotFound as no
calendar at all (``accounts.owned_calendar``).

This lives in scheduling, not in calendars, because deleting a calendar cancels the bookings whose
events it holds (``calendar_edits.delete_calendar_from_client``, as when a CalDAV client deletes it).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars import accounts, feed_tokens
from caldee_dav.calendars.feed_tokens import FeedTokens
from caldee_dav.config import Settings
from caldee_dav.errors import AlreadyExists, InvalidInput, Problem
from caldee_dav.models import Collection, User
from caldee_dav.scheduling import calendar_edits, inbound_mail
from caldee_dav.scheduling.editing import (
    UNSET,
    Problems,
    check_name,
    check_timezone,
    error_at,
    given_fields,
    lock_owner,
)

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_BYTES = 4096
# CSS hex colors as CalDAV clients store them (Apple writes #RRGGBBAA).
COLOR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?$")
# A slug made from the name that is taken gets -2, -3, ...: this many tries, then 409.
SLUG_ATTEMPTS = 50
MAX_SLUG_LENGTH = 63  # accounts.SLUG_PATTERN


@dataclass(frozen=True)
class CalendarChanges:
    """A create or update; UNSET fields keep their value (or take the default on create). ``slug`` is
    taken on create only: it is the calendar's CalDAV path. ``inbound_allowed_senders``: who may add
    events by mail (addresses or domains; None: anyone)."""

    name: Any = UNSET
    slug: Any = UNSET
    timezone: Any = UNSET
    color: Any = UNSET
    description: Any = UNSET
    inbound_allowed_senders: Any = UNSET


@dataclass(frozen=True)
class CalendarView:
    """A calendar, with its feed tokens when just made (shown once: only their hashes are kept)."""

    calendar: Collection
    new_feed_tokens: FeedTokens | None = None

    @property
    def has_feed(self) -> bool:
        return self.calendar.feed_token_hash is not None


# --- checks --------------------------------------------------------------------------------------


def field_problems(changes: CalendarChanges, creating: bool) -> list[Problem]:
    """Every problem with the values of ``changes`` (pure: no lookups), in the domain's field names."""
    problems = Problems()
    _checked_values(given_fields(changes), creating, problems)
    return problems.problems


def _checked_values(given: dict[str, Any], creating: bool, problems: Problems) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in given or creating:
        values["name"] = check_name(problems, ["name"], given.get("name"), MAX_NAME_LENGTH)
    slug = given.get("slug")
    if slug is not None:
        if not isinstance(slug, str) or not accounts.SLUG_PATTERN.match(slug):
            problems.add(["slug"], "must be 1-63 lowercase letters, digits and dashes", "invalid_slug")
        values["slug"] = slug
    if given.get("timezone") is not None or ("timezone" in given and not creating):
        values["timezone"] = check_timezone(problems, ["timezone"], given["timezone"])
    if "color" in given:
        color = given["color"]
        if color is not None and (not isinstance(color, str) or not COLOR_PATTERN.match(color)):
            problems.add(["color"], 'must be a hex color such as "#0069ff" or "#0069ffcc"', "invalid_color")
        values["color"] = color
    if "description" in given:
        text = given["description"]
        if text is not None and not isinstance(text, str):
            problems.add(["description"], "must be text or null", "invalid")
        elif text is not None and len(text.encode()) > MAX_DESCRIPTION_BYTES:
            problems.add(["description"], f"must be at most {MAX_DESCRIPTION_BYTES} bytes", "too_long")
        values["description"] = text or None
    if "inbound_allowed_senders" in given:
        senders = given["inbound_allowed_senders"]
        problems.problems.extend(_allowed_senders_problems(senders))
        values["inbound_allowed_senders"] = senders
    return values


def _allowed_senders_problems(senders: Any) -> list[Problem]:
    """What ``inbound_mail.set_allowed_senders`` would refuse in ``senders``: it checks them on a calendar
    no session holds, which is thrown away."""
    if senders is not None and not isinstance(senders, list):
        return [
            Problem(
                ("inbound_allowed_senders",), "must be a list of addresses or domains, or null", "invalid"
            )
        ]
    try:
        inbound_mail.set_allowed_senders(Collection(), senders)
    except InvalidInput as exc:
        return list(exc.problems)
    return []


def _values(changes: CalendarChanges, creating: bool) -> dict[str, Any]:
    problems = Problems()
    values = _checked_values(given_fields(changes), creating, problems)
    problems.raise_if_any()
    return values


# --- reads ---------------------------------------------------------------------------------------


def list_calendars(session: Session, owner_id: str) -> list[CalendarView]:
    return [CalendarView(calendar) for calendar in store.calendars_of_owner(session, owner_id)]


def get_calendar(session: Session, owner_id: str, calendar_id: str) -> CalendarView:
    return CalendarView(accounts.owned_calendar(session, owner_id, calendar_id))


# --- writes --------------------------------------------------------------------------------------


def create_calendar(session: Session, owner_id: str, changes: CalendarChanges) -> CalendarView:
    """A new calendar with its feed tokens (shown once, in the view). A slug made from the name that is
    taken gets a number; a slug asked for that is taken is a 409."""
    values = _values(changes, creating=True)
    # The owner's lock: two creates of one user queue on PostgreSQL, so they pick different slugs.
    owner = lock_owner(session, owner_id)
    slug = values.get("slug") or _free_slug(session, owner, values["name"])
    if store.get_collection(session, f"{owner.slug}/{slug}") is not None:
        raise _slug_taken(slug)
    try:
        with session.begin_nested():  # a CalDAV client taking the same path meanwhile: 409, not 500
            calendar = accounts.create_calendar(
                session,
                owner,
                name=values["name"],
                slug=slug,
                color=values.get("color"),
                timezone=values.get("timezone"),
                description=values.get("description"),
            )
            session.flush()
    except IntegrityError as exc:
        raise _slug_taken(slug) from exc
    if values.get("inbound_allowed_senders") is not None:
        inbound_mail.set_allowed_senders(calendar, values["inbound_allowed_senders"])
    tokens = feed_tokens.issue_calendar_feed_tokens(calendar)
    # Written now, as the other writers here do: the view shows the row as stored (its updatedAt), not
    # as it was before the commit's flush stamped it again.
    session.flush()
    return CalendarView(calendar, tokens)


def _free_slug(session: Session, owner: User, name: str) -> str:
    """The slug of ``name``, or with -2, -3 ... when taken (bounded)."""
    base = accounts.slugify(name)
    for number in range(1, SLUG_ATTEMPTS + 1):
        suffix = f"-{number}" if number > 1 else ""
        candidate = base[: MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
        if store.get_collection(session, f"{owner.slug}/{candidate}") is None:
            return candidate
    raise error_at(
        AlreadyExists,
        ["name"],
        f"the slugs {base!r} to {base}-{SLUG_ATTEMPTS} are taken; send a slug of your own",
        "slug_taken",
    )


def _slug_taken(slug: str) -> AlreadyExists:
    return error_at(AlreadyExists, ["slug"], f"you already have a calendar or folder {slug!r}", "slug_taken")


def update_calendar(
    session: Session, owner_id: str, calendar_id: str, changes: CalendarChanges
) -> CalendarView:
    """Change name, time zone, color, description (the calendar gets a new revision: sync token, ctag,
    so CalDAV clients see the new name), and who may add events by mail (not seen over CalDAV)."""
    values = _values(changes, creating=False)
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    senders_given = "inbound_allowed_senders" in values
    senders = values.pop("inbound_allowed_senders", None)
    if not values:  # nothing CalDAV clients see: no new revision, nothing for them to fetch again
        if senders_given:
            store.lock_collection(session, calendar.id)
            inbound_mail.set_allowed_senders(calendar, senders)
            session.flush()
        return CalendarView(calendar)
    # The calendar's lock first, then its fields as they are now: a client's PROPPATCH committed
    # meanwhile is kept rather than overwritten with what was read before.
    store.bump_revision(session, calendar)
    session.refresh(calendar)
    fields = store.collection_fields(calendar)
    renamed = {"name": "display_name", "color": "color", "description": "description"}
    fields = dataclasses.replace(fields, **{renamed[k]: v for k, v in values.items() if k in renamed})
    if "timezone" in values:
        calendar.timezone = values["timezone"]
    if senders_given:
        inbound_mail.set_allowed_senders(calendar, senders)
    store.set_collection_fields(session, calendar, fields)
    session.flush()
    return CalendarView(calendar)


def delete_calendar(
    session: Session, settings: Settings, owner_id: str, calendar_id: str, now: datetime
) -> None:
    """Delete the calendar and its events; the bookings whose events it holds are canceled, as when a
    CalDAV client deletes it."""
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    calendar_edits.delete_calendar_from_client(session, settings, calendar, now)


def rotate_feed_tokens(session: Session, owner_id: str, calendar_id: str) -> CalendarView:
    """New tokens for the calendar's full and busy-only feeds; the old ones stop working at commit."""
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    store.lock_collection(session, calendar.id)
    tokens = feed_tokens.issue_calendar_feed_tokens(calendar)
    session.flush()
    return CalendarView(calendar, tokens)


def rotate_inbound_token(session: Session, owner_id: str, calendar_id: str) -> CalendarView:
    """A new token for the calendar's inbound URL; the old URL stops working at commit."""
    calendar = accounts.owned_calendar(session, owner_id, calendar_id)
    store.lock_collection(session, calendar.id)
    feed_tokens.rotate_inbound_token(calendar)
    session.flush()
    return CalendarView(calendar)


def issue_bookings_feed_token(session: Session, user_id: str) -> str:
    """A new token for the user's feed of bookings (shown once), replacing any before it."""
    return feed_tokens.issue_bookings_feed_token(lock_owner(session, user_id))
