"""``/api/v2/teams``: teams, their memberships (invite, accept, decline, remove, leave), and
``/api/v2/me/invitations``, the caller's pending invitations."""

from __future__ import annotations

from flask import Blueprint, Response

from api.auth import require_scopes
from api.body import json_body
from api.context import current_user_id, read_unit, write_unit
from api.schemas.common import json_response, list_response, no_content
from api.schemas.teams import InvitationOut, MembershipIn, MembershipOut, RoleIn, TeamIn, TeamOut
from caldee_dav.scheduling import teams

bp = Blueprint("teams", __name__)


@bp.get("/teams")
@require_scopes("read:teams")
def list_teams() -> Response:
    with read_unit() as session:
        return list_response([TeamOut.from_view(v) for v in teams.list_teams(session, current_user_id())])


@bp.post("/teams")
@require_scopes("write:teams")
def create_team() -> Response:
    changes = json_body(TeamIn).changes()
    with write_unit() as session:
        out = TeamOut.from_view(teams.create_team(session, current_user_id(), changes))
    return json_response(out, 201, location=f"/api/v2/teams/{out.id}")


@bp.get("/teams/<team_id>")
@require_scopes("read:teams")
def get_team(team_id: str) -> Response:
    with read_unit() as session:
        return json_response(TeamOut.from_view(teams.get_team(session, current_user_id(), team_id)))


@bp.patch("/teams/<team_id>")
@require_scopes("write:teams")
def update_team(team_id: str) -> Response:
    changes = json_body(TeamIn).changes()
    with write_unit() as session:
        out = TeamOut.from_view(teams.update_team(session, current_user_id(), team_id, changes))
    return json_response(out)


@bp.delete("/teams/<team_id>")
@require_scopes("write:teams")
def delete_team(team_id: str) -> Response:
    with write_unit() as session:
        teams.delete_team(session, current_user_id(), team_id)
    return no_content()


@bp.get("/teams/<team_id>/memberships")
@require_scopes("read:teams")
def list_memberships(team_id: str) -> Response:
    with read_unit() as session:
        views = teams.list_memberships(session, current_user_id(), team_id)
        return list_response([MembershipOut.from_view(v) for v in views])


@bp.post("/teams/<team_id>/memberships")
@require_scopes("write:teams")
def invite(team_id: str) -> Response:
    body = json_body(MembershipIn)
    with write_unit() as session:
        out = MembershipOut.from_view(teams.invite(session, current_user_id(), team_id, body.user, body.role))
    return json_response(out, 201, location=f"/api/v2/teams/{team_id}/memberships/{out.id}")


@bp.post("/teams/<team_id>/memberships/<membership_id>/accept")
@require_scopes("write:teams")
def accept(team_id: str, membership_id: str) -> Response:
    with write_unit() as session:
        out = MembershipOut.from_view(teams.accept(session, current_user_id(), team_id, membership_id))
    return json_response(out)


@bp.post("/teams/<team_id>/memberships/<membership_id>/decline")
@require_scopes("write:teams")
def decline(team_id: str, membership_id: str) -> Response:
    with write_unit() as session:
        teams.decline(session, current_user_id(), team_id, membership_id)
    return no_content()


@bp.patch("/teams/<team_id>/memberships/<membership_id>")
@require_scopes("write:teams")
def change_role(team_id: str, membership_id: str) -> Response:
    body = json_body(RoleIn)
    with write_unit() as session:
        view = teams.change_role(session, current_user_id(), team_id, membership_id, body.role)
        out = MembershipOut.from_view(view)
    return json_response(out)


@bp.delete("/teams/<team_id>/memberships/<membership_id>")
@require_scopes("write:teams")
def remove_membership(team_id: str, membership_id: str) -> Response:
    with write_unit() as session:
        teams.remove_membership(session, current_user_id(), team_id, membership_id)
    return no_content()


@bp.get("/me/invitations")
@require_scopes("read:teams")
def my_invitations() -> Response:
    with read_unit() as session:
        views = teams.my_invitations(session, current_user_id())
        return list_response([InvitationOut.from_view(v) for v in views])
