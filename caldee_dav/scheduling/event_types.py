"""Event types: what invitees can book -- durations, buffers, limits, questions, location, calendars, hosts.

Stored as ``EventType`` rows. References are stored as ids (``schedule_id``, ``booking_collection_id``,
``busy_collection_ids``, ``host_ids``); callers name calendars by their REST id ("cal_...") or their path
"{user}/{calendar}" and hosts by slug or email, and ``describe_event_types`` turns the ids back into
names (calendars by path).

Hosts by consent: an event type without a team is hosted by its owner alone; a team's event type
(``team_id``) may name any accepted member of that team as a host, and its owners and admins manage it
like the creator (``user_id``) does. Nobody else can be made a host, so nobody else's calendars are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from caldee_dav import clock, store
from caldee_dav.calendars import accounts
from caldee_dav.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound
from caldee_dav.models import Booking, Collection, EventType, User
from caldee_dav.scheduling import teams
from caldee_dav.scheduling.editing import UNSET, Problems, error_at, given_fields, lock_owner
from caldee_dav.scheduling.event_type_fields import (
    BOOL_SETTINGS,
    DEFAULT_COLOR,
    DEFAULT_DURATIONS,
    INT_SETTINGS,
    TEAM_KINDS,
    calendar_path,
    check_fields,
    slug_from,
)
from caldee_dav.scheduling.schedules import get_schedule


@dataclass(frozen=True)
class EventTypeChanges:
    """What a create or update sends; UNSET fields keep their value (or take the default on create).

    Calendars are named by REST id ("cal_...") or path ("alice/work"), hosts by slug or email, questions
    and location are plain dicts in their stored form.
    """

    name: Any = UNSET
    slug: Any = UNSET
    kind: Any = UNSET
    description: Any = UNSET
    durations_min: Any = UNSET
    buffer_before_min: Any = UNSET
    buffer_after_min: Any = UNSET
    minimum_notice_min: Any = UNSET
    booking_window_days: Any = UNSET
    max_bookings_per_day: Any = UNSET
    slot_interval_min: Any = UNSET
    reminder_minutes: Any = UNSET
    color: Any = UNSET
    active: Any = UNSET
    secret: Any = UNSET
    requires_confirmation: Any = UNSET
    location: Any = UNSET
    questions: Any = UNSET
    schedule_id: Any = UNSET
    booking_calendar_id: Any = UNSET
    busy_calendar_ids: Any = UNSET
    hosts: Any = UNSET
    team_id: Any = UNSET


@dataclass(frozen=True)
class Host:
    id: str
    slug: str
    name: str | None


@dataclass(frozen=True)
class EventTypeView:
    """An event type with its references named the way callers name them."""

    event_type: EventType
    owner_slug: str
    hosts: list[Host]
    booking_calendar_id: str | None
    busy_calendar_ids: list[str]


# --- references (these raise 404 for things the owner cannot see) --------------------------------

CALENDAR_ID_PREFIX = "cal_"


def _owned_calendar(session: Session, owner_id: str, reference: str, path: list[str | int]) -> Collection:
    collection = _calendar_named(session, reference)
    if collection is None or collection.owner_id != owner_id:
        raise error_at(NotFound, path, f"no calendar {reference!r}", "not_found")
    if collection.tag != "VCALENDAR":
        raise error_at(InvalidInput, path, f"{reference!r} is not a calendar", "not_a_calendar")
    return collection


def _calendar_named(session: Session, reference: str) -> Collection | None:
    """The calendar a caller names by its REST id ("cal_3f9c2a1d7e0b4c55") or by its path ("alice/work").
    They cannot be confused: a calendar's path has a slash after its user's slug, which has no "_"."""
    name = reference.strip()
    if name.startswith(CALENDAR_ID_PREFIX):
        return store.calendar_by_public_id(session, name)
    return store.get_collection(session, calendar_path(name))


def _resolve_hosts(session: Session, references: Sequence[str]) -> list[str]:
    ids: list[str] = []
    for index, reference in enumerate(references):
        user = accounts.find_user(session, reference) or session.get(User, reference.strip())
        if user is None:
            raise error_at(
                NotFound, ["hosts", index], f"no user with slug, email or id {reference!r}", "not_found"
            )
        if user.id not in ids:
            ids.append(user.id)
    return ids


# --- create / update ----------------------------------------------------------------------------


def _apply(
    session: Session,
    caller_id: str,
    owner: User,
    event_type: EventType,
    changes: EventTypeChanges,
    creating: bool,
) -> None:
    """Check and apply ``changes``. ``owner`` is the event type's creator (its calendars and schedule
    are the creator's); ``caller_id`` may be an admin of its team."""
    given = given_fields(changes)
    problems = Problems()
    values = check_fields(given, creating, problems)
    problems.raise_if_any()

    if "slug" not in values and (creating or "slug" in given):  # missing or null: made from the name
        values["slug"] = slug_from(values.get("name") or event_type.name)
    if "schedule_id" in given:
        schedule_id = given["schedule_id"]
        values["schedule_id"] = (
            None if schedule_id is None else _owned_schedule(session, owner.id, schedule_id)
        )
    if "booking_calendar_id" in given:
        reference = given["booking_calendar_id"]
        values["booking_collection_id"] = (
            None
            if reference is None
            else _owned_calendar(session, owner.id, reference, ["booking_calendar_id"]).id
        )
    if "busy_calendar_ids" in given:
        ids: list[int] = []
        for index, reference in enumerate(given["busy_calendar_ids"]):
            calendar_id = _owned_calendar(session, owner.id, reference, ["busy_calendar_ids", index]).id
            if calendar_id not in ids:
                ids.append(calendar_id)
        values["busy_collection_ids"] = ids
    if "team_id" in given:
        values["team_id"] = _managed_team(session, caller_id, given["team_id"])
    values["host_ids"] = _host_ids(
        session,
        caller_id,
        owner,
        event_type,
        given,
        values.get("kind", event_type.kind),
        values.get("team_id", event_type.team_id),
    )

    slug = values.get("slug", event_type.slug)
    if slug != event_type.slug:
        _check_slug_free(session, owner.id, slug, event_type.id)
    for column, value in values.items():
        if getattr(event_type, column) != value:
            setattr(event_type, column, value)


def _owned_schedule(session: Session, owner_id: str, schedule_id: str) -> str:
    try:
        return get_schedule(session, owner_id, schedule_id).id
    except NotFound:
        raise error_at(NotFound, ["schedule_id"], f"no schedule {schedule_id!r}", "not_found") from None


def _managed_team(session: Session, caller_id: str, team_id: str | None) -> str | None:
    """``team_id`` when the caller is an accepted owner or admin of it (404 for a team they are not an
    accepted member of, 403 for a plain member); None moves the event type out of its team."""
    if team_id is None:
        return None
    try:
        return teams.require_manager(session, caller_id, team_id).id
    except NotFound:
        raise error_at(NotFound, ["team_id"], f"no team {team_id!r}", "not_found") from None


def _host_ids(
    session: Session,
    caller_id: str,
    owner: User,
    event_type: EventType,
    given: dict[str, Any],
    kind: str,
    team_id: str | None,
) -> list[str]:
    host_ids = (
        _resolve_hosts(session, given["hosts"]) if "hosts" in given else list(event_type.host_ids or [])
    )
    if kind not in TEAM_KINDS:
        if "hosts" in given and any(host_id != owner.id for host_id in host_ids):
            message = "a one_on_one event type is hosted by its owner only"
            raise error_at(InvalidInput, ["hosts"], message, "one_on_one_hosts")
        return [owner.id]
    if not host_ids:
        message = f"a {kind} event type needs at least one host"
        raise error_at(InvalidInput, ["hosts"], message, "hosts_required")
    if "hosts" in given or "team_id" in given:
        _check_consent(session, caller_id, owner, host_ids, team_id)
    return host_ids


def _check_consent(
    session: Session, caller_id: str, owner: User, host_ids: list[str], team_id: str | None
) -> None:
    """Every host other than the owner is an accepted member of the event type's team, which the caller
    manages: being made a host takes the host's consent (accepting the invitation)."""
    problems = Problems()
    if team_id is None:
        for index, host_id in enumerate(host_ids):
            if host_id != owner.id:
                message = "only you can host an event type without a team: set teamId to a team of your hosts"
                problems.add(["hosts", index], message, "team_required")
        problems.raise_if_any()
        return
    if not teams.manages(session, caller_id, team_id):
        # Naming hosts through a team takes managing it now, not just having created the event type.
        message = "only an owner or admin of the team may set its hosts"
        raise error_at(Forbidden, ["team_id"], message, "forbidden")
    members = teams.accepted_member_ids(session, team_id, host_ids)
    for index, host_id in enumerate(host_ids):
        if host_id not in members:
            problems.add(["hosts", index], "is not an accepted member of the team", "not_team_member")
    problems.raise_if_any()


def _check_slug_free(session: Session, owner_id: str, slug: str, own_id: str | None) -> None:
    query = select(EventType.id).where(EventType.user_id == owner_id, EventType.slug == slug)
    if own_id is not None:
        query = query.where(EventType.id != own_id)
    if session.scalars(query).first() is not None:
        message = f"you already have an event type with slug {slug!r}"
        raise error_at(AlreadyExists, ["slug"], message, "slug_taken")


def create_event_type(session: Session, owner_id: str, changes: EventTypeChanges) -> EventType:
    owner = lock_owner(session, owner_id)
    now = clock.now()
    event_type = EventType(
        user_id=owner.id,
        name="",
        slug="",
        kind="one_on_one",
        durations_min=list(DEFAULT_DURATIONS),
        color=DEFAULT_COLOR,
        location=None,
        questions=[],
        busy_collection_ids=[],
        host_ids=[],
        created_at=now,
        updated_at=now,
        **{column: default for column, (_, _, _, default) in INT_SETTINGS.items()},
        **BOOL_SETTINGS,
    )
    _apply(session, owner_id, owner, event_type, changes, creating=True)
    session.add(event_type)
    session.flush()
    return event_type


def update_event_type(
    session: Session, user_id: str, event_type_id: str, changes: EventTypeChanges
) -> EventType:
    """Change an event type: its creator's, or one of a team the user is an owner or admin of."""
    event_type = get_event_type(session, user_id, event_type_id)
    owner = lock_owner(session, event_type.user_id)
    _apply(session, user_id, owner, event_type, changes, creating=False)
    session.flush()
    return event_type


def delete_event_type(
    session: Session, user_id: str, event_type_id: str, *, now: datetime | None = None
) -> None:
    """Delete an event type. Refused while it has upcoming bookings: deleting would erase them too."""
    event_type = get_event_type(session, user_id, event_type_id)
    lock_owner(session, event_type.user_id)
    upcoming = session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.event_type_id == event_type.id,
            Booking.status.in_(("active", "pending")),
            Booking.end_at > (now or clock.now()),
        )
    )
    if upcoming:
        raise Conflict(
            f"event type {event_type.slug!r} has {upcoming} upcoming booking(s): cancel them first, "
            "or set active to false to stop new bookings"
        )
    session.delete(event_type)
    session.flush()


def list_event_types(session: Session, user_id: str) -> list[EventType]:
    """The user's own event types and those of the teams they own or administer."""
    query = select(EventType).where(
        or_(EventType.user_id == user_id, EventType.team_id.in_(teams.managed_team_ids(user_id)))
    )
    return list(session.scalars(query.order_by(EventType.created_at, EventType.id)))


def get_event_type(session: Session, user_id: str, event_type_id: str) -> EventType:
    """An event type the user manages: their own, or one of a team they are an accepted owner or admin
    of. Anyone else's id is as unknown as a made-up one."""
    event_type = session.get(EventType, event_type_id)
    if event_type is None or (
        event_type.user_id != user_id
        and (event_type.team_id is None or not teams.manages(session, user_id, event_type.team_id))
    ):
        raise NotFound(f"no event type {event_type_id!r}")
    return event_type


# --- reading back -------------------------------------------------------------------------------


def describe_event_types(session: Session, event_types: Sequence[EventType]) -> list[EventTypeView]:
    """Each event type with owner slug, hosts and calendar paths, in three queries for the whole list."""
    user_ids = {et.user_id for et in event_types} | {h for et in event_types for h in et.host_ids or []}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    collection_ids = {et.booking_collection_id for et in event_types if et.booking_collection_id is not None}
    collection_ids |= {c for et in event_types for c in et.busy_collection_ids or []}
    paths = store.collection_paths(session, collection_ids)
    views = []
    for et in event_types:
        hosts = [
            Host(users[h].id, users[h].slug, users[h].display_name) for h in et.host_ids or [] if h in users
        ]
        views.append(
            EventTypeView(
                event_type=et,
                owner_slug=users[et.user_id].slug,
                hosts=hosts,
                # A calendar deleted since simply no longer shows.
                booking_calendar_id=paths.get(et.booking_collection_id) if et.booking_collection_id else None,
                busy_calendar_ids=[paths[c] for c in et.busy_collection_ids or [] if c in paths],
            )
        )
    return views


def describe_event_type(session: Session, event_type: EventType) -> EventTypeView:
    return describe_event_types(session, [event_type])[0]
