"""REPORT calendar-query on a calendar: candidates from the occurrence index, text as stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.fastdav import multistatus
from caldee_dav.fastdav.answer import DavAnswer, xml_answer
from caldee_dav.fastdav.expand import expanded_text, overlaps
from caldee_dav.fastdav.queries import CALENDAR_DATA, GETCONTENTTYPE, GETETAG, CalendarQuery
from caldee_dav.fastdav.target import DavTarget, require_calendar


def answer_calendar_query(session: Session, target: DavTarget, query: CalendarQuery) -> DavAnswer:
    collection = require_calendar(session, target)
    if query.has_time_range:
        stored = store.texts_in_range(session, collection, query.start, query.end, query.component)
    else:
        stored = store.texts_of_component(session, collection.id, query.component)
    return xml_answer(multistatus.document(_responses(target, query, stored)))


def _responses(target: DavTarget, query: CalendarQuery, stored: list[store.StoredText]) -> Iterator[str]:
    window = _filter_window(query)
    expand = _expand_window(query, window)
    template = _response_template(query)
    for obj in stored:
        if not obj.exact and window is not None and not overlaps(obj.text, *window):
            continue
        data = obj.text
        if expand is not None and obj.recurring and query.component == "VEVENT":
            expanded = expanded_text(obj.text, *expand)
            if expanded is None:
                continue  # no instance in the expand range
            data = expanded
        yield template.format(
            href=target.href(obj.href), etag=multistatus.escape(obj.etag), data=multistatus.escape(data)
        )


def _response_template(query: CalendarQuery) -> str:
    """One response as a format string with {href}, {etag} and {data}: the same for every object."""
    found, missing = [], []
    for prop in query.props:
        if prop == GETETAG:
            found.append("<D:getetag>{etag}</D:getetag>")
        elif prop == CALENDAR_DATA:
            found.append("<C:calendar-data>{data}</C:calendar-data>")
        elif prop == GETCONTENTTYPE:
            content_type = f"text/calendar;charset=utf-8;component={query.component}"
            found.append(multistatus.element(prop, content_type).replace("{", "{{").replace("}", "}}"))
        else:
            missing.append(multistatus.element(prop).replace("{", "{{").replace("}", "}}"))
    return multistatus.response("{href}", found, missing)


def _filter_window(query: CalendarQuery) -> tuple[datetime, datetime] | None:
    if not query.has_time_range:
        return None
    return datetime.fromtimestamp(query.start, UTC), datetime.fromtimestamp(query.end, UTC)


def _expand_window(
    query: CalendarQuery, window: tuple[datetime, datetime] | None
) -> tuple[datetime, datetime] | None:
    """Instances are returned where the expand range and the filter's time-range overlap."""
    if query.expand is None or window is None:
        return query.expand
    return max(query.expand[0], window[0]), min(query.expand[1], window[1])
