"""Radicale storage plugin (``[storage] type = caldee_dav.radicale_storage``) on the SQL store.

Radicale wraps every request in ``acquire_lock``; here that opens the request's unit of work: a
read transaction for "r", a write transaction for "w" (BEGIN IMMEDIATE on SQLite, row locks on
PostgreSQL). No file lock is taken, so several server processes can share one database.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager
from typing import Any

import radicale.item as radicale_item
from radicale import config as radicale_config
from radicale import pathutils
from radicale import storage as radicale_storage
from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav import db, ical, store
from caldee_dav.models import User
from caldee_dav.radicale_collection import DavCollection

PLUGIN_CONFIG_SCHEMA = {
    "storage": {
        "caledee_database_url": {"value": "", "type": str},
        "caledee_horizon_days": {"value": "730", "type": int},
        "caledee_max_occurrences": {"value": "5000", "type": int},
    }
}

_current: contextvars.ContextVar[tuple[Session, str] | None] = contextvars.ContextVar(
    "caledee_dav_session", default=None
)


class Storage(radicale_storage.BaseStorage):
    _is_collision_free = True
    _supports_unicode = True

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration.copy(PLUGIN_CONFIG_SCHEMA))
        url = self.configuration.get("storage", "caledee_database_url")
        if not url:
            raise RuntimeError("[storage] caledee_database_url is not set")
        self.engine = db.engine_for(url)
        self.horizon_seconds = self.configuration.get("storage", "caledee_horizon_days") * 86400
        self.max_occurrences = self.configuration.get("storage", "caledee_max_occurrences")

    # --- unit of work ---------------------------------------------------------------------------

    def current_session(self) -> Session:
        current = _current.get()
        if current is None:
            raise RuntimeError("storage used outside acquire_lock")
        return current[0]

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """The request's session, or a short read unit for what Radicale renders after unlocking."""
        current = _current.get()
        if current is not None:
            yield current[0]
            return
        with db.read_unit(self.engine) as session:
            yield session

    @contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        current = _current.get()
        # Reuse the open unit unless a write is asked for inside a read-only one.
        if current is not None and (mode == "r" or current[1] == "w"):
            yield
            return
        unit = db.write_unit if mode == "w" else db.read_unit
        with unit(self.engine) as session:
            token = _current.set((session, mode))
            try:
                yield
            finally:
                _current.reset(token)

    # --- discovery ------------------------------------------------------------------------------

    def discover(
        self,
        path: str,
        depth: str = "0",
        child_context_manager: Callable[[str, str | None], ContextManager[None]] | None = None,
        user_groups: set[str] | None = None,
    ) -> Iterator[Any]:
        session = self.current_session()
        sane_path = pathutils.strip_path(path)
        row = store.get_collection(session, sane_path) if sane_path else self._root(session)
        if row is None:
            parent_path, _, href = sane_path.rpartition("/")
            parent = store.get_collection(session, parent_path) if parent_path else None
            if parent is None or not href:
                return
            obj = store.get_object(session, parent.id, href)
            if obj is not None:
                yield DavCollection(self, parent)._item(obj)
            return
        collection = DavCollection(self, row)
        yield collection
        if depth == "0":
            return
        with ExitStack() as stack:
            for obj in store.all_objects(session, row.id):
                if child_context_manager is not None:
                    stack.enter_context(child_context_manager(sane_path, obj.href))
                yield collection._item(obj)
        for child in store.child_collections(session, sane_path):
            yield DavCollection(self, child)

    def _root(self, session: Session) -> Any:
        root = store.get_collection(session, "")
        if root is None:
            # The root exists implicitly; it is created on the first write unit that needs it.
            from caldee_dav.models import Collection

            return Collection(id=0, path="", tag="", props={}, revision=0, max_span=0)
        return root

    # --- writes ---------------------------------------------------------------------------------

    def create_collection(
        self,
        href: str,
        items: Iterable[radicale_item.Item] | None = None,
        props: Mapping[str, str] | None = None,
    ) -> tuple[DavCollection, dict[str, radicale_item.Item], list[str]]:
        session = self.current_session()
        sane_path = pathutils.strip_path(href)
        existing = store.get_collection(session, sane_path)
        if not props:
            if existing is None:
                existing = self._create_with_parents(session, sane_path, None)
            return DavCollection(self, existing), {}, []
        replaced: dict[str, radicale_item.Item] = {}
        if existing is not None:
            old = DavCollection(self, existing)
            replaced = {item.href: item for item in old.get_all() if item.href}
            store.delete_collection(session, existing)
            session.flush()
        row = self._create_with_parents(session, sane_path, dict(props))
        collection = DavCollection(self, row)
        hrefs = collection.upload_all(items or []) if items is not None else []
        new_hrefs = [h for h in hrefs if h not in replaced]
        return collection, replaced, new_hrefs

    def _create_with_parents(self, session: Session, path: str, props: dict[str, str] | None) -> Any:
        parts = path.split("/") if path else []
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if store.get_collection(session, ancestor) is None:
                store.create_collection(session, ancestor, owner_id=self._owner_id(session, ancestor))
        return store.create_collection(session, path, owner_id=self._owner_id(session, path), props=props)

    def _owner_id(self, session: Session, path: str) -> str | None:
        slug = path.split("/", 1)[0]
        return session.scalar(select(User.id).where(User.slug == slug)) if slug else None

    def move(self, item: radicale_item.Item, to_collection: Any, to_href: str) -> None:
        session = self.current_session()
        source = item.collection
        assert isinstance(source, DavCollection) and isinstance(to_collection, DavCollection)
        assert item.href is not None
        if not store.accepts_component(to_collection._row, item.component_name):
            raise ValueError(f"{to_href}: that calendar does not hold {item.component_name} objects")
        store.move_object(session, source._row, item.href, to_collection._row, to_href)

    def verify(self) -> bool:
        return True

    # --- indexing -------------------------------------------------------------------------------

    def index_text(self, text: str, item: radicale_item.Item) -> ical.ObjectIndex:
        """Index an uploaded item; ValueError (Radicale's 400) when it breaks RFC 4791 rules."""
        if item.name != "VCALENDAR":
            return ical.ObjectIndex(uid=item.uid, component=item.component_name)
        try:
            calendar = ical.parse_calendar(text)
        except ical.InvalidCalendarData:
            # vobject accepted what icalendar cannot read: keep it, unindexed, and let Radicale filter.
            return ical.ObjectIndex(uid=item.uid, component=item.component_name)
        horizon = int(time.time()) + self.horizon_seconds
        return ical.index_object(calendar, horizon_end=horizon, max_instances=self.max_occurrences)
