"""Radicale's collection interface: items come from the store's rows without parsing; every write goes
through the write service (``caldee_dav.calendars.objects``)."""

from __future__ import annotations

import contextvars
import errno
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from xml.etree import ElementTree as ET

import radicale.item as radicale_item
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter
from sqlalchemy.orm import Session

from caldee_dav import clock, ical, store
from caldee_dav.calendars import objects
from caldee_dav.calendars.objects import NO_PRECONDITIONS, WriteLimits
from caldee_dav.config import Settings
from caldee_dav.dav.meta import collection_etag, collection_meta, fields_from_meta, http_date, last_modified
from caldee_dav.dav.sync_tokens import parse_sync_token, sync_token
from caldee_dav.dav.units import RequestUnits
from caldee_dav.errors import CaledeeError
from caldee_dav.models import CalendarObject, Collection
from caldee_dav.scheduling import calendar_edits

# Set by the REPORT middleware for calendar-query with <C:expand>: Radicale strips the time-range
# from the filters it hands us in that case, and without it every object would be expanded.
expand_window: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "caledee_expand_window", default=None
)


class DavCollection(radicale_storage.BaseCollection):
    def __init__(self, units: RequestUnits, limits: WriteLimits, row: Collection, settings: Settings) -> None:
        self._units = units
        self._limits = limits
        self._row = row
        self._settings = settings

    # --- identity and metadata ------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._row.path

    @property
    def _session(self) -> Session:
        """The write unit of this request (writes happen only under Radicale's "w" lock)."""
        return self._units.current_session()

    @property
    def etag(self) -> str:
        return collection_etag(self._row)

    @property
    def tag(self) -> str:
        return self._row.tag or ""

    @property
    def last_modified(self) -> str:
        return last_modified(self._row)

    def get_meta(self, key: str | None = None) -> Any:
        meta = collection_meta(self._row)
        return meta if key is None else meta.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        store.set_collection_fields(self._session, self._row, fields_from_meta(props))

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
        with self._units.reading() as session:
            found = {obj.href: obj for obj in store.get_objects(session, self._row.id, wanted)}
        for href in dict.fromkeys(wanted):
            obj = found.get(href)
            yield href, self._item(obj) if obj is not None else None

    def get_all(self) -> Iterator[radicale_item.Item]:
        with self._units.reading() as session:
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
        with self._units.reading() as session:
            candidates = store.find_in_range(session, self._row, start, end, tag)
        for candidate in candidates:
            yield self._item(candidate.obj), simple and candidate.exact

    def has_uid(self, uid: str) -> bool:
        # Lock the calendar first so that two uploads of one new UID cannot both pass this check. A
        # booking's event locks its booking and hosts before that, the order every booking change
        # takes (calendar_edits): a REST change of the same booking cannot deadlock with this PUT.
        calendar_edits.lock_booking(self._session, uid)
        return objects.has_uid(self._session, self._row, uid)

    def upload(
        self, href: str, item: radicale_item.Item
    ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        old = store.get_object(self._session, self._row.id, href)
        old_item = self._item(old) if old is not None else None
        text = item.serialize()
        prepared = objects.prepare_checked_item(
            text,
            uid=item.uid,
            component=item.component_name,
            is_calendar=item.name == "VCALENDAR",
            limits=self._limits,
            now=clock.now(),
        )
        try:
            written = calendar_edits.put_from_client(
                self._session, self._settings, self._row, href, prepared, NO_PRECONDITIONS, clock.now()
            )
        except calendar_edits.BookingEditRefused as exc:
            # Radicale answers 403 for a ValueError naming EPERM (its body is its own; the reason is
            # logged), 400 for any other.
            raise ValueError(f"[Errno {errno.EPERM}] {exc.message}") from exc
        except CaledeeError as exc:
            raise ValueError(exc.message) from exc  # Radicale answers a ValueError with 400
        if old is not None:
            self._session.expire(old)  # rewritten with Core statements: the loaded row is stale
        return self._item(written.obj), old_item

    def delete(self, href: str | None = None) -> None:
        if href is None:
            calendar_edits.delete_calendar_from_client(self._session, self._settings, self._row, clock.now())
            return
        calendar_edits.delete_from_client(
            self._session, self._settings, self._row, href, NO_PRECONDITIONS, clock.now()
        )

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        with self._units.reading() as session:
            row = store.require_collection(session, self._row.path)
            token = sync_token(row)
            if not old_token:
                return token, [obj.href for obj in store.all_objects(session, row.id)]
            revision = parse_sync_token(row, old_token)
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
