"""``/api/v2/availability``: the bookable slots of one of the user's event types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify

from api.auth import require_scopes
from api.body import query_args
from api.context import caledee, current_user_id, read_unit
from api.schemas.bookings import AvailabilityQuery, SlotOut
from api.schemas.common import check_schedulable
from caldee_dav.calendars import accounts
from caldee_dav.errors import InvalidInput, Unauthorized
from caldee_dav.scheduling import offers
from caldee_dav.zones import zone_named

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

bp = Blueprint("availability", __name__)


def parse_zone(name: str) -> ZoneInfo:
    zone = zone_named(name)
    if zone is None:
        raise InvalidInput(f"`tz`: unknown time zone {name!r}; use an IANA name such as Europe/Paris.")
    return zone


def parse_instant(value: str, zone: ZoneInfo, name: str) -> datetime:
    """An RFC 3339 date-time; a date or a time without offset is read in ``zone``."""
    text = value.strip()
    if " " in text and "T" in text:
        text = text.replace(" ", "+")  # an unencoded "+02:00" arrives as " 02:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"`{name}` is not an RFC 3339 date-time such as 2027-03-29T09:00:00+02:00: {value!r}."
        ) from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=zone)
    try:
        return check_schedulable(instant)
    except ValueError as exc:
        raise InvalidInput(f"`{name}` {exc}: {value!r}.") from exc


def _timezone_of(session: Session, user_id: str) -> str:
    user = accounts.get_user(session, user_id)
    if user is None:  # deleted since the token was checked
        raise Unauthorized("The access token is invalid, revoked or expired.")
    return user.timezone


@bp.get("/availability")
@require_scopes("read:availability")
def get_availability() -> Response:
    args = query_args(AvailabilityQuery)
    owner_id = current_user_id()
    with read_unit() as session:
        zone = parse_zone(args.tz or _timezone_of(session, owner_id))
        start = parse_instant(args.from_, zone, "from")
        end = parse_instant(args.to, zone, "to")
        try:
            slots = offers.availability(
                session, owner_id, args.event_type_id, start, end, args.duration, caledee().now()
            )
        except offers.EmptyRange as exc:
            raise InvalidInput("`to` must be after `from`.") from exc
        except offers.RangeTooLong as exc:
            raise InvalidInput(
                f"`from` to `to` spans more than {exc.max_days} days; ask for a shorter range."
            ) from exc
    return jsonify({"data": [SlotOut.plain(s.start.astimezone(zone), s.end.astimezone(zone)) for s in slots]})
