"""Sending the outgoing mail queue (``OutboundMail`` rows that ``mail_out`` queued) after commit.

One round, ``deliver_due``:

1. claim a small batch of due pending rows in a short write transaction: each gets a lease
   (``next_attempt_at`` = now + ``LEASE``) and ``attempts`` + 1, then the transaction commits. On
   PostgreSQL the claim reads ``FOR UPDATE SKIP LOCKED``, so processes claiming at once take different
   rows; on SQLite the write unit's BEGIN IMMEDIATE serializes claimers. A claimed row is not due again
   before its lease ends, so no other process sends it meanwhile;
2. send each message with no transaction open: to the relay (``smtp_host``, smtplib with the
   configured security and login), or, with no relay configured, as an ``.eml`` file in the outbox
   folder (written to a temporary name, then renamed: a reader never sees half a message);
3. record each outcome in its own short transaction: ``sent``; or, on failure, the error and the next
   attempt (exponential backoff from ``mail_retry_base_seconds``, doubled per attempt, capped at
   an hour, with jitter so that many messages refused together do not come back together:
   ``background.retry_pause``) until
   ``mail_retry_hours`` after the message was queued, then ``failed`` (logged at WARNING). A permanent
   refusal (5xx for every recipient, or for the message itself) fails at once.

A crash between the claim and the record leaves the row pending with its lease: it is sent when the
lease ends. Delayed, never lost (and at worst sent twice, if the crash fell between send and record).

``MailSender`` runs rounds on a thread of each server process: every ``interval`` seconds, and at once
when a transaction that queued mail commits.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from caldee_dav import clock, db
from caldee_dav.config import Settings
from caldee_dav.models import OutboundMail
from caldee_dav.scheduling.background import BackgroundLoop, retry_pause
from caldee_dav.scheduling.mail_out import MAIL_QUEUED

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
BATCH = 10
# Long enough for a batch of sends at SMTP_TIMEOUT each to finish before another process may claim it.
LEASE = timedelta(minutes=5)
SMTP_TIMEOUT = 20.0
MAX_ERROR_LENGTH = 2000
LINE_END = re.compile(r"\r?\n")


@dataclass(frozen=True)
class Claimed:
    """A claimed message, detached from its session: what sending it needs."""

    id: str
    sender: str
    recipients: list[str]
    message: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: sent (perhaps not to every recipient: ``error`` says who refused),
    to be retried, or refused for good."""

    sent: bool
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class QueueCounts:
    pending: int
    failed: int


# --- one round ----------------------------------------------------------------------------------


def deliver_due(engine: Engine, settings: Settings, outbox_dir: Path, now: datetime) -> int:
    """Send every message due at ``now`` (batch after batch); the number sent."""
    sent = 0
    if not _any_due(engine, now):  # a read: no write lock taken every second when nothing is queued
        return 0
    while batch := _claim(engine, now):
        for claimed, outcome in zip(batch, _send_batch(settings, outbox_dir, batch), strict=True):
            _record(engine, settings, claimed, outcome)
            sent += outcome.sent
        if len(batch) < BATCH:
            break
    return sent


def _due(now: datetime) -> Any:
    return select(OutboundMail).where(OutboundMail.status == PENDING, OutboundMail.next_attempt_at <= now)


def _any_due(engine: Engine, now: datetime) -> bool:
    with db.read_unit(engine) as session:
        return session.scalars(_due(now).with_only_columns(OutboundMail.id).limit(1)).first() is not None


def _claim(engine: Engine, now: datetime) -> list[Claimed]:
    with db.write_unit(engine) as session:
        query = _due(now).order_by(OutboundMail.next_attempt_at, OutboundMail.id).limit(BATCH)
        if db.on_postgresql(session):
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
        return [
            Claimed(row.id, row.sender, list(row.recipients), row.message, row.created_at, row.attempts)
            for row in rows
        ]


def _record(engine: Engine, settings: Settings, claimed: Claimed, outcome: Outcome) -> None:
    now = clock.now()
    with db.write_unit(engine) as session:
        row = session.get(OutboundMail, claimed.id)
        if row is None or row.status != PENDING:
            return
        row.last_error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
        if outcome.sent:
            row.status, row.sent_at = SENT, now
            if outcome.error:
                log.warning("mail %s sent, but %s", claimed.id, outcome.error)
            return
        give_up_at = claimed.created_at + timedelta(hours=settings.mail_retry_hours)
        if outcome.permanent or now >= give_up_at:
            row.status = FAILED
            why = "refused" if outcome.permanent else f"not sent after {claimed.attempts} attempts"
            log.warning("mail %s failed (%s): %s", claimed.id, why, outcome.error)
            return
        pause = retry_pause(settings.mail_retry_base_seconds, claimed.attempts)
        row.next_attempt_at = min(now + pause, give_up_at)


def queue_counts(engine: Engine) -> QueueCounts:
    """How many messages wait to be sent (or retried), and how many were given up."""
    with db.read_unit(engine) as session:
        query = select(OutboundMail.status, func.count()).group_by(OutboundMail.status)
        counts = dict(session.execute(query).tuples().all())
    return QueueCounts(pending=counts.get(PENDING, 0), failed=counts.get(FAILED, 0))


# --- sending ------------------------------------------------------------------------------------


def _send_batch(settings: Settings, outbox_dir: Path, batch: Sequence[Claimed]) -> list[Outcome]:
    if not settings.smtp_host:
        return [_write_eml(outbox_dir, claimed) for claimed in batch]
    return _relay_batch(settings, batch)


def _write_eml(outbox_dir: Path, claimed: Claimed) -> Outcome:
    """``<outbox>/<created>-<id>.eml``, renamed into place once written (the same name on a retry)."""
    name = f"{claimed.created_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{claimed.id}.eml"
    try:
        outbox_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=outbox_dir, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
                file.write(claimed.message)
            os.replace(temporary, outbox_dir / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        return Outcome(sent=False, error=f"cannot write to the outbox {outbox_dir}: {exc}")
    return Outcome(sent=True)


def _relay_batch(settings: Settings, batch: Sequence[Claimed]) -> list[Outcome]:
    """One connection for the batch; a message that breaks it gets a new one for the next."""
    outcomes: list[Outcome] = []
    relay: smtplib.SMTP | None = None
    try:
        for index, claimed in enumerate(batch):
            if relay is None:
                try:
                    relay = _connect(settings)
                except (OSError, smtplib.SMTPException) as exc:
                    # The relay is down or refuses us: the rest of the batch would only wait for the same.
                    error = f"relay {settings.smtp_host}:{settings.smtp_port}: {_describe(exc)}"
                    outcomes += [Outcome(sent=False, error=error)] * (len(batch) - index)
                    break
            outcome = _relay_one(relay, claimed)
            outcomes.append(outcome)
            if not outcome.sent and not outcome.permanent:
                _quit(relay)
                relay = None
    finally:
        if relay is not None:
            _quit(relay)
    return outcomes


def _connect(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_security == "tls":
        context = ssl.create_default_context()
        relay: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT, context=context
        )
    else:
        relay = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
    try:
        if settings.smtp_security == "starttls":
            relay.starttls(context=ssl.create_default_context())  # raises when the relay does not offer it
        if settings.smtp_user:
            relay.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        _quit(relay)
        raise
    return relay


def _relay_one(relay: smtplib.SMTP, claimed: Claimed) -> Outcome:
    data = LINE_END.sub("\r\n", claimed.message).encode("utf-8")  # stored with \n; SMTP speaks CRLF
    try:
        refused = relay.sendmail(claimed.sender, claimed.recipients, data)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome(sent=False, error=_refusals(exc.recipients), permanent=all(c >= 500 for c in codes))
    except smtplib.SMTPDataError as exc:  # the message itself: 5xx is final (too large, rejected as spam)
        return Outcome(sent=False, error=_describe(exc), permanent=exc.smtp_code >= 500)
    except (OSError, smtplib.SMTPException) as exc:  # the connection, or the sender refused: try again
        return Outcome(sent=False, error=_describe(exc))
    if refused:
        return Outcome(sent=True, error=_refusals(refused))
    return Outcome(sent=True)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    parts = [f"{address}: {code} {_text(reply)}" for address, (code, reply) in refused.items()]
    return "recipients refused: " + "; ".join(parts)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _quit(relay: smtplib.SMTP) -> None:
    try:
        relay.quit()
    except (OSError, smtplib.SMTPException):
        relay.close()


# --- the sender thread --------------------------------------------------------------------------


class MailSender(BackgroundLoop):
    """Runs ``deliver_due`` every ``interval`` seconds, and after a transaction that queued mail commits
    (``mail_out.MAIL_QUEUED``)."""

    name, what = "caledee-mail-sender", "outgoing mail"
    queued_flag = MAIL_QUEUED

    def __init__(self, engine: Engine, settings: Settings, outbox_dir: Path, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.engine, self.settings, self.outbox_dir = engine, settings, outbox_dir

    def run_round(self) -> None:
        deliver_due(self.engine, self.settings, self.outbox_dir, clock.now())
