"""Radicale's collection interface over ``store``: items come from SQL rows without parsing."""

from __future__ import annotations

import contextvars
import posixpath
import secrets
from collections.abc import Iterable, Iterator, Mapping
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import radicale.item as radicale_item
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter
from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav import ical, store
from caldee_dav.models import CalendarObject, Collection

if TYPE_CHECKING:
    from caldee_dav.radicale_storage import Storage

# Set by the REPORT middleware for calendar-query with <C:expand>: Radicale strips the time-range
# from the filters it hands us in that case, and without it every object would be expanded.
expand_window: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "caledee_expand_window", default=None
)


def http_date(value: Any) -> str:
    return format_datetime(value, usegmt=True)


def collection_etag(collection: Collection) -> str:
    """Changes with every write to the collection (and differs from a deleted one's with the same id)."""
    return f'"{store.collection_version(collection)}"'


class DavCollection(radicale_storage.BaseCollection):
    def __init__(self, storage_: Storage, row: Collection) -> None:
        self._storage = storage_
        self._row = row

    # --- identity and metadata ------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._row.path

    @property
    def _session(self) -> Session:
        """The write unit of this request (writes happen only under Radicale's "w" lock)."""
        return self._storage.current_session()

    @property
    def etag(self) -> str:
        return collection_etag(self._row)

    @property
    def tag(self) -> str:
        return self._row.tag or ""

    @property
    def last_modified(self) -> str:
        return http_date(store.last_modified(self._row))

    def get_meta(self, key: str | None = None) -> Any:
        meta = store.collection_meta(self._row)
        return meta if key is None else meta.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        store.set_collection_meta(self._session, self._row, dict(props))

    # --- items ----------------------------------------------------------------------------------

    def _item(self, obj: CalendarObject) -> radicale_item.Item:
        return radicale_item.Item(
            collection_path=self.path,
            collection=self,
            href=obj.href,
            last_modified=http_date(obj.last_modified),
            text=obj.text,
            etag=obj.etag,
            uid=obj.uid,
            name="VCARD" if obj.text.startswith("BEGIN:VCARD") else "VCALENDAR",
            component_name=obj.component,
            time_range=(obj.range_start, obj.range_end),
        )

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, radicale_item.Item | None]]:
        wanted = list(hrefs)
        with self._storage.reading() as session:
            found = {obj.href: obj for obj in store.get_objects(session, self._row.id, wanted)}
        for href in dict.fromkeys(wanted):
            obj = found.get(href)
            yield href, self._item(obj) if obj is not None else None

    def get_all(self) -> Iterator[radicale_item.Item]:
        with self._storage.reading() as session:
            objects = store.all_objects(session, self._row.id)
        for obj in objects:
            yield self._item(obj)

    def get_filtered(self, filters: Iterable[ET.Element]) -> Iterator[tuple[radicale_item.Item, bool]]:
        if not self.tag:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        window = expand_window.get()
        if window is not None and start == ical.TIMESTAMP_MIN and end == ical.TIMESTAMP_MAX:
            # Expand report: narrow to the requested window. Radicale's expansion applies the time range
            # itself; an item parsed here by a needless prefilter (simple=False) shares its vobject between
            # the getetag and calendar-data expansions, and Radicale 3.9 then fails the second one (400).
            start, end = window
        if start == ical.TIMESTAMP_MIN and end == ical.TIMESTAMP_MAX:
            for item in self.get_all():
                if tag is None or item.component_name == tag:
                    yield item, simple
            return
        with self._storage.reading() as session:
            candidates = store.find_in_range(session, self._row, start, end, tag)
        for candidate in candidates:
            yield self._item(candidate.obj), simple and candidate.exact

    def has_uid(self, uid: str) -> bool:
        # Lock the collection first so that two uploads of one new UID cannot both pass this check.
        self._session.execute(select(Collection.id).where(Collection.id == self._row.id).with_for_update())
        return store.object_by_uid(self._session, self._row.id, uid) is not None

    def upload(
        self, href: str, item: radicale_item.Item
    ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        if not href or "/" in href or href in (".", ".."):
            raise ValueError(f"unsafe item name {href!r}")
        old = store.get_object(self._session, self._row.id, href)
        old_item = self._item(old) if old is not None else None
        text = item.serialize()
        index = self._storage.index_text(text, item)
        if not store.accepts_component(self._row, index.component):
            raise ValueError(f"this calendar does not hold {index.component} objects")  # Radicale's 400
        obj, _ = store.put_object(self._session, self._row, href, text, ical.etag_of(text), index)
        return self._item(obj), old_item

    def delete(self, href: str | None = None) -> None:
        if href is None:
            store.delete_collection(self._session, self._row)
            return
        store.delete_object(self._session, self._row, href)

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        with self._storage.reading() as session:
            row = store.require_collection(session, self._row.path)
            token = store.sync_token(row)
            if not old_token:
                return token, [obj.href for obj in store.all_objects(session, row.id)]
            revision = store.parse_sync_token(row, old_token)
            return token, store.changes_since(session, row, revision)

    def upload_all(self, items: Iterable[radicale_item.Item]) -> list[str]:
        """Store the items of a whole-collection PUT; returns their hrefs."""
        suffix = ".vcf" if self.tag == "VADDRESSBOOK" else ".ics"
        hrefs = []
        for item in items:
            href = _safe_href(item.uid, suffix)
            while href in hrefs:
                href = _safe_href("", suffix)
            self.upload(href, item)
            hrefs.append(href)
        return hrefs


def _safe_href(uid: str, suffix: str) -> str:
    name = uid if uid and all(c.isalnum() or c in "-_.@" for c in uid) and len(uid) < 200 else ""
    return (name or secrets.token_hex(16)) + suffix


def item_parent(path: str) -> tuple[str, str]:
    return posixpath.dirname(path), posixpath.basename(path)
