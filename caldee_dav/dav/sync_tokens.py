"""Sync tokens (RFC 6578): a URI carrying the collection's version, so a token names its revision."""

from __future__ import annotations

from caldee_dav import store
from caldee_dav.models import Collection

SYNC_TOKEN_PREFIX = "http://caledee.org/ns/sync/"


def sync_token(collection: Collection) -> str:
    return SYNC_TOKEN_PREFIX + store.collection_version(collection)


def parse_sync_token(collection: Collection, token: str) -> int:
    """The revision in ``token``; ValueError if it is not one of this collection's tokens."""
    prefix = SYNC_TOKEN_PREFIX + store.collection_version(collection).rsplit("-", 1)[0] + "-"
    if not token.startswith(prefix):
        raise ValueError(f"sync token {token!r} does not belong to this collection")
    try:
        revision = int(token[len(prefix) :])
    except ValueError as exc:
        raise ValueError(f"malformed sync token {token!r}") from exc
    if not 0 <= revision <= collection.revision:
        raise ValueError(f"sync token {token!r} is from the future")
    return revision
