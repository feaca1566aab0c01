"""REPORT sync-collection (RFC 6578) on a calendar: the change log since the client's token."""

from __future__ import annotations

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.dav.fast.answer import DavAnswer, NotHandled, xml_answer
from caldee_dav.dav.fast.listing import gone_response, item_responses, list_items
from caldee_dav.dav.fast.multistatus import escape
from caldee_dav.dav.fast.queries import SyncRequest
from caldee_dav.dav.fast.target import DavTarget, require_calendar
from caldee_dav.dav.sync_tokens import parse_sync_token, sync_token


def answer_sync(session: Session, target: DavTarget, request: SyncRequest) -> DavAnswer:
    collection = require_calendar(session, target)
    if request.token:
        try:
            revision = parse_sync_token(collection, request.token)
        except ValueError as exc:
            raise NotHandled from exc  # Radicale answers 403 valid-sync-token
        changed = store.changes_since(session, collection, revision)
        listed = list_items(session, collection.id, request.props, changed)
    else:  # the first sync: every object
        changed = []
        listed = list_items(session, collection.id, request.props)
    present = {row[0] for row in listed}
    responses = item_responses(target, listed, request.props)
    responses += [gone_response(target, href) for href in changed if href not in present]
    token = escape(sync_token(collection))
    body = (
        "<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\">"
        + "".join(responses)
        + f"<sync-token>{token}</sync-token></multistatus>"
    )
    return xml_answer(body)
