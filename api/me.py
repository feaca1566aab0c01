"""``/api/v2/me``: the authenticated user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, jsonify

from api.auth import require_scopes
from api.context import current_user_id, read_unit
from caldee_dav.calendars import accounts

if TYPE_CHECKING:
    from caldee_dav.models import User

bp = Blueprint("me", __name__)


def user_json(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.display_name,
        "slug": user.slug,
        "timezone": user.timezone,
    }


@bp.get("/me")
@require_scopes("read:profile")
def get_me():  # type: ignore[no-untyped-def]
    with read_unit() as session:
        user = accounts.get_user(session, current_user_id())
        return jsonify(user_json(user))
