"""Idempotency keys: the first answer to a request is kept and replayed to its retries.

Protocol, all inside the caller's write transaction (the one that makes the change):

1. ``claim`` looks the key up. A stored answer for the same request is returned for replay; the same key
   with a different request is a Conflict. Otherwise a placeholder row is inserted and flushed: a
   concurrent twin request blocks on the unique index (PostgreSQL) or on the write lock (SQLite) until
   the first transaction ends.
2. The change is made; ``complete`` stores its status and body in the placeholder.
3. Commit. If the change fails, the rollback removes the placeholder, so a retry runs again.

A twin that loses the unique-index race gets ``ConcurrentClaim`` from ``claim``; the edge then opens a new
transaction and claims again, which now finds the committed answer and replays it.

Keys and scopes are opaque here: the edge says where a key comes from (the REST API's Idempotency-Key
header) and what a scope is (the REST API's method and path).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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


class KeyReused(Conflict):
    """The key was already used, in this scope, for a different request."""

    def __init__(self, key: str, scope: str) -> None:
        super().__init__(
            f"The idempotency key {key!r} was already used for a different request to {scope};"
            " use a new key for a new request."
        )
        self.key, self.scope = key, scope


class ConcurrentClaim(Conflict):
    """A concurrent request with the same key and scope claimed it first (the unique index refused this
    one's placeholder); this transaction is lost: claim again in a new one."""

    def __init__(self, key: str, scope: str) -> None:
        super().__init__(f"A concurrent request claimed the idempotency key {key!r} for {scope} first.")
        self.key, self.scope = key, scope


def is_valid_key(key: str) -> bool:
    """Whether ``key`` can be stored: 1 to MAX_KEY_LENGTH characters, no surrounding blanks."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key == key.strip()


def claim(session: Session, user_id: str, scope: str, key: str, digest: str) -> StoredAnswer | IdempotencyKey:
    """The stored answer to replay, or the new placeholder row to ``complete`` after the change.

    Raises KeyReused for the same key with a different request, and ConcurrentClaim when a concurrent
    twin won the race for the key.
    """
    if not is_valid_key(key):
        raise InvalidInput(
            f"An idempotency key must be 1 to {MAX_KEY_LENGTH} characters, with no blanks around them."
        )
    existing = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    ).first()
    if existing is not None:
        if existing.request_hash != digest:
            raise KeyReused(key, scope)
        return StoredAnswer(existing.status_code, existing.body)
    row = IdempotencyKey(
        user_id=user_id, scope=scope, key=key, request_hash=digest, status_code=PENDING_STATUS, body=None
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConcurrentClaim(key, scope) from exc
    return row


def complete(row: IdempotencyKey, status: int, body: dict[str, Any] | None) -> None:
    row.status_code = status
    row.body = body
