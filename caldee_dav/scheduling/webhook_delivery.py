"""Sending the webhook outbox (``WebhookDelivery`` rows that ``webhook_events.emit`` queued) after commit.

The shape of ``mail_delivery``. One round, ``deliver_due``:

1. claim a batch of due pending deliveries in a short write transaction (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL: processes claiming at once take different rows; SQLite's BEGIN IMMEDIATE serializes
   them): each gets a lease (``next_attempt_at`` = now + ``webhook_lease_seconds``), ``attempts`` + 1.
   In order per resource: a delivery is not claimed while an older pending delivery of the same
   webhook and resource exists (claimed or waiting for a retry);
2. POST each, signed, with no transaction open (``outbound_http``: the SSRF guard checks the address
   it connects to), several at once on a small thread pool;
3. record the outcomes in one short transaction: succeeded; or retried (timeouts, connection errors,
   5xx, 429 after its ``Retry-After``) with exponential backoff and jitter until
   ``webhook_retry_hours`` after the event; or failed at once (another 4xx, an address refused).
   A webhook failing for ``webhook_disable_after_hours`` without a success is disabled.

A crash between the claim and the record leaves the delivery pending with its lease: it is sent again
when the lease ends (at least once: a receiver deduplicates by ``webhook-id``).

Signatures follow Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the base64-decoded secret after ``whsec_``; during a rotation's
grace period the header carries both signatures, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select, true
from sqlalchemy.orm import Session, aliased

from caldee_dav import clock, db
from caldee_dav.calendars import outbound_http
from caldee_dav.config import Settings
from caldee_dav.models import Webhook, WebhookDelivery, WebhookEvent
from caldee_dav.scheduling.background import MAX_PAUSE, BackgroundLoop, retry_pause
from caldee_dav.scheduling.webhook_events import SECRET_PREFIX, WEBHOOKS_QUEUED

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
BATCH = 50
SENDERS = 8  # concurrent POSTs of one batch
NUDGE_DELAY_SECONDS = 0.05
MAX_ERROR_LENGTH = 1000
USER_AGENT = "Caledee-Webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery, detached from its session: what sending it needs."""

    id: str
    webhook_id: str
    event_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes
    event_created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status: int | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: timedelta | None = None


# --- signing ------------------------------------------------------------------------------------


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` with the secret's key."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(claimed: Claimed, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    signatures = " ".join(
        sign(secret, claimed.event_id, timestamp, claimed.body) for secret in claimed.secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- one round ----------------------------------------------------------------------------------


def deliver_due(engine: Engine, settings: Settings, now: datetime) -> int:
    """Send every delivery due at ``now`` (batch after batch); the number that succeeded."""
    succeeded = 0
    if not _any_due(engine, now):  # a read: no write lock taken every second when nothing is queued
        return 0
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="caledee-webhook-post") as pool:
        while batch := _claim(engine, settings, now):
            outcomes = list(pool.map(lambda claimed: _send(settings, claimed), batch))
            _record(engine, settings, batch, outcomes)
            succeeded += sum(outcome.succeeded for outcome in outcomes)
            if len(batch) < BATCH:
                break
            now = clock.now()
    return succeeded


def _due(now: datetime) -> Any:
    older = aliased(WebhookDelivery)
    waits_for_older = exists().where(
        older.webhook_id == WebhookDelivery.webhook_id,
        older.resource_key == WebhookDelivery.resource_key,
        older.status == PENDING,
        or_(
            older.created_at < WebhookDelivery.created_at,
            and_(older.created_at == WebhookDelivery.created_at, older.id < WebhookDelivery.id),
        ),
    )
    return (
        select(WebhookDelivery)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .where(Webhook.active == true(), ~waits_for_older)
    )


def _any_due(engine: Engine, now: datetime) -> bool:
    with db.read_unit(engine) as session:
        query = _due(now).with_only_columns(WebhookDelivery.id).limit(1)
        return session.scalars(query).first() is not None


def _claim(engine: Engine, settings: Settings, now: datetime) -> list[Claimed]:
    lease = timedelta(seconds=settings.webhook_lease_seconds)
    with db.write_unit(engine) as session:
        query = _due(now).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(BATCH)
        if db.on_postgresql(session):
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        rows = session.scalars(query).all()
        # Webhooks and events of the whole batch in one query each, before any row changes: one
        # ``session.get`` per row flushed that row's update first and cost a query each (bench/webhooks.py:
        # four statements per delivery, most of a worker's time).
        webhooks = _by_id(session, Webhook, {row.webhook_id for row in rows})
        emitted = _by_id(session, WebhookEvent, {row.event_id for row in rows})
        claimed = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + lease
            row.last_attempt_at = now
            claimed.append(_detached(row, webhooks[row.webhook_id], emitted[row.event_id], now))
        return claimed


def _by_id(session: Session, model: Any, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    return {found.id: found for found in session.scalars(select(model).where(model.id.in_(ids)))}


def _detached(row: WebhookDelivery, webhook: Webhook, emitted: WebhookEvent, now: datetime) -> Claimed:
    secrets = [webhook.secret]
    if webhook.previous_secret and webhook.previous_secret_until and webhook.previous_secret_until > now:
        secrets.append(webhook.previous_secret)
    return Claimed(
        id=row.id,
        webhook_id=webhook.id,
        event_id=emitted.id,
        url=webhook.url,
        secrets=tuple(secrets),
        body=body_of(emitted.payload),
        event_created_at=emitted.created_at,
        attempts=row.attempts,
    )


def _send(settings: Settings, claimed: Claimed) -> Outcome:
    headers = signed_headers(claimed, clock.now())
    try:
        response = outbound_http.post(
            claimed.url,
            claimed.body,
            headers,
            allow=settings.outbound_allow_list,
            timeout=settings.outbound_timeout_seconds,
        )
    except outbound_http.OutboundRefused as exc:
        return Outcome(succeeded=False, error=f"refused: {exc}", permanent=True)
    except outbound_http.OutboundFailed as exc:
        return Outcome(succeeded=False, error=str(exc) or type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - one receiver's oddity must not stop the others' deliveries
        return Outcome(succeeded=False, error=f"{type(exc).__name__}: {exc}")
    status = response.status
    if 200 <= status < 300:
        return Outcome(succeeded=True, status=status)
    error = f"HTTP {status}" + (f": {_snippet(response.body)}" if response.body else "")
    if status == 429:
        return Outcome(False, status, error, retry_after=_retry_after(response.headers.get("retry-after")))
    if status >= 500 or status == 408:
        return Outcome(False, status, error)
    return Outcome(False, status, error, permanent=True)


def _snippet(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace").strip()


def _retry_after(value: str | None) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment - clock.now(), timedelta(0)) if moment.tzinfo else None


def _record(
    engine: Engine, settings: Settings, batch: Sequence[Claimed], outcomes: Sequence[Outcome]
) -> None:
    now = clock.now()
    with db.write_unit(engine) as session:
        rows = _by_id(session, WebhookDelivery, {claimed.id for claimed in batch})
        webhooks = _by_id(session, Webhook, {claimed.webhook_id for claimed in batch})
        for claimed, outcome in zip(batch, outcomes, strict=True):
            row = rows.get(claimed.id)
            if row is None or row.status != PENDING:
                continue
            webhook = webhooks.get(claimed.webhook_id)
            row.last_status = outcome.status
            row.last_error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
            if outcome.succeeded:
                row.status, row.delivered_at = SUCCEEDED, now
                if webhook is not None:
                    webhook.failing_since = None
                continue
            _failed_attempt(settings, row, claimed, outcome, now)
            if webhook is not None:
                _count_failure(settings, webhook, outcome, now)


def _failed_attempt(
    settings: Settings, row: WebhookDelivery, claimed: Claimed, outcome: Outcome, now: datetime
) -> None:
    give_up_at = claimed.event_created_at + timedelta(hours=settings.webhook_retry_hours)
    if outcome.permanent or now >= give_up_at:
        row.status = FAILED
        log.info("webhook delivery %s failed: %s", claimed.id, outcome.error)
        return
    pause = retry_pause(settings.webhook_retry_base_seconds, claimed.attempts)
    if outcome.retry_after is not None:
        pause = max(pause, min(outcome.retry_after, MAX_PAUSE))
    row.next_attempt_at = min(now + pause, give_up_at)


def _count_failure(settings: Settings, webhook: Webhook, outcome: Outcome, now: datetime) -> None:
    if webhook.failing_since is None:
        webhook.failing_since = now
    if webhook.active and now - webhook.failing_since >= timedelta(
        hours=settings.webhook_disable_after_hours
    ):
        webhook.active = False
        webhook.disabled_at = now
        webhook.disabled_reason = (
            f"Every delivery failed since {webhook.failing_since.isoformat(timespec='seconds')}"
            f" (last: {outcome.error or 'no answer'}). Fix the receiver, then set active to true again."
        )[:MAX_ERROR_LENGTH]
        log.warning("webhook %s disabled: %s", webhook.id, webhook.disabled_reason)


# --- the dispatcher thread ----------------------------------------------------------------------


class WebhookDispatcher(BackgroundLoop):
    """Runs ``deliver_due`` every ``interval`` seconds, and after a transaction that queued deliveries
    commits (``webhook_events.WEBHOOKS_QUEUED``)."""

    name, what = "caledee-webhooks", "webhooks"
    queued_flag = WEBHOOKS_QUEUED
    # Woken by a commit: that request is still answering in this process. A round started at once
    # contended with it for the GIL (bench/webhooks.py: POST /bookings 10-20 % slower with 3
    # subscriptions); a moment later it has answered, and several commits share a round.
    nudge_delay = NUDGE_DELAY_SECONDS

    def __init__(self, engine: Engine, settings: Settings, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.engine, self.settings = engine, settings

    def run_round(self) -> None:
        deliver_due(self.engine, self.settings, clock.now())
