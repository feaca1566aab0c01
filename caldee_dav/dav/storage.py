"""Radicale storage plugin (``[storage] type = caldee_dav.dav.storage``) on the SQL store.

Radicale wraps every request in ``acquire_lock``; here that opens the request's unit of work
(``caldee_dav.dav.units``). Object writes go through the write service, collection writes through
the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack
from typing import Any

import radicale.item as radicale_item
from radicale import config as radicale_config
from radicale import pathutils
from radicale import storage as radicale_storage
from sqlalchemy.orm import Session

from caldee_dav import clock, db, store
from caldee_dav.calendars import accounts, objects
from caldee_dav.calendars.objects import WriteLimits
from caldee_dav.config import Settings
from caldee_dav.dav.collection import DavCollection
from caldee_dav.dav.meta import fields_from_meta
from caldee_dav.dav.units import RequestUnits
from caldee_dav.errors import CaledeeError
from caldee_dav.models import Collection

# What the app passes to both plugins: the database, and the rest of the settings the write limits
# and the clock are read from (as a JSON dump of the settings, Radicale's options being strings).
PLUGIN_CONFIG_SCHEMA = {
    "storage": {
        "caledee_settings": {"value": "", "type": str},
    }
}


def settings_of(configuration: radicale_config.Configuration, section: str) -> Settings:
    dumped = configuration.get(section, "caledee_settings")
    if not dumped:
        raise RuntimeError(f"[{section}] caledee_settings is not set")
    return Settings.model_validate_json(dumped)


class Storage(radicale_storage.BaseStorage):
    _is_collision_free = True
    _supports_unicode = True

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        super().__init__(configuration.copy(PLUGIN_CONFIG_SCHEMA))
        settings = settings_of(self.configuration, "storage")
        clock.install(clock.Clock.moved_by_days(settings.clock_offset_days))
        self.units = RequestUnits(db.engine_for(settings.database_url))
        self.limits = WriteLimits.from_settings(settings)
        self.settings = settings

    def current_session(self) -> Session:
        return self.units.current_session()

    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> ContextManager[None]:
        return self.units.unit(mode)

    def _collection(self, row: Collection) -> DavCollection:
        return DavCollection(self.units, self.limits, row, self.settings)

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
                yield self._collection(parent)._item(obj)
            return
        collection = self._collection(row)
        yield collection
        if depth == "0":
            return
        with ExitStack() as stack:
            for obj in store.all_objects(session, row.id):
                if child_context_manager is not None:
                    stack.enter_context(child_context_manager(sane_path, obj.href))
                yield collection._item(obj)
        for child in store.child_collections(session, sane_path):
            yield self._collection(child)

    def _root(self, session: Session) -> Any:
        root = store.get_collection(session, "")
        if root is None:
            # The root exists implicitly; it is created on the first write unit that needs it.
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
            return self._collection(existing), {}, []
        replaced: dict[str, radicale_item.Item] = {}
        if existing is not None:
            old = self._collection(existing)
            replaced = {item.href: item for item in old.get_all() if item.href}
            objects.delete_calendar(session, existing)
            session.flush()
        row = self._create_with_parents(session, sane_path, fields_from_meta(props))
        collection = self._collection(row)
        hrefs = collection.upload_all(items or []) if items is not None else []
        new_hrefs = [h for h in hrefs if h not in replaced]
        return collection, replaced, new_hrefs

    def _create_with_parents(
        self, session: Session, path: str, fields: store.CollectionFields | None
    ) -> Collection:
        parts = path.split("/") if path else []
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if store.get_collection(session, ancestor) is None:
                store.create_collection(session, ancestor, owner_id=self._owner_id(session, ancestor))
        return store.create_collection(session, path, owner_id=self._owner_id(session, path), fields=fields)

    def _owner_id(self, session: Session, path: str) -> str | None:
        slug = path.split("/", 1)[0]
        return accounts.user_id_by_slug(session, slug) if slug else None

    def move(self, item: radicale_item.Item, to_collection: Any, to_href: str) -> None:
        source = item.collection
        assert isinstance(source, DavCollection) and isinstance(to_collection, DavCollection)
        assert item.href is not None
        try:
            objects.move_object(self.current_session(), source._row, item.href, to_collection._row, to_href)
        except CaledeeError as exc:
            raise ValueError(f"{to_href}: {exc.message}") from exc  # Radicale's 400

    def verify(self) -> bool:
        return True
