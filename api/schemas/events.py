"""JSON of ``/calendars/{id}/events``, ``/upcoming`` and ``/respond`` (CalDave's shape, camelCase; the
input takes snake_case too, and ``rrule`` for ``recurrence``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, StrictBool, StrictStr

from api.schemas.bookings import QueryDateTime
from api.schemas.common import ApiModel, RequestModel, ResponseModel, UtcDateTime, rfc3339
from caldee_dav.ical.events import Person
from caldee_dav.scheduling.calendar_events import EventFields, EventView
from caldee_dav.scheduling.editing import UNSET

Status = Literal["confirmed", "tentative", "cancelled"]


class AttendeeIn(RequestModel):
    email: StrictStr
    name: StrictStr | None = None


class EventIn(RequestModel):
    """POST and PATCH body; on PATCH only the fields sent change, and null clears a field."""

    title: StrictStr | None = None
    start: StrictStr | None = None
    end: StrictStr | None = None
    timezone: StrictStr | None = None
    all_day: StrictBool | None = None
    description: StrictStr | None = None
    location: StrictStr | None = None
    status: Status | None = None
    attendees: Annotated[list[StrictStr | AttendeeIn], Field(max_length=100)] | None = None
    recurrence: StrictStr | None = Field(default=None, validation_alias=AliasChoices("recurrence", "rrule"))
    metadata: dict[str, Any] | None = None

    def fields(self) -> EventFields:
        values: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "attendees" and value is not None:
                value = [
                    Person(a.strip()) if isinstance(a, str) else Person(a.email.strip(), a.name)
                    for a in value
                ]
            values[name] = value
        return EventFields(**{name: values.get(name, UNSET) for name in EventFields.__dataclass_fields__})


class RespondIn(RequestModel):
    response: Literal["accepted", "declined", "tentative"]


class EventListQuery(ApiModel):
    start: QueryDateTime = None
    end: QueryDateTime = None
    status: Status | None = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10_000)
    cursor: str | None = None


class UpcomingQuery(ApiModel):
    limit: int = Field(default=5, ge=1, le=50)


class ViewQuery(ApiModel):
    limit: int = Field(default=10, ge=1, le=50)


class DeleteQuery(ApiModel):
    mode: Literal["single", "future", "all"] = "single"


class PersonOut(ResponseModel):
    email: str
    name: str | None


class AttendeeOut(ResponseModel):
    email: str
    name: str | None
    # caldee_dav.ical.events.PARTSTATS: an attendee's answer as the calendar holds it, lower-cased.
    status: Literal["needs-action", "accepted", "declined", "tentative", "delegated"]


def _when(value: date | datetime) -> str:
    return rfc3339(value) if isinstance(value, datetime) else value.isoformat()


class EventOut(ResponseModel):
    id: str
    calendar_id: str
    series_id: str | None
    recurrence_id: str | None
    is_exception: bool
    uid: str
    title: str
    description: str | None
    location: str | None
    start: str
    end: str
    timezone: str
    all_day: bool
    status: Status  # caldee_dav.ical.events.STATUSES: the calendar's STATUS, lower-cased
    attendees: list[AttendeeOut]
    organizer: PersonOut | None
    recurrence: str | None
    metadata: dict[str, Any]
    sequence: int
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def from_view(cls, view: EventView) -> EventOut:
        data = view.data
        # All-day ends are inclusive in the API (iCalendar's DTEND is the day after).
        end = data.end - timedelta(days=1) if data.all_day else data.end
        organizer = data.organizer
        return cls(
            id=view.id,
            calendar_id=view.calendar_id,
            series_id=view.series_id,
            recurrence_id=_when(data.recurrence_id) if data.recurrence_id is not None else None,
            is_exception=data.is_exception,
            uid=data.uid,
            title=data.title,
            description=data.description,
            location=data.location,
            start=_when(data.start),
            end=_when(max(end, data.start)),
            timezone=data.zone,
            all_day=data.all_day,
            status=data.status,
            attendees=[AttendeeOut(email=a.email, name=a.name, status=a.status) for a in data.attendees],
            organizer=PersonOut(email=organizer.email, name=organizer.name) if organizer else None,
            recurrence=data.recurrence,
            metadata=data.metadata,
            sequence=data.sequence,
            created_at=data.created or view.stored_at,
            updated_at=data.updated or view.stored_at,
        )
