"""``/api/v2/leads``: the leads captured on the caller's event types (the contract's ``GET /leads``),
one lead, and its pipeline status. Leads are made by the public ``POST .../leads`` and marked booked
by bookings (``caldee_dav.scheduling.leads``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import require_scopes
from api.body import json_body, query_args
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.common import json_response, to_json
from api.schemas.leads import LeadDetailOut, LeadListQuery, LeadOut, LeadStatusIn
from caldee_dav.scheduling import leads

bp = Blueprint("leads", __name__)


@bp.get("/leads")
@require_scopes("read:leads")
def list_leads() -> Response:
    args = query_args(LeadListQuery)
    with read_unit() as session:
        views, next_cursor = leads.list_leads(
            session,
            current_user_id(),
            status=args.status,
            booked=args.booked,
            cursor=args.cursor,
            limit=args.limit,
        )
        data = [to_json(LeadOut.from_view(view)) for view in views]
    return jsonify({"data": data, "nextCursor": next_cursor})


@bp.get("/leads/<lead_id>")
@require_scopes("read:leads")
def get_lead(lead_id: str) -> Response:
    with read_unit() as session:
        return json_response(LeadDetailOut.from_view(leads.get_lead(session, current_user_id(), lead_id)))


@bp.patch("/leads/<lead_id>")
@require_scopes("write:leads")
def update_lead(lead_id: str) -> Response:
    body = json_body(LeadStatusIn)
    with write_unit() as session:
        view = leads.set_status(session, current_user_id(), lead_id, body.status, caledee().now())
        out = LeadDetailOut.from_view(view)
    return json_response(out)
