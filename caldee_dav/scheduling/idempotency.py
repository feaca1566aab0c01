"""Idempotency keys: the first answer to a request is kept and replayed to its retries.

Protocol, all inside the caller's write transaction (the one that makes the change):

1. ``claim`` looks the key up. A stored answer for the same request is returned for replay; the same key
   with a different request is a Conflict. Otherwise a placeholder row is inserted and flushed: a
   concurrent twin request blocks on the unique index (PostgreSQL) or on the write lock (SQLite) until
   the first transaction ends.
2. The change is made; ``complete`` stores its status and body in the placeholder.
3. Commit. If the change fails, the rollback removes the placeholder, so a retry runs again.

A twin that loses the unique-index race gets an IntegrityError from ``claim``; the edge then opens a new
transaction and claims again, which now finds the committed answer and replays it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.errors import Conflict, InvalidInput
from caldee_dav.models import IdempotencyKey

MAX_KEY_LENGTH = 255
PENDING_STATUS = 0


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any] | None


def request_hash(payload: Any) -> str:
    """A stable digest of a request (JSON-able payload; key order does not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters.")
    return key


def claim(session: Session, user_id: str, scope: str, key: str, digest: str) -> StoredAnswer | IdempotencyKey:
    """The stored answer to replay, or the new placeholder row to ``complete`` after the change."""
    existing = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    ).first()
    if existing is not None:
        if existing.request_hash != digest:
            raise Conflict(
                f"The Idempotency-Key {key!r} was already used for a different request to {scope};"
                " use a new key for a new request."
            )
        return StoredAnswer(existing.status_code, existing.body)
    row = IdempotencyKey(
        user_id=user_id, scope=scope, key=key, request_hash=digest, status_code=PENDING_STATUS, body=None
    )
    session.add(row)
    session.flush()
    return row


def complete(row: IdempotencyKey, status: int, body: dict[str, Any] | None) -> None:
    row.status_code = status
    row.body = body
