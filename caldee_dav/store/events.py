"""Reads behind the REST events API: an object by its event id, and which objects have instances in
a window (through the occurrence index), each with a lower bound of its first instance's start."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caldee_dav.models import CalendarObject, Collection, Occurrence


def object_by_event_id(session: Session, collection_id: int, event_id: str) -> CalendarObject | None:
    query = select(CalendarObject).where(
        CalendarObject.collection_id == collection_id, CalendarObject.event_id == event_id
    )
    return session.scalars(query).first()


def event_candidates(
    session: Session, collection: Collection, start: int, end: int, from_start: int | None = None
) -> list[tuple[int, int]]:
    """(object id, earliest possible start) of every VEVENT object that may have an instance
    overlapping [start, end) (POSIX seconds) and starting at or after ``from_start``, ordered by that
    start. Indexed instances give their first start; objects whose instances there lie beyond the
    indexing horizon give ``expanded_until``, before which they have no unindexed instance."""
    indexed = (
        select(Occurrence.object_id, func.min(Occurrence.start))
        .where(
            Occurrence.collection_id == collection.id,
            Occurrence.start < end,
            Occurrence.start >= start - collection.max_span,
            Occurrence.end > start,
        )
        .group_by(Occurrence.object_id)
    )
    if from_start is not None:
        indexed = indexed.where(Occurrence.start >= from_start)
    beyond = select(CalendarObject.id, CalendarObject.expanded_until).where(
        CalendarObject.collection_id == collection.id,
        CalendarObject.component == "VEVENT",
        CalendarObject.expanded_until < end,
        CalendarObject.range_start < end,
        CalendarObject.range_end > start,
    )
    found: dict[int, int] = {}
    for object_id, first in session.execute(indexed):
        found[object_id] = int(first)
    for object_id, expanded_until in session.execute(beyond):
        bound = int(expanded_until) if from_start is None else max(int(expanded_until), from_start)
        found[object_id] = min(found.get(object_id, bound), bound)
    return sorted(found.items(), key=lambda item: (item[1], item[0]))
