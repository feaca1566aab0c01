"""The request bodies the fast path answers, read from the XML; anything else raises NotHandled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from radicale.item import filter as radicale_filter

from caldee_dav import ical
from caldee_dav.dav.fast.answer import NotHandled
from caldee_dav.dav.names import CALDAV, DAV, GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE

CALENDAR_DATA = CALDAV + "calendar-data"
EXPAND = CALDAV + "expand"
COMP_FILTER = CALDAV + "comp-filter"
TIME_RANGE = CALDAV + "time-range"
OBJECT_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
# Properties a listing of a calendar's items can answer without reading them.
LISTING_PROPS = {GETETAG, GETCONTENTTYPE, GETLASTMODIFIED, RESOURCETYPE}
EXPAND_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class CalendarQuery:
    """RFC 4791 7.8 calendar-query, limited to one component and an optional time-range."""

    props: tuple[str, ...]  # Clark names, in the order asked
    component: str
    start: int  # the time-range as timestamps (ical.TIMESTAMP_MIN / MAX when there is none)
    end: int
    expand: tuple[datetime, datetime] | None

    @property
    def has_time_range(self) -> bool:
        return (self.start, self.end) != (ical.TIMESTAMP_MIN, ical.TIMESTAMP_MAX)


def read_calendar_query(root: Any) -> CalendarQuery:
    if root.tag != CALDAV + "calendar-query":
        raise NotHandled
    props_element = root.find(DAV + "prop")
    filters = root.findall(CALDAV + "filter")
    if props_element is None or len(filters) != 1 or len(root) != 2:
        raise NotHandled
    props = _distinct_props(props_element)
    if not set(props) & {GETETAG, CALENDAR_DATA, GETCONTENTTYPE}:
        raise NotHandled  # nothing to answer but 404s: Radicale's way
    component, start, end = _read_filter(filters[0])
    expand = _read_calendar_data(props_element.find(CALENDAR_DATA))
    return CalendarQuery(props, component, start, end, expand)


def _read_filter(filter_element: Any) -> tuple[str, int, int]:
    (calendar_filter,) = _only(filter_element, COMP_FILTER)
    if calendar_filter.get("name", "").upper() != "VCALENDAR" or calendar_filter.attrib.keys() - {"name"}:
        raise NotHandled
    (object_filter,) = _only(calendar_filter, COMP_FILTER)
    component = object_filter.get("name", "").upper()
    if component not in OBJECT_COMPONENTS or object_filter.attrib.keys() - {"name"}:
        raise NotHandled
    if len(object_filter) == 0:
        return component, ical.TIMESTAMP_MIN, ical.TIMESTAMP_MAX
    (time_range,) = _only(object_filter, TIME_RANGE)
    # Only VEVENT's time-range rules are those of the occurrence index (RFC 4791 9.9).
    if component != "VEVENT":
        raise NotHandled
    try:
        start, end = radicale_filter.time_range_timestamps(time_range)
    except Exception as exc:  # noqa: BLE001 - malformed: Radicale answers it
        raise NotHandled from exc
    return component, start, end


def _read_calendar_data(data: Any) -> tuple[datetime, datetime] | None:
    if data is None or len(data) == 0:
        return None
    (expand,) = _only(data, EXPAND)
    try:
        start = datetime.strptime(expand.get("start", ""), EXPAND_FORMAT).replace(tzinfo=UTC)
        end = datetime.strptime(expand.get("end", ""), EXPAND_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise NotHandled from exc
    if end <= start:
        raise NotHandled
    return start, end


def _distinct_props(prop_element: Any) -> tuple[str, ...]:
    """The Clark names asked for; a property asked twice is left to Radicale."""
    props = tuple(prop.tag for prop in prop_element)
    if len(set(props)) != len(props):
        raise NotHandled
    return props


def _only(parent: Any, tag: str) -> list[Any]:
    """The single child of ``parent``, which must be a ``tag``."""
    children = list(parent)
    if len(children) != 1 or children[0].tag != tag:
        raise NotHandled
    return children


def read_listing_props(root: Any) -> tuple[str, ...]:
    """The properties of a PROPFIND that only lists items (ETags and the like)."""
    if root.tag != DAV + "propfind" or len(root) != 1 or root[0].tag != DAV + "prop":
        raise NotHandled
    props = _distinct_props(root[0])
    if not props or not set(props) <= LISTING_PROPS or any(len(prop) for prop in root[0]):
        raise NotHandled
    return props


@dataclass(frozen=True)
class SyncRequest:
    """RFC 6578 sync-collection at level 1, without a limit, for listable properties."""

    token: str
    props: tuple[str, ...]


def read_sync_request(root: Any) -> SyncRequest:
    if root.tag != DAV + "sync-collection":
        raise NotHandled
    allowed = {DAV + "sync-token", DAV + "sync-level", DAV + "prop"}
    if any(child.tag not in allowed for child in root):
        raise NotHandled  # e.g. DAV:limit
    if (root.findtext(DAV + "sync-level") or "1").strip() != "1":
        raise NotHandled
    props_element = root.find(DAV + "prop")
    if props_element is None:
        raise NotHandled
    props = _distinct_props(props_element)
    if not props or not set(props) <= LISTING_PROPS or any(len(prop) for prop in props_element):
        raise NotHandled
    return SyncRequest((root.findtext(DAV + "sync-token") or "").strip(), props)
