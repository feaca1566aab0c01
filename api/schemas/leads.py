"""JSON of ``/leads`` (the contract's Lead) and of the public booking and lead endpoints."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, StrictStr

from api.schemas.bookings import AnswerIn, AnswerOut, BookingIn, EmailAddress, EventTypeRef, TimeZoneName
from api.schemas.common import ApiModel, RequestModel, ResponseModel, UtcDateTime
from caldee_dav.scheduling import bookings, leads

LeadStatus = Literal["new", "contacted", "qualified", "lost"]
MAX_ANSWERS = 100

# --- requests -------------------------------------------------------------------------------------


class LeadListQuery(ApiModel):
    """``limit`` above 100 is a 400, as on the other lists (``GET /bookings``); unknown parameters are
    ignored, as there."""

    status: LeadStatus | None = None
    booked: bool | None = None
    cursor: str | None = None
    limit: int = Field(default=leads.DEFAULT_LIMIT, ge=1, le=leads.MAX_LIMIT)


class LeadStatusIn(RequestModel):
    status: LeadStatus


class PublicLeadIn(RequestModel):
    name: StrictStr | None = Field(default=None, max_length=leads.MAX_NAME_LENGTH)
    email: EmailAddress
    timezone: TimeZoneName | None = None
    answers: list[AnswerIn] = Field(default_factory=list, max_length=MAX_ANSWERS)

    def lead_input(self) -> leads.LeadInput:
        return leads.LeadInput(
            email=self.email.strip(),
            name=self.name,
            timezone=self.timezone,
            answers=[(a.question_id, a.text()) for a in self.answers],
        )


class PublicBookingIn(BookingIn):
    """The body of ``POST /bookings`` without ``eventTypeId`` (the URL names the event type); when
    sent, it must be that event type's id."""

    event_type_id: StrictStr | None = Field(default=None, min_length=1)  # type: ignore[assignment]

    def new_booking(self) -> bookings.NewBooking:
        # The domain takes "" for "not named".
        return dataclasses.replace(super().new_booking(), event_type_id=self.event_type_id or "")


# --- responses ------------------------------------------------------------------------------------


class LeadOut(ResponseModel):
    """The contract's Lead, in its order."""

    id: str
    name: str | None
    email: str
    timezone: str
    status: LeadStatus
    event_type: EventTypeRef
    booked: bool
    booking_id: str | None
    created_at: UtcDateTime
    completed_at: UtcDateTime | None

    @classmethod
    def from_view(cls, view: leads.LeadView) -> LeadOut:
        return cls(**_lead_fields(view))


class LeadDetailOut(LeadOut):
    """One lead (GET and PATCH ``/leads/{id}``): the contract's Lead and what the invitee answered."""

    answers: list[AnswerOut]
    updated_at: UtcDateTime

    @classmethod
    def from_view(cls, view: leads.LeadView) -> LeadDetailOut:
        answers = [
            AnswerOut(question_id=str(a["questionId"]), label=a.get("label"), value=str(a.get("value", "")))
            for a in view.lead.answers or []
            if isinstance(a, dict)
        ]
        return cls(**_lead_fields(view), answers=answers, updated_at=view.lead.updated_at)


def _lead_fields(view: leads.LeadView) -> dict[str, object]:
    lead, event_type = view.lead, view.event_type
    return {
        "id": lead.id,
        "name": lead.name,
        "email": lead.email,
        "timezone": lead.timezone,
        "status": lead.status,
        "event_type": EventTypeRef(id=event_type.id, name=event_type.name, slug=event_type.slug),
        "booked": view.booked,
        "booking_id": lead.booking_id,
        "created_at": lead.created_at,
        "completed_at": lead.completed_at,
    }


class PublicEventTypeRef(ResponseModel):
    name: str
    slug: str


class PublicLeadOut(ResponseModel):
    """What an anonymous caller gets back: what this request sent, checked, and the lead's id. Never
    earlier answers, the pipeline status or whether that email booked (anyone may send any email)."""

    id: str
    name: str | None
    email: str
    timezone: str
    event_type: PublicEventTypeRef
    answers: list[AnswerOut]

    @classmethod
    def from_captured(cls, captured: leads.Captured, email: str) -> PublicLeadOut:
        event_type = captured.view.event_type
        return cls(
            id=captured.view.lead.id,
            name=captured.given_name,
            email=email,
            timezone=captured.given_timezone,
            event_type=PublicEventTypeRef(name=event_type.name, slug=event_type.slug),
            answers=[
                AnswerOut(question_id=a["questionId"], label=a.get("label"), value=a["value"])
                for a in captured.given_answers
            ],
        )
