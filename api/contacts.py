"""``/api/v2/contacts``: everyone who booked with the caller or left their details as a lead, merged
by email (``caldee_dav.scheduling.contacts``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import require_scopes
from api.body import query_args
from api.context import current_user_id, read_unit
from api.schemas.common import to_json
from api.schemas.contacts import ContactListQuery, ContactOut
from caldee_dav.scheduling import contacts

bp = Blueprint("contacts", __name__)


@bp.get("/contacts")
@require_scopes("read:contacts")
def list_contacts() -> Response:
    args = query_args(ContactListQuery)
    with read_unit() as session:
        page = contacts.list_contacts(
            session, current_user_id(), kind=args.kind, q=args.q, offset=args.offset, limit=args.limit
        )
    data = [to_json(ContactOut.from_contact(contact)) for contact in page.contacts]
    return jsonify({"data": data, "total": page.total, "nextOffset": page.next_offset})
