"""Time-range reads through the occurrence index: candidates for queries, and busy time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    LargeBinary,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.models import CalendarObject, Collection, Occurrence
from caldee_dav.store.objects import href_chunks


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
    for chunk in href_chunks(hrefs):
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
