"""The booking pages people open in a browser: server-rendered HTML (``api/templates``) with a small
script and style sheet (``api/static``, served by Flask at /static), no build step.

- ``/{userSlug}``: the host and their listed event types.
- ``/{userSlug}/{eventSlug}`` (the event type's ``url``): pick a day and a time, fill the form, book.
  A client that prefers JSON to HTML (``Accept: application/json``, or ``*/*``) still gets the JSON of
  ``GET /api/v2/public/{userSlug}/{eventSlug}``, as before the pages.
- ``/booking/{id}?token=...``: the confirmation and the invitee's manage page (cancel, reschedule,
  add to a calendar); ``/booking/{id}/calendar.ics?token=...``: the VEVENT to add.

The pages only render: slots, bookings, leads, cancel and reschedule go through the public JSON
endpoints (``api.public``) from the script, so there is no second implementation of any of them.
The server's clock gives "today" (``data-now``): the browser's may be wrong, and tests move the server's.

Every page answers with a Content-Security-Policy allowing this server's files only (no inline script
or style), and no Referer (the manage page's address holds its token). Errors are pages of the same
look (404, 429 with the wait), unless the client asked for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, available_timezones

from flask import Blueprint, Response, make_response, render_template, request

from api.context import caledee, read_unit
from api.errors import error_response, json_text
from api.public import manage_url, public_event_type_response
from caldee_dav.errors import NotFound, TooManyRequests
from caldee_dav.models import Booking, EventType, User
from caldee_dav.scheduling import booking_manage, bookings, public

# The blueprint's name is the one ``api.rate_limits`` counts per client address.
bp = Blueprint("pages", __name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
GOOGLE_CALENDAR = "https://calendar.google.com/calendar/render"
LOCATION_KINDS = {
    "link": "Video call (link sent on booking)",
    "phone": "Phone call",
    "in_person": "In person",
    "address": "In person",
    "custom": "Details sent on booking",
}
STATUS_TITLES = {404: "Page not found", 429: "Too many requests"}


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones a person may pick: Area/City names and UTC, sorted (not the legacy aliases)."""
    legacy = ("Etc/", "SystemV/", "US/", "posix/", "right/", "Canada/", "Brazil/", "Mexico/", "Chile/")
    names = {z for z in available_timezones() if "/" in z and not z.startswith(legacy)}
    return tuple(sorted(names | {"UTC"}))


def _wants_json() -> bool:
    """Whether the client prefers JSON to HTML (``*/*`` does: scripts and tools relied on JSON here)."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


@bp.after_request
def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(NotFound)
@bp.errorhandler(TooManyRequests)
def _error_page(exc: NotFound | TooManyRequests) -> Response:
    """404 and 429 as a page of the same look, for people; the contract's error body for JSON clients.

    Registered on the blueprint, so it also answers the 429 ``api.rate_limits`` raises before the view."""
    status = 429 if isinstance(exc, TooManyRequests) else 404
    retry_after = exc.retry_after if isinstance(exc, TooManyRequests) else None
    message = json_text(exc.text)
    if request.endpoint == "pages.event_page" and _wants_json():
        response = error_response(status, exc.title, message)
    else:
        response = _page("error.html", status, title=STATUS_TITLES[status], message=message, wait=retry_after)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.get("/<user_slug>")
def host_page(user_slug: str) -> Response:
    with read_unit() as session:
        host, event_types = public.listed_event_types(session, user_slug)
        cards = [_event_card(et, host) for et in event_types]
        return _page("host.html", host=host, host_name=_host_name(host), event_types=cards)


@dataclass(frozen=True)
class EventCard:
    name: str
    description: str | None
    durations: list[int]
    url: str


def _event_card(event_type: EventType, host: User) -> EventCard:
    return EventCard(
        name=event_type.name,
        description=event_type.description,
        durations=_durations(event_type),
        url=f"/{quote(host.slug)}/{quote(event_type.slug)}",
    )


def _durations(event_type: EventType) -> list[int]:
    return [int(d) for d in event_type.durations_min or []] or [30]


def _host_name(host: User) -> str:
    return host.display_name or host.slug


@bp.get("/<user_slug>/<event_slug>")
def event_page(user_slug: str, event_slug: str) -> Response:
    if _wants_json():
        return public_event_type_response(user_slug, event_slug)
    with read_unit() as session:
        found = public.public_event_type(session, user_slug, event_slug)
        event_type, host = found.event_type, found.host
        location = (event_type.location or {}).get("kind")
        return _page(
            "event.html",
            host=host,
            host_name=_host_name(host),
            event_type=event_type,
            durations=_durations(event_type),
            location=LOCATION_KINDS.get(str(location), "Details sent on booking") if location else None,
            questions=list(event_type.questions or []),
            api_base=f"/api/v2/public/{quote(host.slug)}/{quote(event_type.slug)}",
            now=caledee().now().astimezone(UTC).isoformat(timespec="seconds"),
            zones=zone_names(),
        )


@dataclass(frozen=True)
class ManagedView:
    """What the manage page shows of a booking, in the invitee's time zone."""

    booking: Booking
    event_name: str
    host_name: str
    day: str
    times: str
    zone: str
    location: str | None
    ended: bool
    ics_url: str
    google_url: str
    manage_url: str


def _managed_view(booking: Booking, event_type: EventType, host: User, token: str) -> ManagedView:
    zone = ZoneInfo(booking.invitee_timezone)
    start, end = booking.start_at.astimezone(zone), booking.end_at.astimezone(zone)
    location = (booking.location or {}).get("value") or None
    summary = f"{event_type.name} with {_host_name(host)}"
    link = manage_url(booking.id, token)
    google = urlencode(
        {
            "action": "TEMPLATE",
            "text": summary,
            "dates": f"{_google_time(booking.start_at)}/{_google_time(booking.end_at)}",
            "details": f"Manage this booking: {link}",
            **({"location": location} if location else {}),
        }
    )
    return ManagedView(
        booking=booking,
        event_name=event_type.name,
        host_name=_host_name(host),
        day=f"{start:%A} {start.day} {start:%B %Y}",
        times=f"{start:%H:%M} – {end:%H:%M}",
        zone=booking.invitee_timezone,
        location=str(location) if location else None,
        ended=booking.status in bookings.ENDED_STATUSES,
        ics_url=f"/booking/{quote(booking.id)}/calendar.ics?token={quote(token)}",
        google_url=f"{GOOGLE_CALENDAR}?{google}",
        manage_url=link,
    )


def _google_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@bp.get("/booking/<booking_id>")
def manage_page(booking_id: str) -> Response:
    """The confirmation (``&new=1``, where the booking page sends the invitee) and the manage page."""
    token = request.args.get("token", "")
    with read_unit() as session:
        booking = booking_manage.booking_by_token(session, booking_id, token)
        event_type = booking_manage.event_type_of(session, booking)
        view = _managed_view(booking, event_type, booking_manage.host_of(session, booking), token)
        response = _page(
            "manage.html",
            view=view,
            just_booked=request.args.get("new") == "1",
            durations=_durations(event_type),
            api_base=f"/api/v2/public/booking/{quote(booking.id)}",
            token=token,
            now=caledee().now().astimezone(UTC).isoformat(timespec="seconds"),
            zones=zone_names(),
        )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/booking/<booking_id>/calendar.ics")
def booking_calendar_file(booking_id: str) -> Response:
    """The booking's VEVENT (METHOD:PUBLISH) to add to one's own calendar, opened by the manage token."""
    with read_unit() as session:
        booking = booking_manage.booking_by_token(session, booking_id, request.args.get("token"))
        text = booking_manage.calendar_file(session, booking, caledee().now())
    response = make_response(text)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="booking.ics"'
    response.headers["Cache-Control"] = "no-store"
    return response
