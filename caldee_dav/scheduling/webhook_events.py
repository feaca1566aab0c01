"""Webhook events: what happened, written to the outbox (``webhook_events`` + one ``webhook_deliveries``
row per subscribed webhook) in the transaction of the change that caused it. A change that rolls back
emits nothing; a crash after the commit loses nothing (``webhook_delivery`` sends after the commit).

``emit`` costs one indexed query when the owner has no active webhook (the common case: a booking must
not get slower for users who never subscribed). When some webhook is subscribed the resource is
rendered once, by the renderer registered for its kind: the REST edge knows what "the resource as the
API shows it" is (its pydantic models), and the domain may not import it, so the composition roots
call ``api.webhook_payloads.install`` which registers one renderer per kind here.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, event, insert, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from caldee_dav import db
from caldee_dav.models import Webhook, WebhookDelivery, WebhookEvent, new_id

log = logging.getLogger(__name__)

BOOKING_TRIGGERS = (
    "booking.created",
    "booking.requested",
    "booking.confirmed",
    "booking.rejected",
    "booking.rescheduled",
    "booking.cancelled",
    "booking.no_show",
)
EVENT_TRIGGERS = (
    "event.created",
    "event.updated",
    "event.deleted",
    "event.responded",
    "event.starting",
    "event.ending",
)
TRIGGERS = (*BOOKING_TRIGGERS, "lead.created", *EVENT_TRIGGERS, "invite.received")
PING = "ping"  # the test event: delivered to the one webhook it was asked for, whatever its triggers

# Resource kinds: what a renderer is registered for.
BOOKING, LEAD, EVENT, DELETED_EVENT, INBOUND_MESSAGE = "booking", "lead", "event", "deleted_event", "inbound"
# The ordering key of a deleted event is the event's own: its deletion comes after its updates.
_KEY_KIND = {DELETED_EVENT: EVENT}

# Set in ``Session.info`` when deliveries were queued: the dispatcher wakes after that session commits.
WEBHOOKS_QUEUED = "caledee.webhooks_queued"

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24

Resource = tuple[str, str]
Renderer = Callable[[Session, str], dict[str, Any]]
_renderers: dict[str, Renderer] = {}


def register_renderer(kind: str, render: Renderer) -> None:
    """``render(session, id)``: the resource of ``kind`` as the REST API shows it."""
    _renderers[kind] = render


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def resource_key(resource: Resource) -> str:
    kind, ident = resource
    return f"{_KEY_KIND.get(kind, kind)}:{ident}"


def event_resource(calendar_public_id: str, event_ref: str) -> Resource:
    """An event (or one occurrence, ``ev_..._20270104T090000Z``) of a calendar."""
    return EVENT, f"{calendar_public_id}/{event_ref}"


def deleted_event_resource(calendar_public_id: str, event_id: str) -> Resource:
    return DELETED_EVENT, f"{calendar_public_id}/{event_id}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def subscribed_webhooks(session: Session, owner_id: str, type_: str) -> list[str]:
    """The ids of the owner's active webhooks subscribed to ``type_``: one indexed query per owner and
    transaction (a mail applying an invitation emits event.created and invite.received; an import, one
    event per object), kept in ``Session.info`` until the transaction ends or a webhook is written."""
    known: dict[str, list[tuple[str, list[str]]]] = session.info.setdefault(ACTIVE_WEBHOOKS, {})
    if owner_id not in known:
        rows = _ACTIVE_WEBHOOKS_OF_OWNER.rows(session, {"owner_id": owner_id})
        known[owner_id] = [(ident, list(json.loads(triggers) or [])) for ident, triggers in rows]
    return [ident for ident, triggers in known[owner_id] if type_ in triggers]


# Built once (it runs in every transaction that writes an event): the active webhooks of an owner.
# The triggers as JSON text, parsed here: a plain column (db.PlainStatement) on both databases.
_ACTIVE_WEBHOOKS_OF_OWNER = db.PlainStatement(
    select(Webhook.id, cast(Webhook.triggers, Text)).where(
        Webhook.owner_id == bindparam("owner_id"), Webhook.active == true()
    )
)

# Session.info key of the active webhooks read in this transaction, by owner.
ACTIVE_WEBHOOKS = "caledee.active_webhooks"


@event.listens_for(Session, "after_flush")
def _forget_written_webhooks(session: Session, _context: object) -> None:
    if ACTIVE_WEBHOOKS in session.info and any(
        isinstance(instance, Webhook) for instance in (*session.new, *session.dirty, *session.deleted)
    ):
        del session.info[ACTIVE_WEBHOOKS]


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _transaction: object) -> None:
    session.info.pop(ACTIVE_WEBHOOKS, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(ACTIVE_WEBHOOKS, None)


def emit(
    session: Session,
    owner_id: str,
    type_: str,
    resource: Resource,
    now: datetime,
    *,
    dedupe_key: str | None = None,
    webhook_ids: list[str] | None = None,
) -> str | None:
    """Queue ``type_`` about ``resource`` for every active webhook of the owner subscribed to it (or for
    ``webhook_ids``), in the caller's transaction; the event's id (its ``webhook-id``), or None when no
    webhook wants it or ``dedupe_key`` was emitted before."""
    targets = webhook_ids if webhook_ids is not None else subscribed_webhooks(session, owner_id, type_)
    if not targets:
        return None
    kind, ident = resource
    session.flush()  # the renderer reads the change as this transaction sees it
    data = _renderers[kind](session, ident)
    event_id = new_id("msg")
    payload = {"id": event_id, "type": type_, "createdAt": rfc3339(now), "data": data}
    key = resource_key(resource)
    row = {
        "id": event_id,
        "owner_id": owner_id,
        "type": type_,
        "resource_key": key,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    # Core inserts, the deliveries in one statement: this runs inside the booking's (or the event's)
    # transaction, where the ORM's unit of work cost more than the rows (bench/webhooks.py).
    if dedupe_key is None:
        session.execute(insert(WebhookEvent), [row])
    elif not _insert_once(session, row):
        return None
    deliveries = [
        {
            "id": new_id("whd"),
            "webhook_id": webhook_id,
            "event_id": event_id,
            "resource_key": key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for webhook_id in targets
    ]
    session.execute(insert(WebhookDelivery), deliveries)
    session.info[WEBHOOKS_QUEUED] = True
    return event_id


def _insert_once(session: Session, row: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING: whether this call inserted it. A second process
    finding the same time-based event waits for the first one's commit and inserts nothing."""
    dialect_insert = postgresql.insert if db.on_postgresql(session) else sqlite.insert
    statement = dialect_insert(WebhookEvent).values(**row)
    statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    return session.execute(statement.returning(WebhookEvent.id)).first() is not None
