"""PROPFIND Depth 1 on a calendar: the calendar's own properties from Radicale, its items from one query."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from sqlalchemy import Row
from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.fastdav.answer import DavAnswer, NotHandled, xml_answer
from caldee_dav.fastdav.queries import GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE
from caldee_dav.fastdav.target import DavTarget, all_safe, require_calendar
from caldee_dav.radicale_collection import http_date

# Each listable property as a %-format piece and the column of the listing row it shows.
# ETags are quoted hex digests (ical.etag_of) and components plain names: nothing to escape.
PROPERTY_PIECES: dict[str, tuple[str, int | None]] = {
    GETETAG: ("<getetag>%s</getetag>", 1),
    GETCONTENTTYPE: ("<getcontenttype>text/calendar;charset=utf-8;component=%s</getcontenttype>", 2),
    GETLASTMODIFIED: ("<getlastmodified>%s</getlastmodified>", 3),
    RESOURCETYPE: ("<resourcetype/>", None),
}
# Radicale writes its multistatus with DAV: as the default namespace; the items added to it use it too.
DEFAULT_DAV_ROOT = b'<multistatus xmlns="DAV:"'


def answer_listing(
    session: Session, target: DavTarget, props: tuple[str, ...], calendar_answer: bytes
) -> DavAnswer:
    """``calendar_answer`` is Radicale's Depth 0 multistatus for the same body: the calendar's own
    properties (ctag, sync-token, ...) stay Radicale's; the item responses are added to it."""
    collection = require_calendar(session, target)
    listed = store.list_objects(session, collection.id, with_last_modified=GETLASTMODIFIED in props)
    closing = calendar_answer.rfind(b"</")
    if DEFAULT_DAV_ROOT not in calendar_answer or not calendar_answer[closing:].startswith(b"</multistatus>"):
        raise NotHandled
    items = "".join(_item_responses(target, listed, props)).encode()
    answer = xml_answer("")
    answer.body = calendar_answer[:closing] + items + calendar_answer[closing:]
    return answer


def _item_responses(target: DavTarget, listed: Sequence[Row], props: tuple[str, ...]) -> list[str]:
    # Rows are indexed, not read by attribute, and the calendar's path is part of the template:
    # over 10,000 items each per-item step costs milliseconds.
    pieces = [PROPERTY_PIECES[prop] for prop in props]
    if not all_safe([obj[0] for obj in listed]):
        listed = [(quote(obj[0]), *obj[1:]) for obj in listed]
    template = (
        "<response><href>"
        + target.href().replace("%", "%%")
        + "%s</href><propstat><prop>"
        + "".join(piece for piece, _ in pieces)
        + "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
    )
    columns = [0] + [column for _, column in pieces if column is not None]
    if columns == [0, 1]:  # the common case, getetag (+ resourcetype)
        return [template % (obj[0], obj[1]) for obj in listed]
    if 3 in columns:
        listed = [(*obj[:3], http_date(obj[3])) for obj in listed]
    return [template % tuple([obj[column] for column in columns]) for obj in listed]
