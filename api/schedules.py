"""``/api/v2/schedules``: availability schedules (weekly rules, date overrides, one default per user)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response

from api.auth import require_scopes
from api.body import json_body
from api.context import current_user_id, read_unit, write_unit
from api.schemas.common import json_response, list_response, no_content
from api.schemas.schedules import ScheduleIn, ScheduleOut
from caldee_dav.errors import Problem
from caldee_dav.scheduling import schedules

bp = Blueprint("schedules", __name__)


def _field_problems(body: ScheduleIn) -> Sequence[Problem]:
    """The domain's checks of the fields pydantic accepted, reported with pydantic's own problems."""
    return schedules.field_problems(body.changes())


@bp.get("/schedules")
@require_scopes("read:schedules")
def list_schedules() -> Response:
    with read_unit() as session:
        rows = schedules.list_schedules(session, current_user_id())
        return list_response([ScheduleOut.from_row(row) for row in rows])


@bp.post("/schedules")
@require_scopes("write:schedules")
def create_schedule() -> Response:
    changes = json_body(ScheduleIn, _field_problems).changes()
    with write_unit() as session:
        out = ScheduleOut.from_row(schedules.create_schedule(session, current_user_id(), changes))
    return json_response(out, 201, location=f"/api/v2/schedules/{out.id}")


@bp.get("/schedules/<schedule_id>")
@require_scopes("read:schedules")
def get_schedule(schedule_id: str) -> Response:
    with read_unit() as session:
        return json_response(
            ScheduleOut.from_row(schedules.get_schedule(session, current_user_id(), schedule_id))
        )


@bp.patch("/schedules/<schedule_id>")
@require_scopes("write:schedules")
def update_schedule(schedule_id: str) -> Response:
    changes = json_body(ScheduleIn, _field_problems).changes()
    with write_unit() as session:
        out = ScheduleOut.from_row(
            schedules.update_schedule(session, current_user_id(), schedule_id, changes)
        )
    return json_response(out)


@bp.delete("/schedules/<schedule_id>")
@require_scopes("write:schedules")
def delete_schedule(schedule_id: str) -> Response:
    with write_unit() as session:
        schedules.delete_schedule(session, current_user_id(), schedule_id)
    return no_content()
