"""JSON of ``/event-types``: the contract's EventType plus booking rules, questions, calendars and hosts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import StrictBool, StrictInt, StrictStr

from api.schemas.common import RequestModel, ResponseModel, UtcDateTime
from caldee_dav.models import EventType, User
from caldee_dav.scheduling.event_type_fields import reminder_minutes_of
from caldee_dav.scheduling.event_types import EventTypeChanges, EventTypeView

Kind = Literal["one_on_one", "round_robin", "collective"]
LocationKind = Literal["video", "phone", "in_person", "link", "custom"]
QuestionType = Literal["text", "textarea", "email", "phone", "select", "multiselect", "checkbox", "number"]


class LocationIn(RequestModel):
    kind: LocationKind
    value: StrictStr | None = None


class QuestionIn(RequestModel):
    id: StrictStr | None = None  # made from the label when missing
    label: StrictStr
    type: QuestionType = "text"
    required: StrictBool = False
    options: list[StrictStr] | None = None  # select and multiselect only


class EventTypeIn(RequestModel):
    """POST and PATCH body; on PATCH only the fields sent change (lists are replaced whole)."""

    name: StrictStr | None = None
    slug: StrictStr | None = None
    kind: Kind | None = None
    description: StrictStr | None = None
    durations_min: list[StrictInt] | None = None
    buffer_before_min: StrictInt | None = None
    buffer_after_min: StrictInt | None = None
    minimum_notice_min: StrictInt | None = None
    booking_window_days: StrictInt | None = None
    max_bookings_per_day: StrictInt | None = None
    slot_interval_min: StrictInt | None = None
    reminder_minutes: list[StrictInt] | None = None  # null: the default, a day and an hour before
    color: StrictStr | None = None
    active: StrictBool | None = None
    secret: StrictBool | None = None
    requires_confirmation: StrictBool | None = None
    location: LocationIn | None = None
    questions: list[QuestionIn] | None = None
    schedule_id: StrictStr | None = None
    booking_calendar_id: StrictStr | None = None
    busy_calendar_ids: list[StrictStr] | None = None
    hosts: list[StrictStr] | None = None  # slugs, emails or user ids
    team_id: StrictStr | None = None  # a team the caller owns or administers; hosts are its members

    def changes(self) -> EventTypeChanges:
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if isinstance(value, LocationIn):
                value = value.model_dump()
            elif name == "questions" and value is not None:
                value = [question.model_dump() for question in value]
            values[name] = value
        return EventTypeChanges(**values)


def public_page_url(public_url: str, user_slug: str, event_slug: str) -> str:
    """Where the event type's booking page lives: ``{public_url}/{userSlug}/{eventSlug}``."""
    return f"{public_url}/{user_slug}/{event_slug}"


class LocationOut(ResponseModel):
    kind: str
    value: str | None


class QuestionOut(ResponseModel):
    id: str
    label: str
    type: str
    required: bool
    options: list[str]


class HostOut(ResponseModel):
    id: str
    slug: str
    name: str | None


class EventTypeOut(ResponseModel):
    # The contract's fields, in its order.
    id: str
    name: str
    slug: str
    url: str
    kind: Kind
    durations_min: list[int]
    buffer_before_min: int
    buffer_after_min: int
    color: str
    active: bool
    secret: bool
    organization_id: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    # Caledee's additions.
    description: str | None
    minimum_notice_min: int
    booking_window_days: int | None
    max_bookings_per_day: int | None
    slot_interval_min: int | None
    reminder_minutes: list[int]  # the reminders sent: the default ones when none were set
    location: LocationOut | None
    requires_confirmation: bool
    questions: list[QuestionOut]
    schedule_id: str | None
    booking_calendar_id: str | None
    busy_calendar_ids: list[str]
    hosts: list[HostOut]
    team_id: str | None

    @classmethod
    def from_view(cls, view: EventTypeView, public_url: str) -> EventTypeOut:
        et = view.event_type
        return cls(
            id=et.id,
            name=et.name,
            slug=et.slug,
            url=public_page_url(public_url, view.owner_slug, et.slug),
            kind=et.kind,
            durations_min=list(et.durations_min or []),
            buffer_before_min=et.buffer_before_min,
            buffer_after_min=et.buffer_after_min,
            color=et.color or "#0069ff",
            active=et.active,
            secret=et.secret,
            organization_id=et.organization_id,
            created_at=et.created_at,
            updated_at=et.updated_at,
            description=et.description,
            minimum_notice_min=et.minimum_notice_min,
            booking_window_days=et.booking_window_days,
            max_bookings_per_day=et.max_bookings_per_day,
            slot_interval_min=et.slot_interval_min,
            reminder_minutes=reminder_minutes_of(et.reminder_minutes),
            location=LocationOut(**et.location) if et.location else None,
            requires_confirmation=et.requires_confirmation,
            questions=[QuestionOut(**question) for question in et.questions or []],
            schedule_id=et.schedule_id,
            booking_calendar_id=view.booking_calendar_id,
            busy_calendar_ids=view.busy_calendar_ids,
            hosts=[HostOut(id=h.id, slug=h.slug, name=h.name) for h in view.hosts],
            team_id=et.team_id,
        )


# --- the public view (no token): what a booking page shows ----------------------------------------


class PublicHostOut(ResponseModel):
    slug: str
    name: str | None
    timezone: str


class PublicLocationOut(ResponseModel):
    kind: str  # the value (an address, a meeting link) is told to the invitee once booked


class PublicEventTypeOut(ResponseModel):
    """An event type as the public sees it: no ids, calendars, schedules, limits or location value."""

    slug: str
    name: str
    description: str | None
    kind: str
    durations_min: list[int]
    location: PublicLocationOut | None
    requires_confirmation: bool
    questions: list[QuestionOut]
    host: PublicHostOut
    url: str
    slots_url: str

    @classmethod
    def from_row(cls, et: EventType, host: User, public_url: str) -> PublicEventTypeOut:
        return cls(
            slug=et.slug,
            name=et.name,
            description=et.description,
            kind=et.kind,
            durations_min=list(et.durations_min or []),
            location=PublicLocationOut(kind=et.location["kind"]) if et.location else None,
            requires_confirmation=et.requires_confirmation,
            questions=[QuestionOut(**question) for question in et.questions or []],
            host=PublicHostOut(slug=host.slug, name=host.display_name, timezone=host.timezone),
            url=public_page_url(public_url, host.slug, et.slug),
            slots_url=f"{public_url}/api/v2/public/{host.slug}/{et.slug}/slots",
        )
