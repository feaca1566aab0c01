"""REPORT calendar-query on a calendar: candidates from the occurrence index, text as stored."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.dav.fast import multistatus
from caldee_dav.dav.fast.answer import DavAnswer, xml_answer
from caldee_dav.dav.fast.expand import expanded_text, overlaps
from caldee_dav.dav.fast.queries import CALENDAR_DATA, GETCONTENTTYPE, GETETAG, CalendarQuery
from caldee_dav.dav.fast.target import SAFE_NAME, DavTarget, require_calendar


def answer_calendar_query(session: Session, target: DavTarget, query: CalendarQuery) -> DavAnswer:
    collection = require_calendar(session, target)
    if query.has_time_range:
        stored = store.texts_in_range(session, collection, query.start, query.end, query.component)
    else:
        stored = store.texts_of_component(session, collection.id, query.component)
    return xml_answer(multistatus.document_bytes(_responses(target, query, stored)))


def _responses(target: DavTarget, query: CalendarQuery, stored: list[store.StoredText]) -> list[bytes]:
    """The responses as UTF-8 pieces: stored data is joined as bytes, never decoded (only what must
    be parsed is)."""
    window = _filter_window(query)
    expand = _expand_window(query, window)
    markup, columns = _response_markup(target, query)
    rows = []
    for obj in stored:
        if not obj.exact and window is not None and not overlaps(obj.data.decode(), *window):
            continue
        data = obj.data
        if expand is not None and obj.recurring and query.component == "VEVENT":
            expanded = expanded_text(obj.data.decode(), *expand)
            if expanded is None:
                continue  # no instance in the expand range
            data = expanded.encode()
        name = obj.href if SAFE_NAME.fullmatch(obj.href) else quote(obj.href)
        # ETags are quoted hex digests (ical.etag_of): nothing to escape.
        rows.append((name.encode(), obj.etag.encode(), multistatus.escape_bytes(data)))
    return multistatus.fill_bytes([part.encode() for part in markup], columns, rows)


def _response_markup(target: DavTarget, query: CalendarQuery) -> tuple[list[str], list[int]]:
    """The markup around the values of one response, and which value of a row (name, etag, data)
    each gap shows: the same for every object of the answer."""
    markup = ["<D:response><D:href>" + target.href(), "</D:href><D:propstat><D:prop>"]
    columns = [0]
    missing = []
    for prop in query.props:
        if prop == GETETAG:
            markup[-1] += "<D:getetag>"
            markup.append("</D:getetag>")
            columns.append(1)
        elif prop == CALENDAR_DATA:
            markup[-1] += "<C:calendar-data>"
            markup.append("</C:calendar-data>")
            columns.append(2)
        elif prop == GETCONTENTTYPE:
            content_type = f"text/calendar;charset=utf-8;component={query.component}"
            markup[-1] += multistatus.element(prop, content_type)
        else:
            missing.append(multistatus.element(prop))
    markup[-1] += "</D:prop>" + multistatus.OK + "</D:propstat>"
    if missing:
        markup[-1] += "<D:propstat><D:prop>" + "".join(missing) + "</D:prop>" + multistatus.NOT_FOUND
        markup[-1] += "</D:propstat>"
    markup[-1] += "</D:response>"
    return markup, columns


def _filter_window(query: CalendarQuery) -> tuple[datetime, datetime] | None:
    if not query.has_time_range:
        return None
    return _instant(query.start), _instant(query.end)


_LATEST = datetime.max.replace(tzinfo=UTC)


def _instant(timestamp: int) -> datetime:
    """A time-range bound as a datetime. A range without an end ends at TIMESTAMP_MAX, the timestamp
    of datetime.max rounded up, which is in the year 10000: datetime.max stands for it."""
    return _LATEST if timestamp >= _LATEST.timestamp() else datetime.fromtimestamp(timestamp, UTC)


def _expand_window(
    query: CalendarQuery, window: tuple[datetime, datetime] | None
) -> tuple[datetime, datetime] | None:
    """Instances are returned where the expand range and the filter's time-range overlap."""
    if query.expand is None or window is None:
        return query.expand
    return max(query.expand[0], window[0]), min(query.expand[1], window[1])
