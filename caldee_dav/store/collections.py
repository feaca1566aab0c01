"""Collections: create, find, delete, and the revision every write bumps (the calendar's lock)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import (
    Update,
    bindparam,
    event,
    select,
    update,
)
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from caldee_dav import clock
from caldee_dav.db import PlainStatement
from caldee_dav.errors import NotFound
from caldee_dav.models import Collection, User


def get_collection(session: Session, path: str) -> Collection | None:
    return session.scalars(select(Collection).where(Collection.path == path)).first()


def require_collection(session: Session, path: str) -> Collection:
    collection = get_collection(session, path)
    if collection is None:
        raise NotFound(f"collection {path!r} does not exist")
    return collection


def child_collections(session: Session, path: str) -> list[Collection]:
    """Direct children of ``path`` ("" is the root)."""
    prefix = f"{path}/" if path else ""
    query = select(Collection).where(Collection.path.like(escape_like(prefix) + "%", escape="\\"))
    if prefix:
        query = query.where(Collection.path != path)
    return [c for c in session.scalars(query.order_by(Collection.path)) if "/" not in c.path[len(prefix) :]]


def get_collection_by_id(session: Session, collection_id: int) -> Collection | None:
    return session.get(Collection, collection_id)


def collection_paths(session: Session, collection_ids: Iterable[int]) -> dict[int, str]:
    wanted = list(collection_ids)
    if not wanted:
        return {}
    query = select(Collection.id, Collection.path).where(Collection.id.in_(wanted))
    return {row.id: row.path for row in session.execute(query)}


def calendar_spans(session: Session, owner_id: str, among: Iterable[int] | None = None) -> dict[int, int]:
    """The owner's calendars (all, or those of ``among``) with the longest instance indexed in each,
    in seconds (it bounds an occurrence index scan), by path."""
    query = select(Collection.id, Collection.max_span).where(
        Collection.owner_id == owner_id, Collection.tag == "VCALENDAR"
    )
    if among is not None:
        query = query.where(Collection.id.in_(list(among)))
    return {row.id: row.max_span or 0 for row in session.execute(query.order_by(Collection.path))}


def calendar_by_public_id(session: Session, public_id: str) -> Collection | None:
    """The calendar (a collection tagged VCALENDAR) whose REST id is ``public_id``; the caller checks
    whose it is."""
    return session.scalars(_CALENDAR_BY_PUBLIC_ID, {"public_id": public_id}).one_or_none()


class CalendarHead(NamedTuple):
    """What working out a change of a calendar's events needs of it, without loading it: its id and
    the zones its floating times are placed in (its own, else its owner's)."""

    id: int
    timezone: str | None
    owner_timezone: str | None


def calendar_head_by_public_id(session: Session, public_id: str) -> CalendarHead | None:
    row = _HEAD_BY_PUBLIC_ID.first(session, {"public_id": public_id})
    return CalendarHead(*row) if row is not None else None


def calendar_head_by_inbound_token(session: Session, token: str) -> CalendarHead | None:
    row = _HEAD_BY_INBOUND_TOKEN.first(session, {"token": token})
    return CalendarHead(*row) if row is not None else None


def calendar_head_by_id(session: Session, collection_id: int) -> CalendarHead | None:
    """The head of the calendar a transaction already holds (its zones as they are now, read with one
    plain statement rather than by loading the owner)."""
    row = _HEAD_BY_ID.first(session, {"collection_id": collection_id})
    return CalendarHead(*row) if row is not None else None


def calendar_for_writing_by_public_id(session: Session, public_id: str) -> Collection | None:
    """``calendar_by_public_id``'s calendar as a detached object, read with Core (the ORM's load costs
    three times as much, on the path of every message mailed in): for a unit that writes the calendar's
    objects, not its own columns (changes to the object are not flushed)."""
    return _detached(session, _CALENDAR_ROW_BY_PUBLIC_ID, {"public_id": public_id})


def calendar_for_writing_by_inbound_token(session: Session, token: str) -> Collection | None:
    """``calendar_for_writing_by_public_id`` for the calendar whose inbound URL carries ``token``."""
    return _detached(session, _CALENDAR_ROW_BY_INBOUND_TOKEN, {"token": token})


def _detached(session: Session, statement: PlainStatement, params: dict[str, Any]) -> Collection | None:
    """The collection a statement of all its columns (``_COLUMNS``) finds, as a detached object."""
    row = statement.first(session, params)
    return _collection(row) if row is not None else None


def _collection(row: tuple[Any, ...]) -> Collection:
    return Collection(**dict(zip(_COLUMNS, row, strict=True)))


# Built once, with named parameters: every message mailed in looks its calendar up, and building a
# statement (its clauses, then its cache key to find the compiled form) costs more than SQLite's lookup.
_CALENDAR_BY_PUBLIC_ID = select(Collection).where(
    Collection.public_id == bindparam("public_id"), Collection.tag == "VCALENDAR"
)
_HEADS = select(Collection.id, Collection.timezone, User.timezone).outerjoin(
    User, User.id == Collection.owner_id
)
_HEAD_BY_PUBLIC_ID = PlainStatement(
    _HEADS.where(Collection.public_id == bindparam("public_id"), Collection.tag == "VCALENDAR")
)
_HEAD_BY_INBOUND_TOKEN = PlainStatement(
    _HEADS.where(Collection.inbound_token == bindparam("token"), Collection.tag == "VCALENDAR")
)
_HEAD_BY_ID = PlainStatement(_HEADS.where(Collection.id == bindparam("collection_id")))
# Every column of a collection, in the order the whole-row statements return them.
_COLUMNS = tuple(column.name for column in Collection.__table__.c)
_CALENDAR_ROW_BY_PUBLIC_ID = PlainStatement(
    select(*Collection.__table__.c).where(
        Collection.public_id == bindparam("public_id"), Collection.tag == "VCALENDAR"
    )
)
_CALENDAR_ROW_BY_INBOUND_TOKEN = PlainStatement(
    select(*Collection.__table__.c).where(
        Collection.inbound_token == bindparam("token"), Collection.tag == "VCALENDAR"
    )
)


def calendars_of_owner(session: Session, owner_id: str) -> list[Collection]:
    """The owner's calendars (collections tagged VCALENDAR), by path."""
    query = select(Collection).where(Collection.owner_id == owner_id, Collection.tag == "VCALENDAR")
    return list(session.scalars(query.order_by(Collection.path)))


@dataclass(frozen=True)
class CollectionFields:
    """What a collection holds besides its objects: the typed columns, and every other property as given."""

    tag: str = ""  # "VCALENDAR", "VADDRESSBOOK", or "" for a plain collection
    display_name: str | None = None
    color: str | None = None
    description: str | None = None
    props: dict[str, str] = field(default_factory=dict)


def set_collection_fields(session: Session, collection: Collection, fields: CollectionFields) -> None:
    """Replace every field and property of ``collection`` (a new revision)."""
    collection.tag = fields.tag
    collection.display_name, collection.color = fields.display_name, fields.color
    collection.description = fields.description
    collection.props = dict(fields.props)
    bump_revision(session, collection)


def collection_fields(collection: Collection) -> CollectionFields:
    return CollectionFields(
        tag=collection.tag or "",
        display_name=collection.display_name,
        color=collection.color,
        description=collection.description,
        props={key: str(value) for key, value in (collection.props or {}).items()},
    )


def create_collection(
    session: Session, path: str, *, owner_id: str | None, fields: CollectionFields | None = None
) -> Collection:
    collection = Collection(path=path, owner_id=owner_id, slug=posixpath.basename(path), props={})
    session.add(collection)
    session.flush()
    if fields is not None:
        set_collection_fields(session, collection, fields)
    return collection


BUMPED_REVISIONS = "caledee_bumped_revisions"


@event.listens_for(Session, "after_transaction_end")
def _forget_bumped_revisions(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(BUMPED_REVISIONS, None)


def bump_revision(session: Session, collection: Collection) -> int:
    """The revision this transaction's changes to ``collection`` get: one more than the last committed.

    The first call in a transaction takes the row lock (held until commit on PostgreSQL); later calls
    reuse the revision. One revision per transaction keeps a bulk import from updating the same row
    thousands of times, whose row versions PostgreSQL would have to walk on every later update.
    """
    bumped: dict[int, int] = session.info.setdefault(BUMPED_REVISIONS, {})
    if collection.id in bumped:
        collection.revision = bumped[collection.id]
        return collection.revision
    now = clock.now()
    # Core, a statement built once: the ORM's UPDATE (session synchronisation) cost more than the row.
    # Pending changes are flushed first, as the ORM's autoflush did (the order locks are taken in);
    # the in-session object is told the new values as committed: not a change to flush.
    session.flush()
    row = _BUMP_BY_ID.first(session, {"collection_id": collection.id, "now": now})
    if row is None:
        raise NoResultFound(f"collection {collection.id} does not exist")
    revision, updated_at = row
    set_committed_value(collection, "revision", revision)
    set_committed_value(collection, "updated_at", updated_at)
    bumped[collection.id] = revision
    return revision


def lock_collection_for_write(session: Session, path: str) -> Collection | None:
    """``get_collection`` and ``bump_revision`` in one statement, for a writer that knows it will
    change the collection: the row comes back locked with this transaction's revision, as a detached
    object (read with Core: this is on the path of every CalDAV PUT). It must be the transaction's
    first bump of that collection (one revision per transaction)."""
    bumped: dict[int, int] = session.info.setdefault(BUMPED_REVISIONS, {})
    row = _LOCK_BY_PATH.first(session, {"collection_path": path, "now": clock.now()})
    if row is None:
        return None
    collection = _collection(row)
    if collection.id in bumped:
        raise RuntimeError("lock_collection_for_write must be the transaction's first bump")
    bumped[collection.id] = collection.revision
    return collection


def _bump(where: Any, now: Any) -> Update:
    """The one statement that moves a collection to its next revision (and takes its row lock)."""
    return update(Collection).where(where).values(revision=Collection.revision + 1, updated_at=now)


# ``_bump`` built once with named parameters, returning the whole row: it runs on every CalDAV PUT.
_LOCK_BY_PATH = PlainStatement(
    _bump(Collection.path == bindparam("collection_path"), bindparam("now")).returning(
        *Collection.__table__.c
    )
)


_BUMP_BY_ID = PlainStatement(
    _bump(Collection.id == bindparam("collection_id"), bindparam("now")).returning(
        Collection.revision, Collection.updated_at
    )
)


def lock_collection(session: Session, collection_id: int) -> None:
    """Row-lock the collection until the transaction ends, without a new revision (PostgreSQL; on
    SQLite a write transaction already holds the database's write lock)."""
    session.execute(select(Collection.id).where(Collection.id == collection_id).with_for_update())


def collection_version(collection: Collection) -> str:
    """Changes with every write to the collection, and differs between two collections that had the
    same id: SQLite hands a deleted collection's id to the next one created (no AUTOINCREMENT), so
    the creation time goes in too. The ctag and every sync token are built on it."""
    created = int(collection.created_at.timestamp() * 1_000_000)
    return f"{collection.id}-{created:x}-{collection.revision}"


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
