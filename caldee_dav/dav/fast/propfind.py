"""PROPFIND Depth 1 on a calendar: the calendar's own response, then one per item, from the store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from caldee_dav.dav.fast.answer import DavAnswer, xml_answer
from caldee_dav.dav.fast.listing import item_responses, list_items
from caldee_dav.dav.fast.listing_cache import ListingCache
from caldee_dav.dav.fast.queries import GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE
from caldee_dav.dav.fast.target import DavTarget, require_calendar
from caldee_dav.dav.meta import collection_etag, last_modified
from caldee_dav.models import Collection

CLOSING = "</multistatus>"
OPENING = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
)


def answer_listing(
    session: Session, target: DavTarget, props: tuple[str, ...], cache: ListingCache
) -> DavAnswer:
    collection = require_calendar(session, target)
    if GETLASTMODIFIED in props:
        listed: Sequence[Sequence[object]] = list_items(session, collection.id, props)
        items = item_responses(target, listed, props)
    else:  # rows of (href, etag, component): what every other listable property shows
        listed, names_safe = cache.rows(session, collection)
        items = item_responses(target, listed, props, names_safe)
    return xml_answer("".join([OPENING, _calendar_response(target, collection, props), *items, CLOSING]))


def _calendar_response(target: DavTarget, collection: Collection, props: tuple[str, ...]) -> str:
    """The calendar's own properties, as Radicale gives them for a calendar collection."""
    values = {
        GETETAG: f"<getetag>{collection_etag(collection)}</getetag>",
        GETLASTMODIFIED: f"<getlastmodified>{last_modified(collection)}</getlastmodified>",
        GETCONTENTTYPE: "<getcontenttype>text/calendar</getcontenttype>",
        RESOURCETYPE: "<resourcetype><C:calendar/><collection/></resourcetype>",
    }
    found = "".join(values[prop] for prop in props)
    return (
        f"<response><href>{target.href()}</href><propstat><prop>{found}</prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response>"
    )
