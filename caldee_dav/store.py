"""The only SQL on collection, object, occurrence and change tables.

Every function takes the caller's session: the caller opens the unit of work (``db.write_unit``) and
commits it; nothing here commits. Each write bumps the collection's revision first, which takes
the collection's row lock on PostgreSQL, so writers of one collection queue and sync tokens are
handed out in commit order.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    CompoundSelect,
    Insert,
    Integer,
    LargeBinary,
    Row,
    Select,
    String,
    Table,
    Update,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    event,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import column as sa_column
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction

from caldee_dav import db
from caldee_dav.errors import NotFound, PreconditionFailed
from caldee_dav.ical import TIMESTAMP_MAX, ObjectIndex
from caldee_dav.models import CalendarObject, Change, Collection, Occurrence, utcnow

# Collection properties Radicale calls meta, mapped to the typed columns we keep them in.
META_COLUMNS = {
    "D:displayname": "display_name",
    "ICAL:calendar-color": "color",
    "C:calendar-description": "description",
    "tag": "tag",
}


# --- collections ------------------------------------------------------------------------------


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
    query = select(Collection).where(Collection.path.like(_escape_like(prefix) + "%", escape="\\"))
    if prefix:
        query = query.where(Collection.path != path)
    return [c for c in session.scalars(query.order_by(Collection.path)) if "/" not in c.path[len(prefix) :]]


def collection_meta(collection: Collection) -> dict[str, str]:
    """Radicale's view of a collection's properties."""
    meta = {key: str(value) for key, value in (collection.props or {}).items()}
    for key, column in META_COLUMNS.items():
        value = getattr(collection, column)
        if value:
            meta[key] = value
    if collection.timezone and "C:calendar-timezone" not in meta:
        pass  # The zone name alone is not a VTIMEZONE; only what a client set is reported.
    return meta


SUPPORTED_COMPONENTS = "C:supported-calendar-component-set"


def accepts_component(collection: Collection, component: str) -> bool:
    """Whether a calendar takes an object of ``component`` (RFC 4791 5.3.2.1): any kind, unless the
    supported-calendar-component-set a client gave it at creation names fewer (a task list)."""
    allowed = (collection.props or {}).get(SUPPORTED_COMPONENTS)
    if not allowed or collection.tag != "VCALENDAR" or not component:
        return True
    return component.upper() in {name.strip().upper() for name in str(allowed).split(",")}


def set_collection_meta(session: Session, collection: Collection, props: dict[str, str]) -> None:
    """Replace every property (Radicale's set_meta semantics), keeping known ones in columns."""
    extra: dict[str, str] = {}
    for column in META_COLUMNS.values():
        setattr(collection, column, "" if column == "tag" else None)
    for key, value in props.items():
        if key in META_COLUMNS:
            setattr(collection, META_COLUMNS[key], value)
        else:
            extra[key] = value
    collection.props = extra
    bump_revision(session, collection)


def create_collection(
    session: Session, path: str, *, owner_id: str | None, props: dict[str, str] | None = None
) -> Collection:
    collection = Collection(path=path, owner_id=owner_id, slug=posixpath.basename(path), props={})
    session.add(collection)
    session.flush()
    if props:
        set_collection_meta(session, collection, props)
    return collection


def delete_collection(session: Session, collection: Collection) -> None:
    """Delete a collection, its descendants and everything in them."""
    prefix = _escape_like(collection.path + "/") + "%"
    doomed = select(Collection.id).where(
        or_(Collection.id == collection.id, Collection.path.like(prefix, escape="\\"))
    )
    ids = list(session.scalars(doomed))
    object_ids = select(CalendarObject.id).where(CalendarObject.collection_id.in_(ids))
    session.execute(delete(Occurrence).where(Occurrence.object_id.in_(object_ids)))
    session.execute(delete(CalendarObject).where(CalendarObject.collection_id.in_(ids)))
    session.execute(delete(Change).where(Change.collection_id.in_(ids)))
    session.execute(delete(Collection).where(Collection.id.in_(ids)))
    session.expunge_all()


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
    revision = session.execute(
        _bump(Collection.id == collection.id, utcnow()).returning(Collection.revision)
    ).scalar_one()
    collection.revision = bumped[collection.id] = revision
    return revision


def lock_collection_for_write(session: Session, path: str) -> Collection | None:
    """``get_collection`` and ``bump_revision`` in one statement, for a writer that knows it will
    change the collection: the row comes back locked with this transaction's revision, as a detached
    object (read with Core: this is on the path of every CalDAV PUT). It must be the transaction's
    first bump of that collection (one revision per transaction)."""
    bumped: dict[int, int] = session.info.setdefault(BUMPED_REVISIONS, {})
    row = session.connection().execute(_LOCK_BY_PATH, {"collection_path": path, "now": utcnow()}).first()
    if row is None:
        return None
    if row.id in bumped:
        raise RuntimeError("lock_collection_for_write must be the transaction's first bump")
    bumped[row.id] = row.revision
    return Collection(**row._mapping)


def _bump(where: Any, now: Any) -> Update:
    """The one statement that moves a collection to its next revision (and takes its row lock)."""
    return update(Collection).where(where).values(revision=Collection.revision + 1, updated_at=now)


# ``_bump`` built once with named parameters, returning the whole row: it runs on every CalDAV PUT.
_LOCK_BY_PATH = _bump(Collection.path == bindparam("collection_path"), bindparam("now")).returning(
    *Collection.__table__.c
)


def collection_version(collection: Collection) -> str:
    """Changes with every write to the collection, and differs between two collections that had the
    same id: SQLite hands a deleted collection's id to the next one created (no AUTOINCREMENT), so
    the creation time goes in too. The ctag and every sync token are built on it."""
    created = int(collection.created_at.timestamp() * 1_000_000)
    return f"{collection.id}-{created:x}-{collection.revision}"


SYNC_TOKEN_PREFIX = "http://caledee.org/ns/sync/"


def sync_token(collection: Collection) -> str:
    return SYNC_TOKEN_PREFIX + collection_version(collection)


def parse_sync_token(collection: Collection, token: str) -> int:
    """The revision in ``token``; ValueError if it is not one of this collection's tokens."""
    prefix = SYNC_TOKEN_PREFIX + collection_version(collection).rsplit("-", 1)[0] + "-"
    if not token.startswith(prefix):
        raise ValueError(f"sync token {token!r} does not belong to this collection")
    try:
        revision = int(token[len(prefix) :])
    except ValueError as exc:
        raise ValueError(f"malformed sync token {token!r}") from exc
    if not 0 <= revision <= collection.revision:
        raise ValueError(f"sync token {token!r} is from the future")
    return revision


def changes_since(session: Session, collection: Collection, revision: int) -> list[str]:
    """Every href changed or deleted after ``revision``, each once."""
    query = select(Change.href).where(Change.collection_id == collection.id, Change.revision > revision)
    return list(session.scalars(query.order_by(Change.revision)))


# --- objects ----------------------------------------------------------------------------------


def get_object(session: Session, collection_id: int, href: str) -> CalendarObject | None:
    return session.scalars(
        select(CalendarObject).where(
            CalendarObject.collection_id == collection_id, CalendarObject.href == href
        )
    ).first()


def get_objects(session: Session, collection_id: int, hrefs: Iterable[str]) -> list[CalendarObject]:
    found: list[CalendarObject] = []
    for chunk in _href_chunks(hrefs):
        found.extend(
            session.scalars(
                select(CalendarObject).where(
                    CalendarObject.collection_id == collection_id, CalendarObject.href.in_(chunk)
                )
            )
        )
    return found


def _href_chunks(hrefs: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """Distinct hrefs in chunks small enough for one ``IN (...)``."""
    wanted = list(dict.fromkeys(hrefs))
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]


def all_objects(session: Session, collection_id: int) -> list[CalendarObject]:
    return list(
        session.scalars(
            select(CalendarObject)
            .where(CalendarObject.collection_id == collection_id)
            .order_by(CalendarObject.href)
        )
    )


class ObjectHead(NamedTuple):
    """What a writer checks of an existing object, without its text."""

    id: int
    href: str
    uid: str
    etag: str


def objects_at_href_or_uid(
    session: Session, collection_id: int, href: str, uid: str
) -> tuple[ObjectHead | None, ObjectHead | None]:
    """(the object at ``href``, another object with ``uid``) in one query: what a PUT checks."""
    params = {"collection_id": collection_id, "href": href, "uid": uid}
    found = [ObjectHead(*row) for row in session.connection().execute(_HEADS_AT_HREF_OR_UID, params)]
    at_href = next((head for head in found if head.href == href), None)
    same_uid = next((head for head in found if head.href != href and head.uid == uid), None)
    return at_href, same_uid


def _heads_at_href_or_uid() -> Select:
    in_collection = CalendarObject.collection_id == bindparam("collection_id")
    # A UNION of two index lookups: with "href = ? OR uid = ?" SQLite scans the whole collection.
    ids = union_all(
        select(CalendarObject.id).where(in_collection, CalendarObject.href == bindparam("href")),
        select(CalendarObject.id).where(in_collection, CalendarObject.uid == bindparam("uid")),
    )
    heads = select(CalendarObject.id, CalendarObject.href, CalendarObject.uid, CalendarObject.etag)
    return heads.where(CalendarObject.id.in_(ids))


# Built once: SQLAlchemy memoizes a statement's cache key, and this runs on every CalDAV PUT.
_HEADS_AT_HREF_OR_UID = _heads_at_href_or_uid()


def object_by_uid(session: Session, collection_id: int, uid: str) -> CalendarObject | None:
    return session.scalars(
        select(CalendarObject).where(CalendarObject.collection_id == collection_id, CalendarObject.uid == uid)
    ).first()


def count_objects(session: Session, collection_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CalendarObject)
            .where(CalendarObject.collection_id == collection_id)
        )
        or 0
    )


def last_modified(collection: Collection) -> datetime:
    """When anything in the collection last changed: every change bumps the revision and this stamp."""
    return collection.updated_at


def put_object(
    session: Session,
    collection: Collection,
    href: str,
    text: str,
    etag: str,
    index: ObjectIndex,
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
) -> tuple[CalendarObject, bool]:
    """Create or replace ``href``; returns (the object as written, replaced). ``if_match`` "*" means
    "must exist"."""
    bump_revision(session, collection)
    existing = get_object(session, collection.id, href)
    _check_preconditions(href, existing, if_match, if_none_match)
    written = write_object(session, collection, href, existing.id if existing else None, text, etag, index)
    if existing is not None:
        session.expire(existing)  # written with Core: the loaded row is stale
    return written, existing is not None


def write_object(
    session: Session,
    collection: Collection,
    href: str,
    existing_id: int | None,
    text: str,
    etag: str,
    index: ObjectIndex,
) -> CalendarObject:
    """The write half of ``put_object``, for a caller that has bumped the revision (taking the
    calendar's lock) and looked up the object at ``href`` itself. Core statements, not the ORM's
    unit of work: a PUT is on the path of every client change. Returns the row as written, detached."""
    values = {
        "uid": index.uid,
        "component": index.component,
        "etag": etag,
        "text": text,
        "size": len(text),
        "range_start": index.range_start,
        "range_end": index.range_end,
        "recurring": index.recurring,
        "expanded_until": index.expanded_until,
        "last_modified": utcnow(),
    }
    objects = CalendarObject.__table__
    connection = session.connection()
    if existing_id is None and db.on_postgresql(session):
        object_id = _insert_in_one_statement(session, collection, href, values, index)
    else:
        if existing_id is None:
            inserted = objects.insert().values(collection_id=collection.id, href=href, **values)
            object_id = connection.execute(inserted.returning(objects.c.id)).scalar_one()
        else:
            object_id = existing_id
            connection.execute(delete(Occurrence.__table__).where(Occurrence.object_id == object_id))
            connection.execute(objects.update().where(objects.c.id == object_id).values(**values))
        _write_instances(session, collection, object_id, index)
        _record_change(session, collection, href, deleted=False)
    if index.instances:
        _widen_span(session, collection, max(i.end - i.start for i in index.instances))
    return CalendarObject(id=object_id, collection_id=collection.id, href=href, **values)


def delete_object(
    session: Session, collection: Collection, href: str, *, if_match: str | None = None
) -> None:
    bump_revision(session, collection)
    existing = get_object(session, collection.id, href)
    if existing is None:
        raise NotFound(f"{collection.path}/{href} does not exist")
    _check_preconditions(href, existing, if_match, False)
    session.execute(delete(Occurrence).where(Occurrence.object_id == existing.id))
    session.delete(existing)
    _record_change(session, collection, href, deleted=True)


def move_object(
    session: Session, source: Collection, href: str, target: Collection, target_href: str
) -> CalendarObject:
    """Move (or rename) an object, keeping its text and index; both collections record the change."""
    obj = get_object(session, source.id, href)
    if obj is None:
        raise NotFound(f"{source.path}/{href} does not exist")
    if source.id != target.id:
        bump_revision(session, source)
    bump_revision(session, target)
    replaced = get_object(session, target.id, target_href)
    if replaced is not None and replaced.id != obj.id:
        session.execute(delete(Occurrence).where(Occurrence.object_id == replaced.id))
        session.delete(replaced)
        session.flush()
    obj.collection_id, obj.href, obj.last_modified = target.id, target_href, utcnow()
    session.execute(update(Occurrence).where(Occurrence.object_id == obj.id).values(collection_id=target.id))
    _record_change(session, source, href, deleted=True)
    _record_change(session, target, target_href, deleted=False)
    span = session.scalar(
        select(func.max(Occurrence.end - Occurrence.start)).where(Occurrence.object_id == obj.id)
    )
    _widen_span(session, target, span or 0)
    return obj


def _check_preconditions(
    href: str, existing: CalendarObject | None, if_match: str | None, if_none_match: bool
) -> None:
    actual = existing.etag if existing is not None else None
    if if_none_match and existing is not None:
        raise PreconditionFailed(href, None, actual)
    if if_match is not None and (existing is None or if_match not in ("*", existing.etag)):
        raise PreconditionFailed(href, if_match, actual)


def _insert_in_one_statement(
    session: Session, collection: Collection, href: str, values: dict[str, Any], index: ObjectIndex
) -> int:
    """PostgreSQL: a new object, its instances and its change record in one statement, one round
    trip instead of three (data-modifying CTEs). Returns the object's id."""
    params = {**values, **_change_params(collection, href, deleted=False)}
    statement = _NEW_OBJECT_ALONE
    if index.instances:
        statement = _NEW_OBJECT_WITH_INSTANCES
        for column in INSTANCE_COLUMNS:
            params[f"instance_{column.name}"] = [getattr(i, column.name) for i in index.instances]
    return session.connection().execute(statement, params).scalar_one()


# The columns of an instance, as ``_insert_in_one_statement`` lists them.
INSTANCE_COLUMNS = (
    sa_column("start", BigInteger),
    sa_column("end", BigInteger),
    sa_column("transparent", Boolean),
    sa_column("cancelled", Boolean),
    sa_column("all_day", Boolean),
)


def _new_object_statement(*, with_instances: bool) -> Insert:
    """The statement behind ``_insert_in_one_statement``, built once with named parameters: every
    column of the object, the change record's, and one array per instance column (``unnest``).

    Built once because SQLAlchemy memoizes a statement's cache key: a statement built per PUT costs
    a traversal to find its compiled form, and one with a VALUES list has no cache key at all."""
    objects, occurrences = CalendarObject.__table__, Occurrence.__table__
    # Every column but the id is a parameter: write_object's values and the change record's give them
    # all (a column added later needs a value there too: column defaults do not apply to a parameter).
    columns = [c.name for c in objects.c if c.name != "id"]
    new_object = (
        objects.insert()
        .values({name: bindparam(name) for name in columns})
        .returning(objects.c.id)
        .cte("new_object")
    )
    statement = _change_statement(pg_insert).add_cte(new_object)
    if with_instances:
        arrays = [bindparam(f"instance_{c.name}", type_=PG_ARRAY(c.type)) for c in INSTANCE_COLUMNS]
        instances = func.unnest(*arrays).table_valued(*INSTANCE_COLUMNS).render_derived(name="instances")
        rows = select(new_object.c.id, bindparam("collection_id", type_=Integer), *instances.c).select_from(
            new_object.join(instances, true())
        )
        names = ["object_id", "collection_id", *(c.name for c in INSTANCE_COLUMNS)]
        statement = statement.add_cte(occurrences.insert().from_select(names, rows).cte("new_instances"))
    return statement.returning(select(new_object.c.id).scalar_subquery())


def _write_instances(session: Session, collection: Collection, object_id: int, index: ObjectIndex) -> None:
    if not index.instances:
        return
    session.connection().execute(
        Occurrence.__table__.insert(),
        [
            {
                "object_id": object_id,
                "collection_id": collection.id,
                "start": i.start,
                "end": i.end,
                "transparent": i.transparent,
                "all_day": i.all_day,
                "cancelled": i.cancelled,
            }
            for i in index.instances
        ],
    )


def _widen_span(session: Session, collection: Collection, span: int) -> None:
    if span > collection.max_span:
        session.execute(update(Collection).where(Collection.id == collection.id).values(max_span=span))
        collection.max_span = span


def _record_change(session: Session, collection: Collection, href: str, *, deleted: bool) -> None:
    statement = _CHANGE_POSTGRESQL if db.on_postgresql(session) else _CHANGE_SQLITE
    session.connection().execute(statement, _change_params(collection, href, deleted=deleted))


def _change_params(collection: Collection, href: str, *, deleted: bool) -> dict[str, Any]:
    return {"collection_id": collection.id, "href": href, "revision": collection.revision, "deleted": deleted}


def _change_statement(dialect_insert: Callable[[Table], Any]) -> Any:
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


_CHANGE_POSTGRESQL = _change_statement(pg_insert)
_CHANGE_SQLITE = _change_statement(sqlite_insert)
_NEW_OBJECT_ALONE = _new_object_statement(with_instances=False)
_NEW_OBJECT_WITH_INSTANCES = _new_object_statement(with_instances=True)


# --- time-range candidates --------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    obj: CalendarObject
    # True when the occurrence index proves an instance overlaps the range; False means "maybe": parse.
    exact: bool


def find_in_range(
    session: Session, collection: Collection, start: int, end: int, component: str | None = None
) -> list[Candidate]:
    """Objects that may have an instance overlapping [start, end), found through the index only."""
    columns = select(CalendarObject)
    exact_query, maybe_query = _range_queries(session, columns, collection, start, end, component)
    found = {obj.id: Candidate(obj, True) for obj in session.scalars(exact_query)}
    for obj in session.scalars(maybe_query):
        found.setdefault(obj.id, Candidate(obj, False))
    return sorted(found.values(), key=lambda c: c.obj.href)


class StoredText(NamedTuple):
    """What a CalDAV answer needs of an object, without loading the ORM row."""

    href: str
    etag: str
    data: bytes  # the text, UTF-8: answers are bytes, and a thousand texts join faster as bytes
    recurring: bool
    # As in Candidate: False means the index cannot tell (instances beyond the horizon): parse.
    exact: bool = True


def texts_in_range(
    session: Session, collection: Collection, start: int, end: int, component: str
) -> list[StoredText]:
    """``find_in_range`` for the fast CalDAV path: Core rows, not ORM objects, ordered by href."""
    columns = select(
        CalendarObject.id,
        CalendarObject.href,
        CalendarObject.etag,
        _utf8(session, CalendarObject.text),
        CalendarObject.recurring,
    )
    exact_query, maybe_query = _range_queries(session, columns, collection, start, end, component)
    found = {row[0]: StoredText(*row[1:]) for row in db.plain_rows(session, exact_query)}
    for row in db.plain_rows(session, maybe_query):
        found.setdefault(row[0], StoredText(*row[1:], exact=False))
    return sorted(found.values())


def texts_of_component(session: Session, collection_id: int, component: str) -> list[StoredText]:
    """Every object of one component type (a calendar-query without a time-range)."""
    query = (
        select(
            CalendarObject.href,
            CalendarObject.etag,
            _utf8(session, CalendarObject.text),
            CalendarObject.recurring,
        )
        .where(CalendarObject.collection_id == collection_id, CalendarObject.component == component)
        .order_by(CalendarObject.href)
    )
    return [StoredText(*row) for row in db.plain_rows(session, query)]


def _utf8(session: Session, column: Any) -> ColumnElement[bytes]:
    """A text column read as its UTF-8 bytes (a text with non-ASCII characters is four times larger
    in Python than its bytes, and slower to join and encode)."""
    if db.on_postgresql(session):
        # Not CAST(... AS bytea), which would read backslashes as escapes.
        return func.convert_to(column, literal_column("'UTF8'"), type_=LargeBinary)
    return cast(column, LargeBinary)


def list_objects(
    session: Session,
    collection_id: int,
    *,
    hrefs: Sequence[str] | None = None,
    with_component: bool = False,
    with_last_modified: bool = False,
) -> list[Any]:
    """Rows of (href, etag[, component][, last_modified]) for every object (or those of ``hrefs``),
    by href, without their text (PROPFIND Depth 1 listings, sync answers). Without last-modified the
    covering index answers alone; Core rows with only the columns asked for, not ORM objects, since
    a listing can hold 100,000 objects."""
    columns = [CalendarObject.href, CalendarObject.etag]
    if with_component:
        columns.append(CalendarObject.component)
    if with_last_modified:
        columns.append(CalendarObject.last_modified)
    query = select(*columns).where(CalendarObject.collection_id == collection_id)
    # Datetimes need the column type's conversion; plain text does not, and skips Row objects.
    fetch = _rows if with_last_modified else db.plain_rows
    if hrefs is None:
        return fetch(session, query.order_by(CalendarObject.href))
    found: list[Any] = []
    for chunk in _href_chunks(hrefs):
        found.extend(fetch(session, query.where(CalendarObject.href.in_(chunk))))
    return sorted(found, key=lambda row: row[0])


def _rows(session: Session, query: Select) -> list[Any]:
    return list(session.connection().execute(query).all())


def _range_queries(
    session: Session, columns: Select, collection: Collection, start: int, end: int, component: str | None
) -> tuple[Select, Select]:
    """(objects the index proves overlap [start, end), objects whose instances there are not indexed)."""
    if component:
        columns = columns.where(CalendarObject.component == component)
    ids = [collection.id]
    overlapping = _overlapping_occurrences(ids, start - collection.max_span, start, end)
    maybe_query = columns.where(*_beyond_the_index(ids, start, end))
    return columns.where(_object_of_occurrences(session, overlapping)), maybe_query


def _object_of_occurrences(session: Session, conditions: list) -> ColumnElement[bool]:
    """The object has an occurrence meeting ``conditions``, as primary-key lookups on PostgreSQL too.

    There, ``IN (subquery)`` is planned as a join; once a range holds a few percent of a calendar
    the planner hash-joins a scan of the whole table (a month of a 10,000-event calendar took twice
    as long). ``= ANY(array of the ids)`` computes the ids once and looks each one up."""
    if not db.on_postgresql(session):
        return CalendarObject.id.in_(select(Occurrence.object_id).where(*conditions))
    id_array = select(func.array_agg(Occurrence.object_id)).where(*conditions)
    return CalendarObject.id == any_(func.coalesce(id_array.scalar_subquery(), pg_array([], type_=Integer)))


def _overlapping_occurrences(collection_ids: Any, earliest_start: Any, start: Any, end: Any) -> list:
    """Occurrences in ``collection_ids`` overlapping [start, end) (values or bound parameters).
    ``earliest_start`` is ``start`` minus the longest instance of those collections: the (collection,
    start) index then bounds the scan to instances starting in [earliest_start, end)."""
    return [
        Occurrence.collection_id.in_(collection_ids),
        Occurrence.start < end,
        Occurrence.start >= earliest_start,
        Occurrence.end > start,
    ]


def _beyond_the_index(collection_ids: Any, start: Any, end: Any) -> list:
    """Objects in ``collection_ids`` overlapping [start, end) whose instances there are not all in the
    occurrence index (they lie beyond its horizon): the caller expands them."""
    return [
        CalendarObject.collection_id.in_(collection_ids),
        CalendarObject.expanded_until < end,
        and_(CalendarObject.range_start < end, CalendarObject.range_end > start),
    ]


# The kinds of row of ``busy_index_rows``.
BUSY_TIMED, BUSY_ALL_DAY, BUSY_BEYOND = 0, 1, 2


def _busy_statement(*, excluding: bool) -> CompoundSelect:
    """One statement (one round trip on PostgreSQL) for both parts of a window's busy time, as rows
    (kind, start, end) of POSIX seconds:

    * BUSY_TIMED or BUSY_ALL_DAY (the all_day flag as a number): the opaque, not-cancelled indexed
      instances overlapping [:start, :end) in the collections :ids;
    * BUSY_BEYOND, with the object id as start: VEVENT objects overlapping [:start, :end) whose
      instances there lie beyond the indexing horizon; the caller expands those.

    ``excluding``: leave out the objects whose UID is in :excluded_uids (a booking being moved).

    Built once with bound parameters: building and caching a statement this size costs about as much as
    running it on SQLite. Three narrow columns: on PostgreSQL, moving and converting the rows is most of
    the statement's time.
    """
    ids = bindparam("ids", type_=Integer, expanding=True)
    start, end = bindparam("start", type_=BigInteger), bindparam("end", type_=BigInteger)
    # A number, not a subquery: PostgreSQL then estimates the rows of the range and reads them faster.
    earliest_start = bindparam("earliest_start", type_=BigInteger)
    instance_filters = [
        *_overlapping_occurrences(ids, earliest_start, start, end),
        Occurrence.transparent.is_(False),
        Occurrence.cancelled.is_(False),
    ]
    object_filters = [CalendarObject.component == "VEVENT", *_beyond_the_index(ids, start, end)]
    if excluding:
        uids = bindparam("excluded_uids", type_=String, expanding=True)
        excluded_ids = select(CalendarObject.id).where(
            CalendarObject.collection_id.in_(ids), CalendarObject.uid.in_(uids)
        )
        instance_filters.append(Occurrence.object_id.not_in(excluded_ids))
        object_filters.append(CalendarObject.uid.not_in(uids))
    instances = select(cast(Occurrence.all_day, Integer), Occurrence.start, Occurrence.end).where(
        *instance_filters
    )
    beyond = select(literal_column(str(BUSY_BEYOND)), CalendarObject.id, literal_column("0")).where(
        *object_filters
    )
    return union_all(instances, beyond)


_BUSY_STATEMENT = _busy_statement(excluding=False)
_BUSY_STATEMENT_EXCLUDING = _busy_statement(excluding=True)


def busy_index_rows(
    session: Session,
    collection_ids: Sequence[int],
    max_span: int,
    start: int,
    end: int,
    exclude_uids: Iterable[str] = (),
) -> Sequence[Row[tuple[int, int, int]]]:
    """Busy time in ``collection_ids`` over [start, end) as rows (kind, start, end) of
    ``_busy_statement``; ``max_span``: the longest instance in those collections."""
    parameters: dict[str, object] = {
        "ids": list(collection_ids),
        "start": start,
        "end": end,
        "earliest_start": start - max_span,
    }
    statement = _BUSY_STATEMENT
    excluded = list(exclude_uids)
    if excluded:
        statement, parameters["excluded_uids"] = _BUSY_STATEMENT_EXCLUDING, excluded
    # Core rows, fetched at once: the ORM's per-row processing would cost more than the query itself.
    return session.connection().execute(statement, parameters).all()


def objects_by_id(session: Session, object_ids: Sequence[int]) -> list[CalendarObject]:
    if not object_ids:
        return []
    return list(session.scalars(select(CalendarObject).where(CalendarObject.id.in_(list(object_ids)))))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = [
    "TIMESTAMP_MAX",
    "Candidate",
    "get_collection",
    "require_collection",
    "child_collections",
    "collection_meta",
    "accepts_component",
    "set_collection_meta",
    "create_collection",
    "delete_collection",
    "bump_revision",
    "collection_version",
    "sync_token",
    "parse_sync_token",
    "changes_since",
    "get_object",
    "get_objects",
    "all_objects",
    "object_by_uid",
    "count_objects",
    "last_modified",
    "put_object",
    "delete_object",
    "move_object",
    "find_in_range",
    "busy_index_rows",
    "objects_by_id",
]
