"""Which recurrence rules are stored at all.

Every stored series must stay cheap to expand, whoever reads it later (a query, the slot engine, an
export). So, besides RFC 5545's own rules on values (FREQ is required, INTERVAL and COUNT are positive
integers: ``INTERVAL=0`` made the expansion loop forever), a rule that repeats by the second or minute
must end (COUNT or UNTIL), and no rule may promise more instances than ``max_instances`` through its
COUNT or UNTIL (Radicale's own ``max_vevent_rrule_occurrence`` check, applied on every write path), or,
for an unending rule, between its start and the indexing horizon: the expansion library walks a
series from its DTSTART, so an hourly series begun in 1900 cost ten seconds for any six-hour window.
Rules whose BY-parts no date satisfies (``BYMONTH=2;BYMONTHDAY=30``) are caught by the expansion time
limit instead (``caldee_dav.ical.budget``): the library searches for them until the year 9999.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

import icalendar

from caldee_dav.ical.parse import InvalidCalendarData, as_utc, main_components

FREQUENCY_SECONDS = {
    "YEARLY": 365 * 86400,
    "MONTHLY": 30 * 86400,
    "WEEKLY": 7 * 86400,
    "DAILY": 86400,
    "HOURLY": 3600,
    "MINUTELY": 60,
    "SECONDLY": 1,
}
UNENDING_NOT_ALLOWED = ("SECONDLY", "MINUTELY")
RULE_PROPERTIES = ("RRULE", "EXRULE")


class UnacceptableRecurrence(InvalidCalendarData):
    """A recurrence rule that is invalid, or that this server refuses to store (see the module)."""


def check_recurrence_rules(
    calendar: icalendar.Calendar, max_instances: int, horizon: datetime | None = None
) -> None:
    """Raise UnacceptableRecurrence for the first rule of ``calendar`` that is not stored.
    ``horizon``: the end of the indexing horizon, up to which unending rules are measured."""
    for component in main_components(calendar):
        start = component.get("DTSTART")
        for name in RULE_PROPERTIES:
            for raw in _raw_rules(component, name):
                problem = rule_problem(raw, max_instances, start.dt if start is not None else None, horizon)
                if problem:
                    raise UnacceptableRecurrence(f"{component.name} {name}: {problem}")


def _raw_rules(component: icalendar.cal.Component, name: str) -> Iterable[str]:
    values = component.get(name)
    if values is None:
        return []
    values = values if isinstance(values, list) else [values]
    return [value.to_ical().decode() if hasattr(value, "to_ical") else str(value) for value in values]


def rule_problem(
    value: str, max_instances: int, start: date | datetime | None = None, horizon: datetime | None = None
) -> str | None:
    """Why the rule ``value`` (``FREQ=DAILY;COUNT=3``) is not stored, or None. ``start``: its DTSTART,
    which an UNTIL is measured from; ``horizon``: how far an unending rule is measured."""
    parts: dict[str, str] = {}
    for part in value.strip().split(";"):
        key, _, part_value = part.partition("=")
        if key:
            parts[key.strip().upper()] = part_value.strip()
    frequency = parts.get("FREQ", "").upper()
    if frequency not in FREQUENCY_SECONDS:
        return f"FREQ must be one of {', '.join(FREQUENCY_SECONDS)} (RFC 5545 3.3.10)"
    interval = _positive_integer(parts.get("INTERVAL", "1"))
    if interval is None:
        return "INTERVAL must be a positive integer (RFC 5545 3.3.10)"
    if "COUNT" in parts and "UNTIL" in parts:
        return "COUNT and UNTIL must not both be given (RFC 5545 3.3.10)"
    if "COUNT" in parts:
        count = _positive_integer(parts["COUNT"])
        if count is None:
            return "COUNT must be a positive integer (RFC 5545 3.3.10)"
        if count > max_instances:
            return f"COUNT={count} is more than the {max_instances} instances a series may have here"
        return None
    if "UNTIL" not in parts:
        if frequency in UNENDING_NOT_ALLOWED:
            return f"a FREQ={frequency} rule must end: give it a COUNT or an UNTIL"
        if start is not None and horizon is not None:
            span = (horizon - as_utc(start)).total_seconds()
            if span / (FREQUENCY_SECONDS[frequency] * interval) > max_instances:
                return (
                    f"an unending FREQ={frequency} series starting {as_utc(start):%Y-%m-%d} has more than "
                    f"{max_instances} instances by now; start it later or give it an UNTIL"
                )
        return None
    until = _until(parts["UNTIL"])
    if until is None:
        return f"UNTIL={parts['UNTIL']!r} is not a date or date-time"
    if start is not None:
        span = (as_utc(until) - as_utc(start)).total_seconds()
        estimated = span / (FREQUENCY_SECONDS[frequency] * interval)
        if estimated > max_instances:
            return (
                f"this rule makes about {int(estimated)} instances before its UNTIL; a series may have "
                f"at most {max_instances} here"
            )
    return None


def _positive_integer(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\+?[0-9]{1,9}", text) and int(text) > 0 else None


def _until(text: str) -> date | datetime | None:
    try:
        return icalendar.vDDDTypes.from_ical(text)
    except (ValueError, TypeError):
        return None


def unfolded_rules(text: str) -> list[str]:
    """The values of the RRULE and EXRULE lines of iCalendar ``text``, read without parsing the rest:
    the check in front of Radicale runs before any library reads a rule."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    found = []
    for line in unfolded.splitlines():
        name, _, value = line.partition(":")
        if name.split(";", 1)[0].strip().upper() in RULE_PROPERTIES:
            found.append(value)
    return found
