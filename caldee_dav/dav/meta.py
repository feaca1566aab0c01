"""Radicale's collection properties ("meta") and the HTTP values of a collection, over the store's
typed fields: the DAV property names live here, not in the store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime

from caldee_dav import store
from caldee_dav.models import Collection

# Collection properties Radicale calls meta, mapped to the typed fields the store keeps them in.
TAG = "tag"
DISPLAY_NAME = "D:displayname"
COLOR = "ICAL:calendar-color"
DESCRIPTION = "C:calendar-description"


def collection_meta(collection: Collection) -> dict[str, str]:
    """Radicale's view of a collection's properties. (The calendar's zone name alone is not a
    VTIMEZONE, so only a calendar-timezone a client set is reported.)"""
    fields = store.collection_fields(collection)
    meta = dict(fields.props)
    for key, value in (
        (TAG, fields.tag),
        (DISPLAY_NAME, fields.display_name),
        (COLOR, fields.color),
        (DESCRIPTION, fields.description),
    ):
        if value:
            meta[key] = value
    return meta


def fields_from_meta(props: Mapping[str, str]) -> store.CollectionFields:
    """Every property Radicale sets (its set_meta replaces them all), known ones in typed fields."""
    known = {TAG, DISPLAY_NAME, COLOR, DESCRIPTION}
    return store.CollectionFields(
        tag=props.get(TAG, ""),
        display_name=props.get(DISPLAY_NAME) or None,
        color=props.get(COLOR) or None,
        description=props.get(DESCRIPTION) or None,
        props={key: value for key, value in props.items() if key not in known},
    )


def http_date(value: datetime) -> str:
    return format_datetime(value, usegmt=True)


def collection_etag(collection: Collection) -> str:
    """Changes with every write to the collection (and differs from a deleted one's with the same id)."""
    return f'"{store.collection_version(collection)}"'


def last_modified(collection: Collection) -> str:
    """When anything in the collection last changed: every change bumps the revision and this stamp."""
    return http_date(collection.updated_at)
