"""Pure checks of event type fields: limits, durations, location, questions, slugs, calendar ids.

No database here; the service in ``event_types`` resolves references and writes rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from caldee_dav.errors import Problem
from caldee_dav.scheduling.editing import Problems, check_name

KINDS = ("one_on_one", "round_robin", "collective")
TEAM_KINDS = frozenset({"round_robin", "collective"})
LOCATION_KINDS = ("video", "phone", "in_person", "link", "custom")
# Location kinds whose value is the point of the location (an address, a URL, free text).
LOCATION_VALUE_REQUIRED = frozenset({"in_person", "link", "custom"})
QUESTION_TYPES = ("text", "textarea", "email", "phone", "select", "multiselect", "checkbox", "number")
CHOICE_TYPES = frozenset({"select", "multiselect"})

DEFAULT_COLOR = "#0069ff"
DEFAULT_DURATIONS = (30,)
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
MAX_DURATIONS = 20
MAX_DURATION_MIN = 1440
MAX_QUESTIONS = 50
MAX_OPTIONS = 100
MAX_LABEL_LENGTH = 500
MAX_LOCATION_VALUE_LENGTH = 1000
MAX_SLUG_LENGTH = 100
# Reminder mails: minutes before a booking's start (None on the row: DEFAULT_REMINDER_MINUTES).
DEFAULT_REMINDER_MINUTES = (1440, 60)
MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 30 * 1440

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,99})$")
COLOR_PATTERN = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
QUESTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
URL_PATTERN = re.compile(r"^https?://\S+$")

# Integer settings: column -> (minimum, maximum, nullable, default). Null means unlimited (window,
# per-day cap) or "the duration" (slot interval).
INT_SETTINGS: dict[str, tuple[int, int, bool, int | None]] = {
    "buffer_before_min": (0, 1440, False, 0),
    "buffer_after_min": (0, 1440, False, 0),
    "minimum_notice_min": (0, 366 * 1440, False, 0),
    "booking_window_days": (1, 3660, True, None),
    "max_bookings_per_day": (1, 1000, True, None),
    "slot_interval_min": (1, 1440, True, None),
}
# Boolean settings: column -> default.
BOOL_SETTINGS: dict[str, bool] = {
    "active": True,
    "secret": False,
    "requires_confirmation": False,
}


# --- pure checks --------------------------------------------------------------------------------


def slug_from(text: str) -> str:
    """A URL slug made from a name: "Café Chat!" -> "cafe-chat"; "event" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].strip("-") or "event"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def normalize_durations(problems: Problems, value: Any) -> list[int]:
    """Distinct durations in minutes, 1..1440, sorted."""
    if not _is_list(value) or not value:
        problems.add(["durations_min"], "must list at least one duration in minutes", "required")
        return []
    if len(value) > MAX_DURATIONS:
        problems.add(["durations_min"], f"must list at most {MAX_DURATIONS} durations", "too_many")
        return []
    seen: set[int] = set()
    for index, minutes in enumerate(value):
        if not _is_int(minutes) or not 1 <= minutes <= MAX_DURATION_MIN:
            problems.add(
                ["durations_min", index], f"must be whole minutes from 1 to {MAX_DURATION_MIN}", "range"
            )
        elif minutes in seen:
            problems.add(["durations_min", index], f"{minutes} is listed twice", "duplicate")
        else:
            seen.add(minutes)
    return sorted(seen)


def normalize_reminders(problems: Problems, value: Any) -> list[int] | None:
    """Distinct minutes before the start, 0..30 days, largest first; None: the default (a day and an
    hour before); an empty list: no reminders."""
    if value is None:
        return None
    if not _is_list(value):
        problems.add(["reminder_minutes"], "must be a list of minutes or null", "invalid")
        return None
    if len(value) > MAX_REMINDERS:
        problems.add(["reminder_minutes"], f"must list at most {MAX_REMINDERS} reminders", "too_many")
        return None
    seen: set[int] = set()
    for index, minutes in enumerate(value):
        if not _is_int(minutes) or not 0 <= minutes <= MAX_REMINDER_MINUTES:
            message = f"must be whole minutes from 0 to {MAX_REMINDER_MINUTES}"
            problems.add(["reminder_minutes", index], message, "range")
        elif minutes in seen:
            problems.add(["reminder_minutes", index], f"{minutes} is listed twice", "duplicate")
        else:
            seen.add(minutes)
    return sorted(seen, reverse=True)


def reminder_minutes_of(stored: Any) -> list[int]:
    """The reminders an event type's row asks for (its column, or the default when null)."""
    return list(DEFAULT_REMINDER_MINUTES if stored is None else stored)


def normalize_location(problems: Problems, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.add(["location"], "must be an object {kind, value} or null", "invalid")
        return None
    kind, text = value.get("kind"), value.get("value")
    if kind not in LOCATION_KINDS:
        problems.add(["location", "kind"], f"must be one of {', '.join(LOCATION_KINDS)}", "invalid_kind")
        return None
    if text is not None and not isinstance(text, str):
        problems.add(["location", "value"], "must be a string or null", "invalid")
        return None
    text = (text or "").strip() or None
    if text is not None and len(text) > MAX_LOCATION_VALUE_LENGTH:
        problems.add(
            ["location", "value"], f"must be at most {MAX_LOCATION_VALUE_LENGTH} characters", "too_long"
        )
    elif text is None and kind in LOCATION_VALUE_REQUIRED:
        problems.add(["location", "value"], f"is required for a {kind} location", "required")
    elif kind == "link" and text is not None and not URL_PATTERN.match(text):
        problems.add(["location", "value"], "must be an http(s) URL", "invalid_url")
    return {"kind": kind, "value": text}


def normalize_questions(problems: Problems, value: Any) -> list[dict[str, Any]]:
    """Questions in stored form; missing ids are made from the label, unique within the event type."""
    if not _is_list(value):
        problems.add(["questions"], "must be a list", "invalid")
        return []
    if len(value) > MAX_QUESTIONS:
        problems.add(["questions"], f"must have at most {MAX_QUESTIONS} questions", "too_many")
        return []
    used = {q.get("id") for q in value if isinstance(q, Mapping) and isinstance(q.get("id"), str)}
    taken: set[str] = set()
    result: list[dict[str, Any]] = []
    for index, question in enumerate(value):
        path: list[str | int] = ["questions", index]
        if not isinstance(question, Mapping):
            problems.add(path, "must be an object {id, label, type, required, options}", "invalid")
            continue
        label = check_name(problems, [*path, "label"], question.get("label"), MAX_LABEL_LENGTH)
        kind = question.get("type", "text")
        if kind not in QUESTION_TYPES:
            problems.add([*path, "type"], f"must be one of {', '.join(QUESTION_TYPES)}", "invalid_type")
        required = question.get("required", False)
        if not isinstance(required, bool):
            problems.add([*path, "required"], "must be true or false", "invalid_bool")
        options = _question_options(problems, path, kind, question.get("options"))
        question_id = question.get("id")
        if question_id is None:
            question_id = _fresh_id(slug_from(label or "question")[:60], used | taken)
        elif not isinstance(question_id, str) or not QUESTION_ID_PATTERN.match(question_id):
            problems.add([*path, "id"], "must be 1-64 letters, digits, '-' or '_'", "invalid_id")
        elif question_id in taken:
            problems.add([*path, "id"], f"{question_id!r} is used by another question", "duplicate")
        taken.add(str(question_id))
        result.append(
            {"id": question_id, "label": label, "type": kind, "required": required, "options": options}
        )
    return result


def _question_options(problems: Problems, path: list[str | int], kind: Any, value: Any) -> list[str]:
    options = [] if value is None else value
    if not _is_list(options) or not all(isinstance(o, str) and o.strip() for o in options):
        problems.add([*path, "options"], "must be a list of non-empty strings", "invalid")
        return []
    options = [option.strip() for option in options]
    if kind in CHOICE_TYPES and not options:
        problems.add([*path, "options"], f"a {kind} question needs at least one option", "required")
    elif kind not in CHOICE_TYPES and options:
        problems.add([*path, "options"], "only select and multiselect questions take options", "not_allowed")
    elif len(options) > MAX_OPTIONS or len(set(options)) != len(options):
        problems.add([*path, "options"], f"must be at most {MAX_OPTIONS} distinct options", "invalid")
    return options


def _fresh_id(base: str, used: set[Any]) -> str:
    candidate, number = base, 1
    while candidate in used and number <= MAX_QUESTIONS + 1:  # bounded: at most MAX_QUESTIONS are used
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def calendar_path(reference: str) -> str:
    """A calendar id as sent ("alice/work", "/dav/alice/work/") as its collection path."""
    path = reference.strip()
    if path.startswith("/dav/"):
        path = path[len("/dav/") :]
    return path.strip("/")


def check_fields(given: dict[str, Any], creating: bool, problems: Problems) -> dict[str, Any]:
    """Validated values of the plain fields (no lookups); reference fields are only shape-checked."""
    values: dict[str, Any] = {}
    if creating and "name" not in given:
        problems.add(["name"], "is required", "required")
    if "name" in given:
        values["name"] = check_name(problems, ["name"], given["name"], MAX_NAME_LENGTH)
    if given.get("slug") is not None:
        slug = given["slug"]
        if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
            problems.add(["slug"], "must be 1-100 lowercase letters, digits and dashes", "invalid_slug")
        values["slug"] = slug
    if "kind" in given:
        if given["kind"] not in KINDS:
            problems.add(["kind"], f"must be one of {', '.join(KINDS)}", "invalid_kind")
        values["kind"] = given["kind"]
    if "description" in given:
        text = given["description"]
        if text is not None and (not isinstance(text, str) or len(text) > MAX_DESCRIPTION_LENGTH):
            problems.add(["description"], f"must be text of at most {MAX_DESCRIPTION_LENGTH} characters")
        values["description"] = text
    if "durations_min" in given:
        values["durations_min"] = normalize_durations(problems, given["durations_min"])
    for column, (low, high, nullable, _) in INT_SETTINGS.items():
        if column in given:
            number = given[column]
            if number is None and nullable:
                values[column] = None
            elif not _is_int(number) or not low <= number <= high:
                suffix = " or null" if nullable else ""
                problems.add([column], f"must be a whole number from {low} to {high}{suffix}", "range")
            else:
                values[column] = number
    for column in BOOL_SETTINGS:
        if column in given:
            if not isinstance(given[column], bool):
                problems.add([column], "must be true or false", "invalid_bool")
            values[column] = given[column]
    if "color" in given:
        color = given["color"]
        if color is None:
            values["color"] = DEFAULT_COLOR
        elif not isinstance(color, str) or not COLOR_PATTERN.match(color):
            problems.add(["color"], 'must be a hex color such as "#0069ff"', "invalid_color")
        else:
            values["color"] = color.lower()
    if "reminder_minutes" in given:
        values["reminder_minutes"] = normalize_reminders(problems, given["reminder_minutes"])
    if "location" in given:
        values["location"] = normalize_location(problems, given["location"])
    if "questions" in given:
        values["questions"] = normalize_questions(problems, given["questions"])
    if (
        "schedule_id" in given
        and given["schedule_id"] is not None
        and not isinstance(given["schedule_id"], str)
    ):
        problems.add(["schedule_id"], "must be a schedule id or null", "invalid")
    reference = given.get("booking_calendar_id")
    if reference is not None and not isinstance(reference, str):
        problems.add(["booking_calendar_id"], "must be a calendar id or null", "invalid")
    for field in ("busy_calendar_ids", "hosts"):
        if field in given and (
            not _is_list(given[field]) or not all(isinstance(i, str) for i in given[field])
        ):
            problems.add([field], "must be a list of strings", "invalid")
    return values


def field_problems(given: dict[str, Any], creating: bool) -> list[Problem]:
    """Every problem ``check_fields`` finds in ``given`` (an edge reports them with its own)."""
    problems = Problems()
    check_fields(given, creating, problems)
    return problems.problems
