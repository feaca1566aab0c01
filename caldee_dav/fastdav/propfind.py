"""PROPFIND Depth 1 on a calendar: the calendar's own properties from Radicale, its items from one query."""

from __future__ import annotations

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.fastdav import multistatus
from caldee_dav.fastdav.answer import DavAnswer, NotHandled, xml_answer
from caldee_dav.fastdav.queries import GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE
from caldee_dav.fastdav.target import DavTarget, require_calendar
from caldee_dav.radicale_collection import http_date


def answer_listing(
    session: Session, target: DavTarget, props: tuple[str, ...], calendar_answer: bytes
) -> DavAnswer:
    """``calendar_answer`` is Radicale's Depth 0 multistatus for the same body: the calendar's own
    properties (ctag, sync-token, ...) stay Radicale's; the item responses are added to it."""
    collection = require_calendar(session, target)
    listed = store.list_objects(session, collection.id)
    closing = calendar_answer.rfind(b"</")
    if closing < 0 or b"multistatus>" not in calendar_answer[closing:]:
        raise NotHandled
    items = "".join(_item_response(target, obj, props) for obj in listed).encode()
    return xml_answer_bytes(calendar_answer[:closing] + items + calendar_answer[closing:])


def _item_response(target: DavTarget, obj: store.Listed, props: tuple[str, ...]) -> str:
    found = []
    for prop in props:
        if prop == GETETAG:
            found.append(multistatus.element(prop, obj.etag))
        elif prop == GETCONTENTTYPE:
            found.append(multistatus.element(prop, f"text/calendar;charset=utf-8;component={obj.component}"))
        elif prop == GETLASTMODIFIED:
            found.append(multistatus.element(prop, http_date(obj.last_modified)))
        elif prop == RESOURCETYPE:
            found.append(multistatus.element(prop))
    return multistatus.response(target.href(obj.href), found, declare=True)


def xml_answer_bytes(body: bytes) -> DavAnswer:
    answer = xml_answer("")
    answer.body = body
    return answer
