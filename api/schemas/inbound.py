"""JSON of a calendar's inbound mail log (``GET /calendars/{id}/inbound-messages``) and of the answer to
``POST /inbound/{token}`` (the same entry, and whether this delivery found it already logged)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import ApiModel, ResponseModel, UtcDateTime
from caldee_dav.scheduling import inbound_mail
from caldee_dav.scheduling.inbound_mail import LoggedMessage

# inbound_mail.OUTCOMES, in its order (most consequential first).
Outcome = Literal["created", "updated", "cancelled", "replied", "ignored", "rejected"]
Via = Literal["smtp", "http"]


class InboundMessageListQuery(ApiModel):
    outcome: Outcome | None = None
    cursor: str | None = None
    limit: int = Field(default=inbound_mail.DEFAULT_LIMIT, ge=1, le=inbound_mail.MAX_LIMIT)


class InboundActionOut(ResponseModel):
    """What was done with one event (one UID, or some of its occurrences) of the message."""

    uid: str | None
    recurrence_id: str | None
    outcome: Outcome
    reason: str | None


class InboundMessageOut(ResponseModel):
    """One message received for the calendar and what was done with it; ``outcome`` is the most
    consequential of its actions'."""

    id: str
    calendar_id: str
    received_at: UtcDateTime
    via: Via
    message_id: str | None
    from_: str | None = Field(alias="from")
    subject: str | None
    method: str | None
    uids: list[str]
    outcome: Outcome
    reason: str | None
    actions: list[InboundActionOut]

    @classmethod
    def fields_of(cls, logged: LoggedMessage) -> dict[str, Any]:
        row = logged.row
        return {
            "id": row.id,
            "calendar_id": logged.calendar_public_id,
            "received_at": row.received_at,
            "via": row.via,
            "message_id": row.message_id,
            "from_": row.sender,
            "subject": row.subject,
            "method": row.method,
            "uids": [str(uid) for uid in row.uids or []],
            "outcome": row.outcome,
            "reason": row.reason,
            # The row's: a duplicate's LoggedMessage carries no actions of its own.
            "actions": [_action(action) for action in row.actions or [] if isinstance(action, dict)],
        }

    @classmethod
    def from_logged(cls, logged: LoggedMessage) -> InboundMessageOut:
        return cls(**cls.fields_of(logged))


class InboundDeliveryOut(InboundMessageOut):
    """The answer to ``POST /inbound/{token}``: the log entry; ``duplicate`` when the message was
    delivered before (by Message-ID) and nothing changed this time."""

    duplicate: bool

    @classmethod
    def from_logged(cls, logged: LoggedMessage) -> InboundDeliveryOut:
        return cls(**cls.fields_of(logged), duplicate=logged.duplicate)


def _action(action: dict[str, Any]) -> InboundActionOut:
    return InboundActionOut(
        uid=action.get("uid"),
        recurrence_id=action.get("recurrenceId"),
        outcome=action["outcome"],
        reason=action.get("reason"),
    )
