"""``/api/v2/availability``: the bookable slots of one of the user's event types.

The query parsing and the answer are shared with the public slots endpoint (``api.public``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from api.auth import require_scopes
from api.body import invalid
from api.context import caledee, current_user_id, read_unit
from api.schemas.bookings import SlotOut
from api.schemas.common import check_schedulable
from caldee_dav.calendars import accounts
from caldee_dav.errors import Field, InvalidInput, Problem, Unauthorized
from caldee_dav.scheduling import offers
from caldee_dav.zones import zone_named

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

bp = Blueprint("availability", __name__)

# An empty answer whose range lies wholly outside the bookable range says why in these headers (the
# contract fixes the body: {"data": [...]}): a token, and a sentence for people.
EMPTY_REASON_HEADER = "Caledee-Empty-Reason"
EMPTY_DETAIL_HEADER = "Caledee-Empty-Detail"


@dataclass(frozen=True)
class SlotQuery:
    """The slot parameters shared by /availability and the public slots endpoint, parsed."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    duration: int | None


def _instant(problems: list[Problem], name: str, value: str | None, zone: ZoneInfo | None) -> datetime | None:
    """An RFC 3339 date-time; a date or a time without offset is read in ``zone``."""
    if value is None or not value.strip():
        problems.append(Problem((name,), "is required", "required"))
        return None
    text = value.strip()
    if " " in text and "T" in text:
        text = text.replace(" ", "+")  # an unencoded "+02:00" arrives as " 02:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        problems.append(
            Problem(
                (name,),
                f"is not an RFC 3339 date-time such as 2027-03-29T09:00:00+02:00: {value!r}",
                "invalid_datetime",
            )
        )
        return None
    if instant.tzinfo is None:
        if zone is None:
            return None  # the time zone is wrong too, and said so
        instant = instant.replace(tzinfo=zone)
    try:
        return check_schedulable(instant)
    except ValueError as exc:
        problems.append(Problem((name,), f"{exc}: {value!r}", "out_of_range"))
        return None


def parse_slot_query(problems: list[Problem], default_zone: Callable[[], str]) -> SlotQuery | None:
    """``from``, ``to``, ``tz`` and ``duration`` of the query string, each problem added to ``problems``;
    None when any is wrong. ``default_zone`` names the zone when ``tz`` is not given."""
    args = request.args
    tz = args.get("tz")
    zone: ZoneInfo | None
    if tz is None or not tz.strip():
        zone = ZoneInfo(default_zone())
    else:
        zone = zone_named(tz.strip())
        if zone is None:
            message = f"unknown time zone {tz!r}; use an IANA name such as Europe/Paris"
            problems.append(Problem(("tz",), message, "invalid_time_zone"))
    start = _instant(problems, "from_", args.get("from"), zone)
    end = _instant(problems, "to", args.get("to"), zone)
    duration: int | None = None
    raw_duration = args.get("duration")
    if raw_duration is not None:
        if raw_duration.strip().isdigit() and 0 < int(raw_duration) <= 100_000:
            duration = int(raw_duration)
        else:
            problems.append(Problem(("duration",), "must be a whole number of minutes", "invalid_integer"))
    if start is not None and end is not None:
        if end <= start:
            problems.append(Problem(("to",), ("must be after `", Field("from_"), "`"), "empty_range"))
        elif end - start > offers.MAX_RANGE:
            message = f"spans more than {offers.MAX_RANGE.days} days from `from`; ask for a shorter range"
            problems.append(Problem(("to",), message, "range_too_long"))
    if problems or start is None or end is None or zone is None:
        return None
    return SlotQuery(start, end, zone, duration)


def slots_response(offer: offers.Offer, zone: ZoneInfo) -> Response:
    """The contract's ``{"data": [Slot...]}`` in ``zone``; an empty answer says why in headers."""
    response = jsonify(
        {"data": [SlotOut.plain(s.start.astimezone(zone), s.end.astimezone(zone)) for s in offer.slots]}
    )
    if offer.empty_reason is not None:
        response.headers[EMPTY_REASON_HEADER] = offer.empty_reason.code
        response.headers[EMPTY_DETAIL_HEADER] = offer.empty_reason.message
    return response


def duration_problem(exc: offers.DurationNotOffered) -> InvalidInput:
    """The event type does not offer the duration asked: about the ``duration`` query parameter."""
    return invalid([Problem(("duration",), str(exc), "duration_not_offered")])


def _timezone_of(session: Session, user_id: str) -> str:
    user = accounts.get_user(session, user_id)
    if user is None:  # deleted since the token was checked
        raise Unauthorized("The access token is invalid, revoked or expired.")
    return user.timezone


@bp.get("/availability")
@require_scopes("read:availability")
def get_availability() -> Response:
    owner_id = current_user_id()
    problems: list[Problem] = []
    event_type_id = request.args.get("eventTypeId", "").strip()
    if not event_type_id:
        problems.append(Problem(("event_type_id",), "is required", "required"))
    with read_unit() as session:
        query = parse_slot_query(problems, lambda: _timezone_of(session, owner_id))
        if problems or query is None:
            raise invalid(problems)
        try:
            offer = offers.availability(
                session, owner_id, event_type_id, query.start, query.end, query.duration, caledee().now()
            )
        except offers.DurationNotOffered as exc:
            raise duration_problem(exc) from exc
    return slots_response(offer, query.zone)
