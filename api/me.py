"""``/api/v2/me``: the authenticated user."""

from __future__ import annotations

from flask import Blueprint, Response

from api.auth import require_scopes
from api.context import current_user_id, read_unit
from api.schemas.common import json_response
from api.schemas.profile import UserOut
from caldee_dav.calendars import accounts

bp = Blueprint("me", __name__)


@bp.get("/me")
@require_scopes("read:profile")
def get_me() -> Response:
    with read_unit() as session:
        return json_response(UserOut.of(accounts.get_user(session, current_user_id())))
