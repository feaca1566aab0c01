"""Calendar objects: read, write (with their occurrences and change record), delete, move."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from sqlalchemy import (
    Select,
    bindparam,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.models import CalendarObject
from caldee_dav.store.collections import escape_like


def get_object(session: Session, collection_id: int, href: str) -> CalendarObject | None:
    return session.scalars(
        select(CalendarObject).where(
            CalendarObject.collection_id == collection_id, CalendarObject.href == href
        )
    ).first()


def get_objects(session: Session, collection_id: int, hrefs: Iterable[str]) -> list[CalendarObject]:
    found: list[CalendarObject] = []
    for chunk in href_chunks(hrefs):
        found.extend(
            session.scalars(
                select(CalendarObject).where(
                    CalendarObject.collection_id == collection_id, CalendarObject.href.in_(chunk)
                )
            )
        )
    return found


def href_chunks(hrefs: Iterable[str], size: int = 500) -> Iterator[list[str]]:
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
    found = [ObjectHead(*row) for row in _HEADS_AT_HREF_OR_UID.rows(session, params)]
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
_HEADS_AT_HREF_OR_UID = db.PlainStatement(_heads_at_href_or_uid())


def object_by_uid(session: Session, collection_id: int, uid: str) -> CalendarObject | None:
    return session.scalars(_OBJECT_BY_UID, {"collection_id": collection_id, "uid": uid}).first()


class ObjectText(NamedTuple):
    """An object's text, its ETag (what a change is worked out against) and where it is, without the
    ORM row."""

    href: str
    etag: str
    text: str


def text_by_uid(session: Session, collection_id: int, uid: str) -> ObjectText | None:
    """The calendar's object with ``uid``, as ``ObjectText``."""
    row = _TEXT_BY_UID.first(session, {"collection_id": collection_id, "uid": uid})
    return ObjectText(*row) if row is not None else None


def texts_by_uids(session: Session, collection_id: int, uids: Iterable[str]) -> dict[str, ObjectText]:
    """The texts of the calendar's objects with any of ``uids``, by UID."""
    wanted = list(dict.fromkeys(uids))
    if not db.on_postgresql(session):  # a lookup each: SQLite answers in microseconds, no round trip
        found = ((uid, text_by_uid(session, collection_id, uid)) for uid in wanted)
        return {uid: text for uid, text in found if text is not None}
    rows = session.connection().execute(_TEXTS_BY_UIDS, {"collection_id": collection_id, "uids": wanted})
    return {uid: ObjectText(href, etag, text) for uid, href, etag, text in rows}


_TEXT_COLUMNS = (CalendarObject.href, CalendarObject.etag, CalendarObject.text)
_TEXT_BY_UID = db.PlainStatement(
    select(*_TEXT_COLUMNS).where(
        CalendarObject.collection_id == bindparam("collection_id"), CalendarObject.uid == bindparam("uid")
    )
)
_TEXTS_BY_UIDS = select(CalendarObject.uid, *_TEXT_COLUMNS).where(
    CalendarObject.collection_id == bindparam("collection_id"),
    CalendarObject.uid.in_(bindparam("uids", expanding=True)),
)


# Built once: every event mailed in is looked up by UID.
_OBJECT_BY_UID = select(CalendarObject).where(
    CalendarObject.collection_id == bindparam("collection_id"), CalendarObject.uid == bindparam("uid")
)


def uids_ending_with(session: Session, collection_id: int, suffix: str) -> list[str]:
    """The UIDs in a calendar that end with ``suffix`` (those of bookings' events), without texts."""
    pattern = "%" + escape_like(suffix)
    query = select(CalendarObject.uid).where(
        CalendarObject.collection_id == collection_id, CalendarObject.uid.like(pattern, escape="\\")
    )
    return list(session.scalars(query))
