"""Responses for items known by href, ETag and type: PROPFIND Depth 1 listings and sync answers."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from sqlalchemy import Row
from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.dav.fast.multistatus import fill
from caldee_dav.dav.fast.queries import GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE
from caldee_dav.dav.fast.target import DavTarget, all_safe
from caldee_dav.dav.meta import http_date

# Each listable property's markup around its value (%s). ETags are quoted hex digests (ical.etag_of) and
# components plain names: nothing to escape. DAV: is the answer's default namespace.
PROPERTY_PIECES = {
    GETETAG: "<getetag>%s</getetag>",
    GETCONTENTTYPE: "<getcontenttype>text/calendar;charset=utf-8;component=%s</getcontenttype>",
    GETLASTMODIFIED: "<getlastmodified>%s</getlastmodified>",
    RESOURCETYPE: "<resourcetype/>",
}


def list_items(
    session: Session, collection_id: int, props: tuple[str, ...], hrefs: Sequence[str] | None = None
) -> list[Row]:
    """The rows ``item_responses`` renders for ``props``: only the columns they show."""
    return store.list_objects(
        session,
        collection_id,
        hrefs=hrefs,
        with_component=GETCONTENTTYPE in props,
        with_last_modified=GETLASTMODIFIED in props,
    )


def item_responses(
    target: DavTarget,
    listed: Sequence[Sequence[object]],
    props: tuple[str, ...],
    names_safe: bool | None = None,
) -> list[str]:
    """One ``<response>`` per row of ``list_items`` (or of the listing cache, whose rows always hold
    the component), in ``props`` order. ``names_safe``: whether no href needs quoting, if known.

    A listing can hold 100,000 items, so this is written for speed: rows are indexed, not read by
    attribute; the calendar's path and the markup between values are constants; and each response
    is one f-string of at most four values (href, then etag, component, last-modified as asked)."""
    rows = listed
    if names_safe is None:
        names_safe = all_safe([row[0] for row in listed])  # type: ignore[misc]
    if not names_safe:
        rows = [(quote(row[0]), *row[1:]) for row in listed]
    if GETLASTMODIFIED in props:
        rows = [(*row[:-1], http_date(row[-1])) for row in rows]
    # Row layout: href, etag[, component][, last_modified].
    layout = [GETETAG] + [prop for prop in (GETCONTENTTYPE, GETLASTMODIFIED) if prop in props]
    columns = [0]
    markup = ["<response><href>" + target.href(), "</href><propstat><prop>"]
    for prop in props:
        before, _, after = PROPERTY_PIECES[prop].partition("%s")
        markup[-1] += before
        if prop != RESOURCETYPE:
            columns.append(1 + layout.index(prop))
            markup.append(after)
    markup[-1] += "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
    return fill(markup, columns, rows)


def gone_response(target: DavTarget, href: str) -> str:
    return f"<response><href>{target.href(href)}</href><status>HTTP/1.1 404 Not Found</status></response>"
