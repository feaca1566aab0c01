"""JSON of ``/teams``, its memberships and ``/me/invitations`` (Cal.com's names: role, accepted)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import StrictStr

from api.schemas.common import RequestModel, ResponseModel, UtcDateTime
from caldee_dav.models import User
from caldee_dav.scheduling.teams import InvitationView, MemberView, TeamChanges, TeamView

Role = Literal["owner", "admin", "member"]


class TeamIn(RequestModel):
    """POST and PATCH body; on PATCH only the fields sent change. A missing slug is made from the name."""

    name: StrictStr | None = None
    slug: StrictStr | None = None

    def changes(self) -> TeamChanges:
        values: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        return TeamChanges(**values)


class MembershipIn(RequestModel):
    user: StrictStr  # the invited user's slug or email
    role: Role = "member"


class RoleIn(RequestModel):
    role: Role


class UserRefOut(ResponseModel):
    id: str
    slug: str
    name: str | None

    @classmethod
    def of(cls, user: User | None) -> UserRefOut | None:
        return cls(id=user.id, slug=user.slug, name=user.display_name) if user is not None else None


class TeamOut(ResponseModel):
    id: str
    slug: str
    name: str
    created_at: UtcDateTime
    # The caller's own membership.
    role: Role
    membership_id: str

    @classmethod
    def from_view(cls, view: TeamView) -> TeamOut:
        team = view.team
        return cls(
            id=team.id,
            slug=team.slug,
            name=team.name,
            created_at=team.created_at,
            role=view.membership.role,
            membership_id=view.membership.id,
        )


class MembershipOut(ResponseModel):
    id: str
    team_id: str
    user: UserRefOut
    role: Role
    accepted: bool
    invited_by: UserRefOut | None
    created_at: UtcDateTime

    @classmethod
    def from_view(cls, view: MemberView) -> MembershipOut:
        membership = view.membership
        user = UserRefOut.of(view.user)
        assert user is not None
        return cls(
            id=membership.id,
            team_id=membership.team_id,
            user=user,
            role=membership.role,
            accepted=membership.accepted,
            invited_by=UserRefOut.of(view.invited_by),
            created_at=membership.created_at,
        )


class TeamRefOut(ResponseModel):
    id: str
    slug: str
    name: str


class InvitationOut(ResponseModel):
    """A pending membership of the caller: accept or decline it under its team."""

    id: str
    team: TeamRefOut
    role: Role
    invited_by: UserRefOut | None
    created_at: UtcDateTime

    @classmethod
    def from_view(cls, view: InvitationView) -> InvitationOut:
        return cls(
            id=view.membership.id,
            team=TeamRefOut(id=view.team.id, slug=view.team.slug, name=view.team.name),
            role=view.membership.role,
            invited_by=UserRefOut.of(view.invited_by),
            created_at=view.membership.created_at,
        )
