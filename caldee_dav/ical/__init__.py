"""Pure iCalendar: parse and check objects, index them for the store, expand recurrences.

Nothing here knows SQL, HTTP or Radicale (an import-linter contract keeps it so).
"""

from caldee_dav.ical.budget import READ_SECONDS, TooCostly, deadline
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
    parse_for_reading,
    split_by_uid,
    validate_object,
    with_crlf_line_endings,
)
from caldee_dav.ical.rules import UnacceptableRecurrence, rule_problem, unfolded_rules

__all__ = [
    "READ_SECONDS",
    "TIMESTAMP_MAX",
    "TIMESTAMP_MIN",
    "Instance",
    "InvalidCalendarData",
    "ObjectIndex",
    "TooCostly",
    "TooManyInstances",
    "UnacceptableRecurrence",
    "deadline",
    "etag_of",
    "index_object",
    "iter_vevent_instances",
    "main_components",
    "parse_calendar",
    "parse_errors",
    "parse_for_reading",
    "rule_problem",
    "split_by_uid",
    "unfolded_rules",
    "validate_object",
    "with_crlf_line_endings",
    "vevent_instances_between",
]
