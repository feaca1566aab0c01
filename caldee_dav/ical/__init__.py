"""Pure iCalendar: parse and check objects, index them for the store, expand recurrences.

Nothing here knows SQL, HTTP or Radicale (an import-linter contract keeps it so).
"""

from caldee_dav.ical.expand import TooManyInstances, iter_vevent_instances, vevent_instances_between
from caldee_dav.ical.index import Instance, ObjectIndex, index_object
from caldee_dav.ical.parse import (
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    InvalidCalendarData,
    etag_of,
    main_components,
    parse_calendar,
    parse_errors,
    validate_object,
)

__all__ = [
    "TIMESTAMP_MAX",
    "TIMESTAMP_MIN",
    "Instance",
    "InvalidCalendarData",
    "ObjectIndex",
    "TooManyInstances",
    "etag_of",
    "index_object",
    "iter_vevent_instances",
    "main_components",
    "parse_calendar",
    "parse_errors",
    "validate_object",
    "vevent_instances_between",
]
