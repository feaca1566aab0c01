"""Every write of calendar objects: text, occurrences and change record together, in the caller's
transaction. Only the write service (``caldee_dav.calendars.objects``) imports this module; an
import-linter contract keeps it so, and ``caldee_dav.store`` does not re-export it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Insert,
    Integer,
    bindparam,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import column as sa_column
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from caldee_dav import clock, db
from caldee_dav.ical import ObjectIndex
from caldee_dav.models import CalendarObject, Change, Collection, Occurrence, event_id_for
from caldee_dav.store.changes import change_params, change_statement, record_change
from caldee_dav.store.collections import bump_revision, escape_like
from caldee_dav.store.objects import get_object


def write_object(
    session: Session,
    collection: Collection,
    href: str,
    existing_id: int | None,
    text: str,
    etag: str,
    index: ObjectIndex,
) -> CalendarObject:
    """Create (``existing_id`` None) or replace the object at ``href``, for a caller that has bumped
    the revision (taking the calendar's lock) and looked up the object at ``href`` itself. Core
    statements, not the ORM's unit of work: a PUT is on the path of every client change. Returns the
    row as written, detached."""
    values = {
        "uid": index.uid,
        "event_id": event_id_for(index.uid),
        "component": index.component,
        "etag": etag,
        "text": text,
        "size": len(text),
        "range_start": index.range_start,
        "range_end": index.range_end,
        "recurring": index.recurring,
        "expanded_until": index.expanded_until,
        "last_modified": clock.now(),
    }
    if existing_id is None and db.on_postgresql(session):
        object_id = _insert_in_one_statement(session, collection, href, values, index)
    else:
        if existing_id is None:
            params = {"collection_id": collection.id, "href": href, **values}
            (object_id,) = _INSERT_OBJECT.rows(session, params)[0]
        else:
            object_id = existing_id
            _DELETE_INSTANCES.run(session, {"object_id": object_id})
            _UPDATE_OBJECT.run(session, {"object_id": object_id, **values})
        _write_instances(session, collection, object_id, index)
        record_change(session, collection, href, deleted=False)
    if index.instances:
        _widen_span(session, collection, max(i.end - i.start for i in index.instances))
    return CalendarObject(id=object_id, collection_id=collection.id, href=href, **values)


def delete_object(session: Session, collection: Collection, object_id: int, href: str) -> None:
    """Delete the object ``object_id`` (at ``href``): its occurrences go with it, the change is recorded."""
    bump_revision(session, collection)
    session.execute(delete(Occurrence).where(Occurrence.object_id == object_id))
    session.execute(delete(CalendarObject).where(CalendarObject.id == object_id))
    record_change(session, collection, href, deleted=True)


def move_object(
    session: Session, source: Collection, obj: CalendarObject, target: Collection, target_href: str
) -> CalendarObject:
    """Move (or rename) ``obj``, keeping its text and index; both collections record the change."""
    href = obj.href
    if source.id != target.id:
        bump_revision(session, source)
    bump_revision(session, target)
    replaced = get_object(session, target.id, target_href)
    if replaced is not None and replaced.id != obj.id:
        session.execute(delete(Occurrence).where(Occurrence.object_id == replaced.id))
        session.delete(replaced)
        session.flush()
    obj.collection_id, obj.href, obj.last_modified = target.id, target_href, clock.now()
    session.execute(update(Occurrence).where(Occurrence.object_id == obj.id).values(collection_id=target.id))
    record_change(session, source, href, deleted=True)
    record_change(session, target, target_href, deleted=False)
    span = session.scalar(
        select(func.max(Occurrence.end - Occurrence.start)).where(Occurrence.object_id == obj.id)
    )
    _widen_span(session, target, span or 0)
    return obj


def _insert_in_one_statement(
    session: Session, collection: Collection, href: str, values: dict[str, Any], index: ObjectIndex
) -> int:
    """PostgreSQL: a new object, its instances and its change record in one statement, one round
    trip instead of three (data-modifying CTEs). Returns the object's id."""
    params = {**values, **change_params(collection, href, deleted=False)}
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
    statement = change_statement(pg_insert).add_cte(new_object)
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
    # A series has a hundred instances or more: handed over as tuples (SQLAlchemy's executemany
    # prepared each row's parameters in Python, twice the cost of the inserts on SQLite).
    rows = [
        (object_id, collection.id, i.start, i.end, i.transparent, i.cancelled, i.all_day)
        for i in index.instances
    ]
    _INSERT_INSTANCES.run_many(session, rows)


# Its parameters in the order of ``_write_instances``'s tuples.
_INSTANCE_PARAMETERS = ("object_id", "collection_id", "start", "end", "transparent", "cancelled", "all_day")
_INSERT_INSTANCES = db.PlainStatement(
    Occurrence.__table__.insert().values({name: bindparam(name) for name in _INSTANCE_PARAMETERS})
)
assert _INSERT_INSTANCES.parameter_names == _INSTANCE_PARAMETERS


def _widen_span(session: Session, collection: Collection, span: int) -> None:
    if span > collection.max_span:
        session.execute(update(Collection).where(Collection.id == collection.id).values(max_span=span))
        collection.max_span = span


_NEW_OBJECT_ALONE = _new_object_statement(with_instances=False)
_NEW_OBJECT_WITH_INSTANCES = _new_object_statement(with_instances=True)

# The other writes of write_object, built once for the same reason, run by the driver on SQLite
# (db.PlainStatement): an object's columns set from the parameters of the same names (write_object's
# ``values``, and the new object's calendar and href).
_OBJECT_VALUES = (
    "uid",
    "event_id",
    "component",
    "etag",
    "text",
    "size",
    "range_start",
    "range_end",
    "recurring",
    "expanded_until",
    "last_modified",
)
_OBJECTS = CalendarObject.__table__
# A column added to the table needs a value in write_object (and here), or SQLite's statements would
# leave it to its default where PostgreSQL's one-statement insert sets it.
assert {"id", "collection_id", "href", *_OBJECT_VALUES} == set(_OBJECTS.c.keys())
_INSERT_OBJECT = db.PlainStatement(
    _OBJECTS.insert()
    .values({name: bindparam(name) for name in ("collection_id", "href", *_OBJECT_VALUES)})
    .returning(_OBJECTS.c.id)
)
_UPDATE_OBJECT = db.PlainStatement(
    _OBJECTS.update()
    .where(_OBJECTS.c.id == bindparam("object_id"))
    .values({name: bindparam(name) for name in _OBJECT_VALUES})
)
_DELETE_INSTANCES = db.PlainStatement(
    delete(Occurrence.__table__).where(Occurrence.__table__.c.object_id == bindparam("object_id"))
)


def delete_collection(session: Session, collection: Collection) -> None:
    """Delete a collection, its descendants and everything in them."""
    prefix = escape_like(collection.path + "/") + "%"
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
