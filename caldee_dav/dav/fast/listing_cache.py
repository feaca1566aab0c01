"""Each calendar's listing (href, ETag, component of every object), kept per process and brought up to
date from the change log.

A client asks for a PROPFIND Depth 1 listing when the calendar's ctag has moved, that is after a few
changes, and the listing holds every object. Reading 10,000 rows costs more than writing them out;
the change log (what sync-collection reads) names the few rows that moved since this process last
read the listing. Each request checks the listing against the calendar's revision, read in the
request's own transaction, so any number of processes stay correct: a listing is never older than
the revision it is labelled with (it is labelled with the revision read before its rows).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.dav.fast.target import all_safe
from caldee_dav.models import Collection

# Rows kept over all calendars, per process (about 200 bytes each).
MAX_ROWS = 250_000
# Past this share of the calendar changed, reading it afresh is cheaper than applying the changes.
REREAD_SHARE = 0.25

ListedRow = tuple[str, str, str]  # href, etag, component


@dataclass(frozen=True)
class _Listing:
    identity: tuple[object, ...]  # a calendar deleted and made again under the same id is another
    revision: int
    rows: dict[str, ListedRow]
    names_safe: bool  # no href needs quoting (False may be stale after a deletion: then they are quoted)


class ListingCache:
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._listings: OrderedDict[int, _Listing] = OrderedDict()
        self._lock = threading.Lock()

    def rows(self, session: Session, collection: Collection) -> tuple[list[ListedRow], bool]:
        """Every object of ``collection`` as of its revision in ``session``'s transaction, or later;
        and whether every href can go into a URL as it is."""
        identity = (collection.id, collection.path, collection.created_at)
        with self._lock:
            known = self._listings.get(collection.id)
        if known is None or known.identity != identity or known.revision > collection.revision:
            listing = self._read(session, collection, identity)
        elif known.revision < collection.revision:
            listing = self._update(session, collection, known)
        else:
            listing = known
        if listing is not known:
            self._keep(collection.id, listing)
        return list(listing.rows.values()), listing.names_safe

    def _read(self, session: Session, collection: Collection, identity: tuple[object, ...]) -> _Listing:
        rows = store.list_objects(session, collection.id, with_component=True)
        by_href = {row[0]: tuple(row) for row in rows}
        return _Listing(identity, collection.revision, by_href, all_safe(list(by_href)))  # type: ignore[arg-type]

    def _update(self, session: Session, collection: Collection, known: _Listing) -> _Listing:
        changed = store.changes_since(session, collection, known.revision)
        if len(changed) > REREAD_SHARE * max(len(known.rows), 1):
            return self._read(session, collection, known.identity)
        rows = dict(known.rows)
        for href in changed:  # deleted ones stay out: the change log keeps their tombstones
            rows.pop(href, None)
        fresh = store.list_objects(session, collection.id, hrefs=changed, with_component=True)
        for row in fresh:
            rows[row[0]] = tuple(row)  # type: ignore[assignment]
        names_safe = known.names_safe and all_safe([row[0] for row in fresh])
        return _Listing(known.identity, collection.revision, rows, names_safe)

    def _keep(self, collection_id: int, listing: _Listing) -> None:
        with self._lock:
            current = self._listings.get(collection_id)
            newer = current is not None and current.identity == listing.identity
            if newer and current.revision > listing.revision:  # type: ignore[union-attr]
                return  # another thread kept a newer one meanwhile
            self._listings[collection_id] = listing
            self._listings.move_to_end(collection_id)
            total = sum(len(kept.rows) for kept in self._listings.values())
            while total > self.max_rows and len(self._listings) > 1:
                _, evicted = self._listings.popitem(last=False)
                total -= len(evicted.rows)
