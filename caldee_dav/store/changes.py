"""The change log behind sync: one row per href, at the revision of its last change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.models import Change, Collection


def changes_since(session: Session, collection: Collection, revision: int) -> list[str]:
    """Every href changed or deleted after ``revision``, each once."""
    query = select(Change.href).where(Change.collection_id == collection.id, Change.revision > revision)
    return list(session.scalars(query.order_by(Change.revision)))


def record_change(session: Session, collection: Collection, href: str, *, deleted: bool) -> None:
    params = change_params(collection, href, deleted=deleted)
    if db.on_postgresql(session):
        session.connection().execute(_CHANGE_POSTGRESQL, params)
    else:
        _CHANGE_SQLITE.run(session, params)


def change_params(collection: Collection, href: str, *, deleted: bool) -> dict[str, Any]:
    return {"collection_id": collection.id, "href": href, "revision": collection.revision, "deleted": deleted}


def change_statement(dialect_insert: Callable[[Table], Any]) -> Any:
    """Record that :href changed (or went) at the collection's current revision: one row per href."""
    changes = Change.__table__
    return (
        dialect_insert(changes)
        .values({name: bindparam(name) for name in ("collection_id", "href", "revision", "deleted")})
        .on_conflict_do_update(
            index_elements=["collection_id", "href"],
            set_={"revision": bindparam("revision"), "deleted": bindparam("deleted")},
        )
    )


_CHANGE_POSTGRESQL = change_statement(pg_insert)
_CHANGE_SQLITE = db.PlainStatement(change_statement(sqlite_insert))
