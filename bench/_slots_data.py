"""Events for the slots benchmark, and the two ways they get into the store.

* Events come from ``_events`` (deterministic), indexed with ``ical.index_object`` on every CPU and cached
  in ``bench/.data``. The base calendar is loaded through the write
  service (``objects.put_object``) in batched write units.
* The older events of the scaling run all end before the base calendar's first year (same windows, same
  events inside them, a calendar ten times bigger) and are written by ``bulk_load``: the rows
  ``put_object`` writes, as Core executemany (put_object costs milliseconds per object: 90,000 of them
  would take most of the run). ``check_bulk_load`` proves on a sample that both write the same rows.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _backends
import _events
from sqlalchemy import Engine, insert, select, update

from caldee_dav import clock, db, ical, store
from caldee_dav.calendars import accounts
from caldee_dav.calendars import objects as calendar_objects
from caldee_dav.calendars.objects import PreparedObject
from caldee_dav.config import Settings
from caldee_dav.models import CalendarObject, Change, Collection, Occurrence, User

BATCH = 2000
CACHE = Path(__file__).resolve().parent / ".data"


@dataclass(frozen=True)
class Prepared:
    href: str
    text: str
    index: ical.ObjectIndex


# --- events -------------------------------------------------------------------------------------------


def _index_one(job: tuple[str, str, int, int]) -> Prepared:
    href, text, horizon_end, max_instances = job
    index = ical.index_object(ical.parse_calendar(text), horizon_end=horizon_end, max_instances=max_instances)
    return Prepared(href, text, index)


def _index_all(events: Sequence[_events.Event], settings: Settings) -> list[Prepared]:
    horizon_end = int(time.time()) + settings.occurrence_horizon_days * 86400
    jobs = [(e.href, e.text, horizon_end, settings.max_occurrences_per_object) for e in events]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        return list(pool.imap(_index_one, jobs, chunksize=100))


def _cached(name: str, key: str, build: Any) -> tuple[list[Prepared], bool]:
    return _backends.cached_pickle(CACHE / f"slots-{name}-{key}.pickle", build)


def base_years(count: int) -> int:
    """The base calendar spans one year per 10,000 events, ending 2027 (about 10,000 events a year)."""
    return max(1, math.ceil(count / _events.EVENTS_PER_YEAR))


def base_events(count: int, settings: Settings) -> tuple[list[Prepared], bool]:
    years = base_years(count)
    key = _backends.cache_key("slots-base", count, years, settings.occurrence_horizon_days)
    return _cached("base", key, lambda: _index_all(list(_events.generate(count, years=years)), settings))


def _first_year(text: str) -> int:
    """The year of the first VEVENT's DTSTART (VTIMEZONE blocks come first and have their own)."""
    vevent = text.index("BEGIN:VEVENT")
    line = text.index("\nDTSTART", vevent)
    value = text.index(":", line)
    return int(text[value + 1 : value + 5])


def older_events(count: int, base_count: int, settings: Settings) -> tuple[list[Prepared], bool]:
    """``count`` events from the years before the base calendar's, at the same density, every instance
    over before the base's first year: the windows timed hold the same events with or without them."""
    before = _events.LAST_YEAR - base_years(base_count) + 1
    limit = int(datetime(before, 1, 1, tzinfo=UTC).timestamp()) - 7 * 86400
    years = base_years(base_count) + max(1, math.ceil(count / _events.EVENTS_PER_YEAR))
    share = (years - base_years(base_count)) / years
    generated = int(count / share * 1.06) + 300
    key = _backends.cache_key("slots-older", count, base_count, years, settings.occurrence_horizon_days)

    def build() -> list[Prepared]:
        candidates = [
            e for e in _events.generate(generated, years=years, seed=2028) if _first_year(e.text) < before
        ]
        picked = [p for p in _index_all(candidates, settings) if p.index.range_end <= limit]
        if len(picked) < count:
            raise RuntimeError(f"generated {len(picked)} events over before {before}, wanted {count}")
        return picked[:count]

    return _cached("older", key, build)


# --- loading ------------------------------------------------------------------------------------------


def store_load(engine: Engine, path: str, objects: Sequence[Prepared]) -> None:
    """The store's own write path: ``put_object`` per object, BATCH objects per transaction."""
    for first in range(0, len(objects), BATCH):
        with db.write_unit(engine) as session:
            collection = store.require_collection(session, path)
            for obj in objects[first : first + BATCH]:
                calendar_objects.put_object(session, collection, obj.href, _prepared(obj))


def bulk_load(engine: Engine, path: str, objects: Sequence[Prepared]) -> None:
    """New objects, written as the rows ``put_object`` writes (see ``check_bulk_load``), in executemany."""
    for first in range(0, len(objects), BATCH * 5):
        chunk = objects[first : first + BATCH * 5]
        with db.write_unit(engine) as session:
            collection = store.require_collection(session, path)
            # The store gives every change of one transaction the same new revision.
            revision = collection.revision + 1
            now = clock.now()
            session.execute(
                insert(CalendarObject),
                [
                    {
                        "collection_id": collection.id,
                        "href": o.href,
                        "uid": o.index.uid,
                        "component": o.index.component,
                        "etag": ical.etag_of(o.text),
                        "text": o.text,
                        "size": len(o.text),
                        "range_start": o.index.range_start,
                        "range_end": o.index.range_end,
                        "recurring": o.index.recurring,
                        "expanded_until": o.index.expanded_until,
                        "last_modified": now,
                    }
                    for o in chunk
                ],
            )
            hrefs = [o.href for o in chunk]
            ids: dict[str, int] = {}
            for start in range(0, len(hrefs), 500):
                query = select(CalendarObject.href, CalendarObject.id).where(
                    CalendarObject.collection_id == collection.id,
                    CalendarObject.href.in_(hrefs[start : start + 500]),
                )
                ids.update({href: object_id for href, object_id in session.execute(query)})
            # Every field of an indexed instance is a column of the same name.
            occurrences = [
                {**dataclasses.asdict(i), "object_id": ids[o.href], "collection_id": collection.id}
                for o in chunk
                for i in o.index.instances
            ]
            if occurrences:
                session.execute(insert(Occurrence), occurrences)
            session.execute(
                insert(Change),
                [
                    {
                        "collection_id": collection.id,
                        "href": o.href,
                        "revision": revision,
                        "deleted": False,
                    }
                    for o in chunk
                ],
            )
            span = max([collection.max_span] + [i.end - i.start for o in chunk for i in o.index.instances])
            session.execute(
                update(Collection)
                .where(Collection.id == collection.id)
                .values(revision=revision, max_span=span, updated_at=now)
            )


def _snapshot(engine: Engine, path: str) -> tuple[Any, ...]:
    """Everything ``put_object`` wrote into a collection, without ids and clock times."""
    with db.read_unit(engine) as session:
        collection = store.require_collection(session, path)
        objects = session.execute(
            select(
                CalendarObject.href,
                CalendarObject.uid,
                CalendarObject.component,
                CalendarObject.etag,
                CalendarObject.text,
                CalendarObject.size,
                CalendarObject.range_start,
                CalendarObject.range_end,
                CalendarObject.recurring,
                CalendarObject.expanded_until,
            )
            .where(CalendarObject.collection_id == collection.id)
            .order_by(CalendarObject.href)
        ).all()
        columns = [
            c for c in Occurrence.__table__.columns if c.name not in ("id", "object_id", "collection_id")
        ]
        occurrences = session.execute(
            select(CalendarObject.href, *columns)
            .join(CalendarObject, CalendarObject.id == Occurrence.object_id)
            .where(Occurrence.collection_id == collection.id)
            .order_by(CalendarObject.href, Occurrence.start, Occurrence.end)
        ).all()
        changes = session.execute(
            select(Change.href, Change.revision, Change.deleted)
            .where(Change.collection_id == collection.id)
            .order_by(Change.href)
        ).all()
        return (
            [tuple(r) for r in objects],
            [tuple(r) for r in occurrences],
            [tuple(r) for r in changes],
            collection.revision,
            collection.max_span,
        )


def check_bulk_load(engine: Engine, user_id: str, sample: Sequence[Prepared]) -> bool:
    """Load ``sample`` through ``put_object`` and through ``bulk_load`` into two scratch calendars and
    compare every row; the scratch calendars are deleted afterwards."""
    paths = []
    with db.write_unit(engine) as session:
        user = session.get(User, user_id)
        for slug in ("scratch-store", "scratch-bulk"):
            paths.append(accounts.create_calendar(session, user, name=slug, slug=slug).path)
    store_load(engine, paths[0], sample)
    bulk_load(engine, paths[1], sample)
    same = _snapshot(engine, paths[0]) == _snapshot(engine, paths[1])
    with db.write_unit(engine) as session:
        for path in paths:
            calendar_objects.delete_calendar(session, store.require_collection(session, path))
    return same


def analyze(engine: Engine) -> None:
    """On PostgreSQL, what autovacuum does after a load (it is off on the benchmark machine)."""
    _backends.vacuum_analyze(engine)


def _prepared(obj: Any) -> PreparedObject:
    """An object of the bench, indexed when it was generated, as the write service takes it."""
    return PreparedObject(obj.text, ical.etag_of(obj.text), obj.index)
