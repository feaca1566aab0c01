"""Availability schedules: weekly rules and date overrides in one IANA time zone, one default per user.

Storage format of ``Schedule`` (the slot engine reads it exactly like this):

    weekly_rules   = [{"day": "mon", "start": "09:00", "end": "12:00"}, ...]   sorted by day, then start
    date_overrides = [{"date": "2027-01-02", "intervals": [{"start": "10:00", "end": "12:00"}]}, ...]

Times are wall-clock "HH:MM" in the schedule's time zone; ``end`` may be "24:00" (the midnight that ends
the day). An override replaces that date's weekly rules; an override with no intervals closes the day.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from caldee_dav import clock
from caldee_dav.errors import Field, NotFound, Problem
from caldee_dav.models import EventType, Schedule
from caldee_dav.scheduling.editing import (
    UNSET,
    Problems,
    check_name,
    check_timezone,
    given_fields,
    lock_owner,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Also accepted on input: full English names, and GudCal's / JavaScript's numbers (0 = Sunday).
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_NAMES = dict(zip(FULL_DAY_NAMES, DAYS, strict=True))
DAY_NUMBERS = {0: "sun", 1: "mon", 2: "tue", 3: "wed", 4: "thu", 5: "fri", 6: "sat"}

# Used for a user who has no schedule at all, in the user's own time zone.
DEFAULT_WEEKLY_RULES: tuple[dict[str, str], ...] = tuple(
    {"day": day, "start": "09:00", "end": "17:00"} for day in DAYS[:5]
)
DEFAULT_SCHEDULE_NAME = "Working Hours"
MAX_NAME_LENGTH = 200
MAX_RULES = 7 * 48
MAX_OVERRIDES = 1000

TIME_PATTERN = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- rules and overrides (pure) -----------------------------------------------------------------


def minutes_of(hhmm: str) -> int:
    """Minutes since midnight of a stored "HH:MM" ("24:00" is 1440)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def parse_day(value: Any) -> str | None:
    """ "mon".."sun", a full English day name (any case) or 0..6 with 0 = Sunday; None if none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return DAY_NUMBERS.get(value)
    if isinstance(value, str):
        text = value.strip().lower()
        return text if text in DAYS else DAY_NAMES.get(text)
    return None


def _check_interval(problems: Problems, path: list[str | int], interval: Any) -> dict[str, str] | None:
    if not isinstance(interval, Mapping):
        problems.add(path, "must be an object with start and end", "invalid_interval")
        return None
    start, end = interval.get("start"), interval.get("end")
    ok = True
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, str) or not TIME_PATTERN.match(value):
            problems.add([*path, name], 'must be a time "HH:MM" from 00:00 to 24:00', "invalid_time")
            ok = False
    if not ok:
        return None
    if start == "24:00":
        problems.add([*path, "start"], "must be before 24:00", "invalid_time")
        return None
    if minutes_of(end) <= minutes_of(start):
        problems.add([*path, "end"], f"must be after start {start}", "end_before_start")
        return None
    return {"start": start, "end": end}


def _check_no_overlap(
    problems: Problems, items: list[tuple[list[str | int], dict[str, str]]], label: str
) -> None:
    """Report intervals of one day that overlap; touching ones (12:00-13:00, 13:00-17:00) are fine."""
    ordered = sorted(items, key=lambda item: minutes_of(item[1]["start"]))
    for (_, previous), (path, current) in zip(ordered, ordered[1:], strict=False):
        if minutes_of(current["start"]) < minutes_of(previous["end"]):
            problems.add(
                [*path, "start"],
                f"{current['start']}-{current['end']} overlaps "
                f"{previous['start']}-{previous['end']} on {label}",
                "overlapping_intervals",
            )


def normalize_weekly_rules(
    problems: Problems, rules: Any, field: str = "weekly_rules"
) -> list[dict[str, str]]:
    """Validated rules in storage form, sorted by day then start."""
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        problems.add([field], "must be a list of {day, start, end}", "invalid_rules")
        return []
    if len(rules) > MAX_RULES:
        problems.add([field], f"must have at most {MAX_RULES} rules", "too_many")
        return []
    by_day: dict[str, list[tuple[list[str | int], dict[str, str]]]] = {day: [] for day in DAYS}
    for index, rule in enumerate(rules):
        path: list[str | int] = [field, index]
        if not isinstance(rule, Mapping):
            problems.add(path, "must be an object {day, start, end}", "invalid_rule")
            continue
        day = parse_day(rule.get("day"))
        if day is None:
            problems.add([*path, "day"], "must be one of mon, tue, wed, thu, fri, sat, sun", "invalid_day")
        interval = _check_interval(problems, path, rule)
        if day is not None and interval is not None:
            by_day[day].append((path, interval))
    for day, items in by_day.items():
        _check_no_overlap(problems, items, day)
    return [
        {"day": day, **interval}
        for day in DAYS
        for _, interval in sorted(by_day[day], key=lambda item: minutes_of(item[1]["start"]))
    ]


def normalize_date_overrides(
    problems: Problems, overrides: Any, field: str = "date_overrides"
) -> list[dict[str, Any]]:
    """Validated overrides in storage form, sorted by date; each date at most once."""
    if not isinstance(overrides, Sequence) or isinstance(overrides, str):
        problems.add([field], "must be a list of {date, intervals}", "invalid_overrides")
        return []
    if len(overrides) > MAX_OVERRIDES:
        problems.add([field], f"must have at most {MAX_OVERRIDES} overrides", "too_many")
        return []
    seen: dict[str, int] = {}
    result: list[dict[str, Any]] = []
    for index, override in enumerate(overrides):
        path: list[str | int] = [field, index]
        if not isinstance(override, Mapping):
            problems.add(path, "must be an object {date, intervals}", "invalid_override")
            continue
        day = _check_date(problems, [*path, "date"], override.get("date"))
        if day is not None and day in seen:
            message = (f"{day} is already overridden at ", Field(field, seen[day]))
            problems.add([*path, "date"], message, "duplicate_date")
            day = None
        intervals_in = override.get("intervals")
        if not isinstance(intervals_in, Sequence) or isinstance(intervals_in, str):
            problems.add([*path, "intervals"], "must be a list of {start, end} (empty = closed)", "invalid")
            continue
        items = []
        for position, interval in enumerate(intervals_in):
            checked = _check_interval(problems, [*path, "intervals", position], interval)
            if checked is not None:
                items.append(([*path, "intervals", position], checked))
        _check_no_overlap(problems, items, day or "that date")
        if day is not None:
            seen[day] = index
            ordered = sorted((interval for _, interval in items), key=lambda i: minutes_of(i["start"]))
            result.append({"date": day, "intervals": ordered})
    return sorted(result, key=lambda override: override["date"])


def _check_date(problems: Problems, path: list[str | int], value: Any) -> str | None:
    if isinstance(value, str) and DATE_PATTERN.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    problems.add(path, 'must be a date "YYYY-MM-DD"', "invalid_date")
    return None


# --- schedules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleChanges:
    """What a create or update sends; UNSET fields keep their value (or take the default on create).

    ``weekly_rules`` and ``date_overrides`` use the storage form; ``day`` may also be a full name or
    a number (0 = Sunday).
    """

    name: Any = UNSET
    timezone: Any = UNSET
    is_default: Any = UNSET
    weekly_rules: Any = UNSET
    date_overrides: Any = UNSET


def list_schedules(session: Session, owner_id: str) -> list[Schedule]:
    query = select(Schedule).where(Schedule.user_id == owner_id)
    return list(session.scalars(query.order_by(Schedule.created_at, Schedule.id)))


def get_schedule(session: Session, owner_id: str, schedule_id: str) -> Schedule:
    """The owner's schedule; another user's id is as unknown as a made-up one."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or schedule.user_id != owner_id:
        raise NotFound(f"no schedule {schedule_id!r}")
    return schedule


def _checked(changes: ScheduleChanges, problems: Problems) -> dict[str, Any]:
    """The given fields, validated and normalized to storage form."""
    given = given_fields(changes)
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = check_name(problems, ["name"], given["name"], MAX_NAME_LENGTH)
    if "timezone" in given:
        values["timezone"] = check_timezone(problems, ["timezone"], given["timezone"])
    if "is_default" in given:
        if not isinstance(given["is_default"], bool):
            problems.add(["is_default"], "must be true or false", "invalid_bool")
        values["is_default"] = given["is_default"]
    if "weekly_rules" in given:
        values["weekly_rules"] = normalize_weekly_rules(problems, given["weekly_rules"])
    if "date_overrides" in given:
        values["date_overrides"] = normalize_date_overrides(problems, given["date_overrides"])
    return values


def field_problems(changes: ScheduleChanges) -> list[Problem]:
    """Every problem the checks of the given fields find (an edge reports them with its own)."""
    problems = Problems()
    _checked(changes, problems)
    return problems.problems


def _make_default(session: Session, schedule: Schedule) -> None:
    for other in list_schedules(session, schedule.user_id):
        if other.id != schedule.id and other.is_default:
            other.is_default = False
    schedule.is_default = True


def create_schedule(session: Session, owner_id: str, changes: ScheduleChanges) -> Schedule:
    """A new schedule; the user's first one becomes the default whatever ``is_default`` says."""
    owner = lock_owner(session, owner_id)
    problems = Problems()
    values = _checked(changes, problems)
    problems.raise_if_any()
    has_schedules = bool(list_schedules(session, owner_id))
    now = clock.now()
    schedule = Schedule(
        user_id=owner_id,
        name=values.get("name", DEFAULT_SCHEDULE_NAME),
        timezone=values.get("timezone", owner.timezone),
        is_default=False,
        weekly_rules=values.get("weekly_rules", [dict(rule) for rule in DEFAULT_WEEKLY_RULES]),
        date_overrides=values.get("date_overrides", []),
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    session.flush()
    if values.get("is_default") is True or not has_schedules:
        _make_default(session, schedule)
        session.flush()
    return schedule


def update_schedule(session: Session, owner_id: str, schedule_id: str, changes: ScheduleChanges) -> Schedule:
    """Change the given fields; rules and overrides sent replace the old lists whole."""
    lock_owner(session, owner_id)
    schedule = get_schedule(session, owner_id, schedule_id)
    problems = Problems()
    values = _checked(changes, problems)
    if values.get("is_default") is False and schedule.is_default:
        problems.add(
            ["is_default"],
            (
                "a user always has one default schedule: set ",
                Field("is_default"),
                " on another schedule instead",
            ),
            "default_required",
        )
    problems.raise_if_any()
    for name in ("name", "timezone", "weekly_rules", "date_overrides"):
        if name in values and getattr(schedule, name) != values[name]:
            setattr(schedule, name, values[name])
    if values.get("is_default") is True and not schedule.is_default:
        _make_default(session, schedule)
    session.flush()
    return schedule


def delete_schedule(session: Session, owner_id: str, schedule_id: str) -> None:
    """Delete; event types that used it fall back to the default, and the oldest remaining schedule
    becomes the default if this one was."""
    lock_owner(session, owner_id)
    schedule = get_schedule(session, owner_id, schedule_id)
    was_default = schedule.is_default
    # The foreign key says SET NULL too; doing it here keeps updatedAt truthful and the session current.
    session.execute(
        update(EventType)
        .where(EventType.schedule_id == schedule.id)
        .values(schedule_id=None, updated_at=clock.now())
        .execution_options(synchronize_session="fetch")
    )
    session.delete(schedule)
    session.flush()
    if was_default:
        remaining = list_schedules(session, owner_id)
        if remaining:
            remaining[0].is_default = True
            session.flush()
