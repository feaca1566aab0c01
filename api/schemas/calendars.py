"""JSON of ``/calendars`` and ``/me/bookings-feed-token``.

A calendar's feed URLs carry secret tokens that are stored hashed: they are in the answer of the create
and of a rotation (``CalendarWithFeedsOut``) and nowhere else. Its inbound URL's token is kept as is and
shown on every read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import Field, StrictStr

from api.schemas.common import RequestModel, ResponseModel, UtcDateTime
from caldee_dav.calendars import accounts, feed_tokens
from caldee_dav.config import Settings
from caldee_dav.scheduling import inbound_mail
from caldee_dav.scheduling.calendars_admin import CalendarChanges, CalendarView


class CalendarUpdateIn(RequestModel):
    """PATCH body: only the fields sent change (``color`` and ``description`` may be null: cleared;
    ``inboundAllowedSenders`` null: anyone may add events by mail)."""

    name: StrictStr | None = None
    timezone: StrictStr | None = None
    color: StrictStr | None = None
    description: StrictStr | None = None
    inbound_allowed_senders: list[StrictStr] | None = Field(
        default=None, max_length=inbound_mail.MAX_ALLOWED_SENDERS
    )

    def changes(self) -> CalendarChanges:
        values: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        return CalendarChanges(**values)


class CalendarIn(CalendarUpdateIn):
    """POST body: ``name`` is required; a missing slug is made from the name, a missing time zone is
    the user's."""

    slug: StrictStr | None = None


def webcal(url: str) -> str:
    """The same URL for calendar apps that subscribe on a click: ``webcal://`` instead of the scheme."""
    return "webcal://" + url.partition("://")[2]


class CalendarOut(ResponseModel):
    id: str
    name: str | None
    slug: str
    timezone: str | None
    color: str | None
    description: str | None
    caldav_url: str
    inbound_email: str
    inbound_url: str | None
    inbound_allowed_senders: list[str] | None
    has_feed: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def fields_of(cls, view: CalendarView, settings: Settings) -> dict[str, Any]:
        calendar, public_url = view.calendar, settings.public_url
        inbound = calendar.inbound_token
        return {
            "id": calendar.public_id,
            "name": calendar.display_name,
            "slug": calendar.slug,
            "timezone": calendar.timezone,
            "color": calendar.color,
            "description": calendar.description,
            "caldav_url": f"{public_url}/dav/{quote(calendar.path)}/",
            "inbound_email": accounts.inbound_address(calendar, settings.mail_domain),
            "inbound_url": public_url + feed_tokens.inbound_path(inbound) if inbound else None,
            "inbound_allowed_senders": _allowed_senders(calendar.inbound_allowed_senders),
            "has_feed": view.has_feed,
            "created_at": calendar.created_at,
            "updated_at": calendar.updated_at,
        }

    @classmethod
    def from_view(cls, view: CalendarView, settings: Settings) -> CalendarOut:
        return cls(**cls.fields_of(view, settings))


def _allowed_senders(stored: list[Any] | None) -> list[str] | None:
    return None if stored is None else [str(entry) for entry in stored]


class CalendarWithFeedsOut(CalendarOut):
    """A calendar as created, or after its feed tokens were rotated: the feed URLs, shown this once."""

    feed_url: str
    webcal_url: str
    busy_feed_url: str
    busy_webcal_url: str

    @classmethod
    def from_view(cls, view: CalendarView, settings: Settings) -> CalendarWithFeedsOut:
        tokens = view.new_feed_tokens
        assert tokens is not None  # only a create or a rotation answers with this
        calendar_id, public_url = view.calendar.public_id, settings.public_url
        feed_url = public_url + feed_tokens.calendar_feed_path(calendar_id, tokens.full)
        busy_feed_url = public_url + feed_tokens.busy_feed_path(calendar_id, tokens.busy)
        return cls(
            **cls.fields_of(view, settings),
            feed_url=feed_url,
            webcal_url=webcal(feed_url),
            busy_feed_url=busy_feed_url,
            busy_webcal_url=webcal(busy_feed_url),
        )


class BookingsFeedOut(ResponseModel):
    """The user's feed of bookings, with its new token (shown this once)."""

    feed_url: str
    webcal_url: str

    @classmethod
    def of(cls, user_id: str, token: str, settings: Settings) -> BookingsFeedOut:
        feed_url = settings.public_url + feed_tokens.bookings_feed_path(user_id, token)
        return cls(feed_url=feed_url, webcal_url=webcal(feed_url))
