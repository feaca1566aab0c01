"""A user's webhook subscriptions: create (the secret shown once), change, delete, rotate the secret,
send a test ping, and the deliveries (list, redeliver). What is sent, and when: ``webhook_events`` and
``webhook_delivery``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from caldee_dav.calendars import outbound_http
from caldee_dav.config import Settings
from caldee_dav.errors import InvalidInput, NotFound, Problem
from caldee_dav.models import Webhook, WebhookDelivery, WebhookEvent, new_id
from caldee_dav.scheduling import cursors, webhook_events
from caldee_dav.scheduling.webhook_events import TRIGGERS, WEBHOOKS_QUEUED

ROTATION_GRACE = timedelta(hours=24)
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 500
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_CURSOR_TAG = "whd"


@dataclass(frozen=True)
class WebhookChange:
    """A PATCH: None is "not sent"."""

    url: str | None = None
    triggers: Sequence[str] | None = None
    active: bool | None = None
    description: str | None = None
    clear_description: bool = False


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event_type: str


def _check_url(settings: Settings, url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput.about(
            [Problem(("url",), f"must be at most {MAX_URL_LENGTH} characters", "too_long")]
        )
    try:
        outbound_http.check_url(url, settings.outbound_allow_list)
    except outbound_http.OutboundRefused as exc:
        raise InvalidInput.about([Problem(("url",), str(exc), "url_refused")]) from exc


def _check_triggers(triggers: Sequence[str]) -> list[str]:
    unknown = [t for t in triggers if t not in TRIGGERS]
    if unknown:
        message = f"unknown trigger(s) {', '.join(unknown)}; known: {', '.join(TRIGGERS)}"
        raise InvalidInput.about([Problem(("triggers",), message, "unknown_trigger")])
    if not triggers:
        raise InvalidInput.about([Problem(("triggers",), "name at least one trigger", "empty")])
    return list(dict.fromkeys(triggers))


def create_webhook(
    session: Session,
    settings: Settings,
    owner_id: str,
    *,
    url: str,
    triggers: Sequence[str],
    active: bool,
    description: str | None,
    now: datetime,
) -> Webhook:
    _check_url(settings, url)
    webhook = Webhook(
        id=new_id("wh"),
        owner_id=owner_id,
        url=url,
        triggers=_check_triggers(triggers),
        active=active,
        description=description,
        secret=webhook_events.new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    session.flush()
    return webhook


def list_webhooks(session: Session, owner_id: str) -> list[Webhook]:
    query = select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.created_at, Webhook.id)
    return list(session.scalars(query))


def get_webhook(session: Session, owner_id: str, webhook_id: str, *, lock: bool = False) -> Webhook:
    """The owner's webhook; anyone else's is as unknown as a made-up id."""
    query = select(Webhook).where(Webhook.id == webhook_id, Webhook.owner_id == owner_id)
    webhook = session.scalars(query.with_for_update() if lock else query).first()
    if webhook is None:
        raise NotFound(f"No webhook {webhook_id!r}.")
    return webhook


def update_webhook(
    session: Session, settings: Settings, owner_id: str, webhook_id: str, change: WebhookChange, now: datetime
) -> Webhook:
    webhook = get_webhook(session, owner_id, webhook_id, lock=True)
    if change.url is not None:
        _check_url(settings, change.url)
        webhook.url = change.url
    if change.triggers is not None:
        webhook.triggers = _check_triggers(change.triggers)
    if change.description is not None or change.clear_description:
        webhook.description = change.description
    if change.active is not None:
        if change.active and not webhook.active:
            # Re-enabled: the failure period starts again; pending deliveries resume.
            webhook.failing_since = webhook.disabled_at = webhook.disabled_reason = None
        webhook.active = change.active
    webhook.updated_at = now
    session.flush()
    return webhook


def delete_webhook(session: Session, owner_id: str, webhook_id: str) -> None:
    session.delete(get_webhook(session, owner_id, webhook_id, lock=True))
    session.flush()


def rotate_secret(session: Session, owner_id: str, webhook_id: str, now: datetime) -> Webhook:
    """A new secret; for ``ROTATION_GRACE`` deliveries are signed with the old one too."""
    webhook = get_webhook(session, owner_id, webhook_id, lock=True)
    webhook.previous_secret, webhook.previous_secret_until = webhook.secret, now + ROTATION_GRACE
    webhook.secret = webhook_events.new_secret()
    webhook.updated_at = now
    session.flush()
    return webhook


def send_test(session: Session, owner_id: str, webhook_id: str, now: datetime) -> WebhookDelivery:
    """A ``ping`` event for this webhook alone, delivered like any other."""
    webhook = get_webhook(session, owner_id, webhook_id)
    event_id = webhook_events.emit(
        session,
        owner_id,
        webhook_events.PING,
        (webhook_events.PING, webhook.id),
        now,
        webhook_ids=[webhook.id],
    )
    delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)).one()
    return delivery


def list_deliveries(
    session: Session, owner_id: str, webhook_id: str, *, cursor: str | None, limit: int
) -> tuple[list[DeliveryView], str | None]:
    """Newest first, ``limit`` a page; the cursor of the next page, or None."""
    get_webhook(session, owner_id, webhook_id)
    query = (
        select(WebhookDelivery, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
    )
    if cursor is not None:
        moment, ident = cursors.decode_cursor(
            cursor, tag=_CURSOR_TAG, given_by="GET /webhooks/{id}/deliveries"
        )
        query = query.where(
            or_(
                WebhookDelivery.created_at < moment,
                and_(WebhookDelivery.created_at == moment, WebhookDelivery.id < ident),
            )
        )
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1)
    rows = session.execute(query).all()
    views = [DeliveryView(delivery, type_) for delivery, type_ in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = views[-1].delivery
        next_cursor = cursors.encode_cursor(last.created_at, last.id, tag=_CURSOR_TAG)
    return views, next_cursor


def redeliver(
    session: Session, owner_id: str, webhook_id: str, delivery_id: str, now: datetime
) -> DeliveryView:
    """A new delivery of the same event (the same ``webhook-id``), due now."""
    get_webhook(session, owner_id, webhook_id)
    query = select(WebhookDelivery, WebhookEvent.type).join(
        WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id
    )
    found = session.execute(
        query.where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)
    ).first()
    if found is None:
        raise NotFound(f"No delivery {delivery_id!r} of this webhook.")
    earlier, type_ = found
    delivery = WebhookDelivery(
        id=new_id("whd"),
        webhook_id=webhook_id,
        event_id=earlier.event_id,
        resource_key=earlier.resource_key,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    session.info[WEBHOOKS_QUEUED] = True
    return DeliveryView(delivery, type_)
