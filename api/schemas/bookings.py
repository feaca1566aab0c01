"""JSON of ``/availability`` and ``/bookings``: the contract's Slot and Booking, plus Caledee's additions
(reschedule, confirm, decline, no-show; guests, answers, notes, hosts in the Booking)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from api.body import rfc3339
from api.schemas.common import ApiModel, RequestModel, ResponseModel, SchedulableDateTime, UtcDateTime
from caldee_dav.models import Booking, EventType
from caldee_dav.scheduling import bookings
from caldee_dav.zones import zone_named

MAX_GUESTS = 20
MAX_TEXT = 10_000

# --- requests -------------------------------------------------------------------------------------


def _rfc3339_text(value: object) -> object:
    return rfc3339(value) if isinstance(value, str) else value


# A query-string time: RFC 3339 with its offset, never a number read as seconds since 1970.
QueryDateTime = Annotated[datetime | None, BeforeValidator(_rfc3339_text)]


class BookingListQuery(ApiModel):
    status: Literal["active", "pending", "canceled", "declined"] | None = None
    from_: QueryDateTime = Field(default=None, alias="from")
    to: QueryDateTime = None
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=100)


def _time_zone(value: str) -> str:
    if zone_named(value) is None:
        raise PydanticCustomError(
            "invalid_time_zone",
            "unknown time zone {name}; use an IANA name such as Europe/Paris",
            {"name": repr(value)},
        )
    return value


def _email(value: str) -> str:
    if not bookings.EMAIL_PATTERN.match(value.strip()):
        raise PydanticCustomError("invalid_email", "{value} is not an email address", {"value": repr(value)})
    return value


# An IANA time zone name, checked here so that all of a body's problems come back in one answer.
TimeZoneName = Annotated[StrictStr, AfterValidator(_time_zone)]
EmailAddress = Annotated[StrictStr, Field(min_length=3, max_length=320), AfterValidator(_email)]


class InviteeIn(RequestModel):
    name: StrictStr = Field(min_length=1, max_length=200)
    email: EmailAddress
    timezone: TimeZoneName  # required: the invitee's invitation and reminders are written in it
    # Accepted for compatibility with the contract; Caledee sends no text messages, so they are not kept.
    text_reminder_number: StrictStr | None = None
    sms_opt_in: StrictBool | None = None


class AnswerIn(RequestModel):
    question_id: StrictStr
    value: StrictStr | StrictInt | StrictFloat | StrictBool | list[StrictStr] | None = None

    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, list):
            return ", ".join(self.value)
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return str(self.value)


class BookingIn(RequestModel):
    event_type_id: StrictStr = Field(min_length=1)
    start: SchedulableDateTime
    duration_min: StrictInt
    invitee: InviteeIn
    answers: list[AnswerIn] = Field(default_factory=list, max_length=100)
    guests: list[EmailAddress] = Field(default_factory=list, max_length=MAX_GUESTS)
    notes: StrictStr | None = Field(default=None, max_length=MAX_TEXT)
    location_input: StrictStr | None = Field(default=None, max_length=1000)

    def new_booking(self) -> bookings.NewBooking:
        return bookings.NewBooking(
            event_type_id=self.event_type_id,
            start=self.start,
            duration_min=self.duration_min,
            invitee=bookings.Invitee(
                self.invitee.name.strip(), self.invitee.email.strip(), self.invitee.timezone
            ),
            answers=[(a.question_id, a.text()) for a in self.answers],
            guests=[g.strip() for g in self.guests],
            notes=self.notes,
            location_input=self.location_input,
        )


class RescheduleIn(RequestModel):
    start: SchedulableDateTime
    duration_min: StrictInt | None = None


class ReasonIn(RequestModel):
    reason: StrictStr | None = Field(default=None, max_length=500)


class NoShowIn(RequestModel):
    no_show: StrictBool


# --- responses ------------------------------------------------------------------------------------


class EventTypeRef(ResponseModel):
    id: str
    name: str
    slug: str


class LocationOut(ResponseModel):
    kind: str | None
    value: str | None


class InviteeOut(ResponseModel):
    name: str
    email: str
    timezone: str


class AnswerOut(ResponseModel):
    question_id: str
    label: str | None
    value: str


class BookingOut(ResponseModel):
    # The contract's fields, in its order.
    id: str
    event_type: EventTypeRef
    start_at: UtcDateTime
    end_at: UtcDateTime
    duration_min: int
    # The contract's two, and "pending" for event types that require confirmation.
    status: Literal["active", "pending", "canceled"]
    location: LocationOut | None
    invitee: InviteeOut | None
    canceled_at: UtcDateTime | None
    cancel_reason: str | None
    canceled_by: str | None
    created_at: UtcDateTime
    # Caledee's additions.
    updated_at: UtcDateTime
    confirmed_at: UtcDateTime | None
    uid: str
    host_id: str
    host_ids: list[str]
    guests: list[str]
    answers: list[AnswerOut]
    notes: str | None
    no_show: bool

    @classmethod
    def from_row(cls, booking: Booking, event_type: EventType) -> BookingOut:
        return cls(
            id=booking.id,
            event_type=EventTypeRef(id=event_type.id, name=event_type.name, slug=event_type.slug),
            start_at=booking.start_at,
            end_at=booking.end_at,
            duration_min=booking.duration_min,
            # "declined" is a cancellation by the host: canceledBy says who.
            status="canceled" if booking.status == bookings.DECLINED else booking.status,
            location=LocationOut(**booking.location) if booking.location else None,
            invitee=InviteeOut(
                name=booking.invitee_name, email=booking.invitee_email, timezone=booking.invitee_timezone
            ),
            canceled_at=booking.canceled_at,
            cancel_reason=booking.cancel_reason,
            canceled_by=booking.canceled_by,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
            confirmed_at=booking.confirmed_at,
            uid=booking.ical_uid,
            host_id=booking.host_user_id,
            host_ids=[str(h) for h in booking.host_ids or [booking.host_user_id]],
            guests=[str(g) for g in booking.guests or []],
            answers=[
                AnswerOut(
                    question_id=str(a["questionId"]), label=a.get("label"), value=str(a.get("value", ""))
                )
                for a in booking.answers or []
            ],
            notes=booking.notes,
            no_show=booking.no_show,
        )


class SlotOut(ResponseModel):
    """A slot in the asked time zone, RFC 3339 with its offset (``2027-03-29T09:00:00+02:00``)."""

    start: str
    end: str

    @staticmethod
    def plain(start: datetime, end: datetime) -> dict[str, str]:
        """The slot's JSON without building the model: an availability answer holds hundreds of slots,
        and validating then dumping each one cost milliseconds per answer."""
        return {"start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}
