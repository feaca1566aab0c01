"""Teams and memberships: who may host whose event types, by consent.

A user creates a team and is its owner. Owners and admins invite other users (by slug or email); an
invitation is a membership that is not yet accepted, and only the invited user accepts or declines it.
Only accepted members can host the team's event types, and only through such a membership is another
user's busy time ever read (``offers.host_ids_of``). A team is visible to its accepted members only:
anyone else, a pending invitee included, gets the same 404 as for a team that does not exist (invitees
see their invitations in ``my_invitations``).

Roles: ``owner`` (everything, deleting the team included), ``admin`` (invite, remove members, manage
the team's event types), ``member`` (host, see the team, leave). A team always keeps one accepted owner.
Membership writes lock the team's row first, so two owners leaving at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caldee_dav import clock
from caldee_dav.calendars import accounts
from caldee_dav.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound
from caldee_dav.models import EventType, Team, TeamMembership, User
from caldee_dav.scheduling.editing import UNSET, Problems, check_name, error_at, given_fields
from caldee_dav.scheduling.event_type_fields import slug_from

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
ROLES = (OWNER, ADMIN, MEMBER)
MANAGING_ROLES = (OWNER, ADMIN)
MAX_NAME_LENGTH = 200
MAX_SLUG_LENGTH = 64


@dataclass(frozen=True)
class TeamChanges:
    """A team's create or update; UNSET fields keep their value (a missing slug is made from the name)."""

    name: Any = UNSET
    slug: Any = UNSET


@dataclass(frozen=True)
class TeamView:
    """A team with the caller's own membership in it."""

    team: Team
    membership: TeamMembership


@dataclass(frozen=True)
class MemberView:
    membership: TeamMembership
    user: User
    invited_by: User | None


@dataclass(frozen=True)
class InvitationView:
    """A pending membership of the caller, with what they need to decide on it."""

    membership: TeamMembership
    team: Team
    invited_by: User | None


# --- membership facts other modules rely on -------------------------------------------------------


def accepted_member_ids(session: Session, team_id: str, among: Collection[str]) -> set[str]:
    """Those of ``among`` who are accepted members of the team."""
    if not among:
        return set()
    query = select(TeamMembership.user_id).where(
        TeamMembership.team_id == team_id,
        TeamMembership.accepted.is_(True),
        TeamMembership.user_id.in_(list(among)),
    )
    return set(session.scalars(query))


def managed_team_ids(user_id: str) -> Select[tuple[str]]:
    """The ids of the teams the user manages (accepted owner or admin), as a subquery to filter by."""
    return select(TeamMembership.team_id).where(
        TeamMembership.user_id == user_id,
        TeamMembership.accepted.is_(True),
        TeamMembership.role.in_(MANAGING_ROLES),
    )


def manages(session: Session, user_id: str, team_id: str) -> bool:
    membership = _membership_of(session, team_id, user_id)
    return membership is not None and membership.accepted and membership.role in MANAGING_ROLES


def require_manager(session: Session, user_id: str, team_id: str) -> Team:
    """The team when the user is an accepted owner or admin of it: NotFound for a non-member, Forbidden
    for a plain member."""
    team, membership = _visible(session, user_id, team_id)
    if membership.role not in MANAGING_ROLES:
        raise Forbidden(f"only an owner or admin of team {team.slug!r} may do this")
    return team


# --- teams -----------------------------------------------------------------------------------------


def _membership_of(session: Session, team_id: str, user_id: str) -> TeamMembership | None:
    query = select(TeamMembership).where(TeamMembership.team_id == team_id, TeamMembership.user_id == user_id)
    return session.scalars(query).first()


def _visible(
    session: Session, user_id: str, team_id: str, *, lock: bool = False
) -> tuple[Team, TeamMembership]:
    """The team and the caller's accepted membership; NotFound for anyone else (a non-member cannot
    tell a team from a made-up id). ``lock`` takes the team's row lock for a membership change."""
    query = select(Team).where(Team.id == team_id)
    team = session.scalars(query.with_for_update() if lock else query).first()
    membership = _membership_of(session, team_id, user_id) if team is not None else None
    if team is None or membership is None or not membership.accepted:
        raise NotFound(f"no team {team_id!r}")
    return team, membership


def _check_changes(session: Session, changes: TeamChanges, team: Team | None) -> dict[str, str]:
    given = given_fields(changes)
    problems = Problems()
    values: dict[str, str] = {}
    if "name" in given or team is None:
        name = check_name(problems, ["name"], given.get("name"), MAX_NAME_LENGTH)
        if name is not None:
            values["name"] = name
    slug = given.get("slug")
    if slug is not None:
        if not isinstance(slug, str) or not accounts.SLUG_PATTERN.match(slug):
            problems.add(["slug"], "must be 1-64 lowercase letters, digits and dashes", "invalid_slug")
        else:
            values["slug"] = slug
    problems.raise_if_any()
    if "slug" not in values and (team is None or "slug" in given):  # missing or null: made from the name
        name = values.get("name") or (team.name if team is not None else "")
        values["slug"] = slug_from(name)[:MAX_SLUG_LENGTH].strip("-") or "team"
    if "slug" in values and (team is None or values["slug"] != team.slug):
        taken = session.scalars(select(Team.id).where(Team.slug == values["slug"])).first()
        if taken is not None:
            raise error_at(
                AlreadyExists, ["slug"], f"a team with slug {values['slug']!r} exists", "slug_taken"
            )
    return values


def create_team(session: Session, user_id: str, changes: TeamChanges) -> TeamView:
    """A new team with the caller as its accepted owner."""
    values = _check_changes(session, changes, None)
    now = clock.now()
    team = Team(name=values["name"], slug=values["slug"], created_at=now)
    _flush_unique_slug(session, team, values["slug"])
    membership = TeamMembership(
        team_id=team.id, user_id=user_id, role=OWNER, accepted=True, invited_by=None, created_at=now
    )
    session.add(membership)
    session.flush()
    return TeamView(team, membership)


def list_teams(session: Session, user_id: str) -> list[TeamView]:
    """The teams the user is an accepted member of, oldest first."""
    query = (
        select(Team, TeamMembership)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .where(TeamMembership.user_id == user_id, TeamMembership.accepted.is_(True))
        .order_by(Team.created_at, Team.id)
    )
    return [TeamView(team, membership) for team, membership in session.execute(query).all()]


def get_team(session: Session, user_id: str, team_id: str) -> TeamView:
    return TeamView(*_visible(session, user_id, team_id))


def update_team(session: Session, user_id: str, team_id: str, changes: TeamChanges) -> TeamView:
    team, membership = _visible(session, user_id, team_id, lock=True)
    if membership.role not in MANAGING_ROLES:
        raise Forbidden(f"only an owner or admin of team {team.slug!r} may change it")
    for column, value in _check_changes(session, changes, team).items():
        setattr(team, column, value)
    _flush_unique_slug(session, team, team.slug)
    return TeamView(team, membership)


def _flush_unique_slug(session: Session, team: Team, slug: str) -> None:
    """Write the team. Two requests taking one free slug at once both pass the check before it; on
    PostgreSQL the unique index refuses the second, and that is the same 409 as the check's."""
    try:
        with session.begin_nested():
            session.add(team)
    except IntegrityError as exc:
        message = f"a team with slug {slug!r} exists"
        raise error_at(AlreadyExists, ["slug"], message, "slug_taken") from exc


def delete_team(session: Session, user_id: str, team_id: str) -> None:
    """Delete a team and its memberships (owners only). Refused while it owns event types: their hosts
    would otherwise be left without the membership that lets them host."""
    team, membership = _visible(session, user_id, team_id, lock=True)
    if membership.role != OWNER:
        raise Forbidden(f"only an owner of team {team.slug!r} may delete it")
    owned = session.scalar(select(func.count()).select_from(EventType).where(EventType.team_id == team.id))
    if owned:
        raise Conflict(f"team {team.slug!r} owns {owned} event type(s): delete them or move them first")
    session.delete(team)
    session.flush()


# --- memberships -----------------------------------------------------------------------------------


def _users_by_id(session: Session, ids: Collection[str | None]) -> dict[str, User]:
    wanted = [i for i in ids if i]
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}


def _member_views(session: Session, memberships: Sequence[TeamMembership]) -> list[MemberView]:
    users = _users_by_id(session, {m.user_id for m in memberships} | {m.invited_by for m in memberships})
    return [
        MemberView(m, users[m.user_id], users.get(m.invited_by) if m.invited_by else None)
        for m in memberships
    ]


def list_memberships(session: Session, user_id: str, team_id: str) -> list[MemberView]:
    """Every membership of the team, pending ones included, for its accepted members."""
    _visible(session, user_id, team_id)
    query = (
        select(TeamMembership)
        .where(TeamMembership.team_id == team_id)
        .order_by(TeamMembership.created_at, TeamMembership.id)
    )
    return _member_views(session, list(session.scalars(query)))


def invite(session: Session, user_id: str, team_id: str, reference: str, role: str = MEMBER) -> MemberView:
    """Invite a user by slug or email (owners and admins; only an owner may invite an owner). The
    membership is pending until the invited user accepts it."""
    team, membership = _visible(session, user_id, team_id, lock=True)
    if membership.role not in MANAGING_ROLES:
        raise Forbidden(f"only an owner or admin of team {team.slug!r} may invite")
    if role not in ROLES:
        raise error_at(InvalidInput, ["role"], f"must be one of {', '.join(ROLES)}", "invalid_role")
    if role == OWNER and membership.role != OWNER:
        raise Forbidden("only an owner may invite another owner")
    invited = accounts.find_user(session, reference)
    if invited is None:
        raise error_at(NotFound, ["user"], f"no user with slug or email {reference!r}", "not_found")
    if _membership_of(session, team.id, invited.id) is not None:
        message = f"{invited.slug!r} is already a member of team {team.slug!r} or invited to it"
        raise error_at(AlreadyExists, ["user"], message, "already_member")
    pending = TeamMembership(
        team_id=team.id,
        user_id=invited.id,
        role=role,
        accepted=False,
        invited_by=user_id,
        created_at=clock.now(),
    )
    session.add(pending)
    session.flush()
    return _member_views(session, [pending])[0]


def _own_invitation(session: Session, user_id: str, team_id: str, membership_id: str) -> TeamMembership:
    """The caller's own membership ``membership_id`` of the team (locked with the team). Someone else's is
    a 404 to non-members and a 403 to members (they may see it in the member list)."""
    team = session.scalars(select(Team).where(Team.id == team_id).with_for_update()).first()
    membership = session.get(TeamMembership, membership_id) if team is not None else None
    if membership is None or membership.team_id != team_id:
        raise NotFound(f"no membership {membership_id!r} in team {team_id!r}")
    if membership.user_id != user_id:
        caller = _membership_of(session, team_id, user_id)
        if caller is None or not caller.accepted:
            raise NotFound(f"no membership {membership_id!r} in team {team_id!r}")
        raise Forbidden("only the invited user may accept or decline an invitation")
    return membership


def accept(session: Session, user_id: str, team_id: str, membership_id: str) -> MemberView:
    """Accept one's own invitation (idempotent once accepted)."""
    membership = _own_invitation(session, user_id, team_id, membership_id)
    if not membership.accepted:
        membership.accepted = True
        session.flush()
    return _member_views(session, [membership])[0]


def decline(session: Session, user_id: str, team_id: str, membership_id: str) -> None:
    """Decline one's own pending invitation: it is deleted (the user can be invited again)."""
    membership = _own_invitation(session, user_id, team_id, membership_id)
    if membership.accepted:
        raise Conflict("this invitation is already accepted: leave the team instead")
    session.delete(membership)
    session.flush()


def remove_membership(session: Session, user_id: str, team_id: str, membership_id: str) -> None:
    """Leave (one's own membership) or remove a member or withdraw an invitation (owners and admins;
    only an owner removes an owner). The team's last accepted owner can do neither."""
    team, caller = _visible(session, user_id, team_id, lock=True)
    membership = session.get(TeamMembership, membership_id)
    if membership is None or membership.team_id != team.id:
        raise NotFound(f"no membership {membership_id!r} in team {team_id!r}")
    if membership.id != caller.id:
        if caller.role not in MANAGING_ROLES:
            raise Forbidden(f"only an owner or admin of team {team.slug!r} may remove other members")
        if membership.role == OWNER and caller.role != OWNER:
            raise Forbidden("only an owner may remove another owner")
    if membership.role == OWNER and membership.accepted and _accepted_owners(session, team.id) == 1:
        raise Conflict(
            f"the last owner cannot leave team {team.slug!r}: invite another owner first, or delete it"
        )
    session.delete(membership)
    session.flush()


def change_role(session: Session, user_id: str, team_id: str, membership_id: str, role: str) -> MemberView:
    """Give a member (or a pending invitation) another role. Owners only: they alone may make or unmake
    owners and admins. The team's last accepted owner keeps the role."""
    team, caller = _visible(session, user_id, team_id, lock=True)
    membership = session.get(TeamMembership, membership_id)
    if membership is None or membership.team_id != team.id:
        raise NotFound(f"no membership {membership_id!r} in team {team_id!r}")
    if caller.role != OWNER:
        raise Forbidden(f"only an owner of team {team.slug!r} may change roles")
    if role not in ROLES:
        raise error_at(InvalidInput, ["role"], f"must be one of {', '.join(ROLES)}", "invalid_role")
    demoting_an_owner = membership.role == OWNER and role != OWNER and membership.accepted
    if demoting_an_owner and _accepted_owners(session, team.id) == 1:
        raise Conflict(f"team {team.slug!r} would have no owner: make another member an owner first")
    membership.role = role
    session.flush()
    return _member_views(session, [membership])[0]


def _accepted_owners(session: Session, team_id: str) -> int:
    query = (
        select(func.count())
        .select_from(TeamMembership)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.role == OWNER,
            TeamMembership.accepted.is_(True),
        )
    )
    return int(session.scalar(query) or 0)


def my_invitations(session: Session, user_id: str) -> list[InvitationView]:
    """The user's pending invitations, oldest first."""
    query = (
        select(TeamMembership, Team)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(TeamMembership.user_id == user_id, TeamMembership.accepted.is_(False))
        .order_by(TeamMembership.created_at, TeamMembership.id)
    )
    rows = session.execute(query).all()
    inviters = _users_by_id(session, {m.invited_by for m, _ in rows})
    return [InvitationView(m, team, inviters.get(m.invited_by) if m.invited_by else None) for m, team in rows]
