"""JSON of ``/contacts``: the contract's Contact, and the list's query parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import ApiModel, ResponseModel, UtcDateTime
from caldee_dav.scheduling import contacts
from caldee_dav.scheduling.contacts import Contact

# An offset no list reaches (pages of 200 over a billion contacts): beyond it a 400, not a database
# overflow.
MAX_OFFSET = 1_000_000_000


class ContactListQuery(ApiModel):
    """Query of ``GET /contacts``. Unknown parameters are ignored, as on the other lists."""

    kind: Literal["client", "lead"] | None = None
    q: str | None = Field(default=None, max_length=contacts.MAX_QUERY_LENGTH)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    limit: int = Field(default=contacts.DEFAULT_LIMIT, ge=1, le=contacts.MAX_LIMIT)


class ContactOut(ResponseModel):
    email: str
    name: str | None
    kind: Literal["client", "lead"]
    status: str
    meetings: int
    no_shows: int
    # Never null here (every contact has a booking or lead); nullable as the contract has them.
    last_activity_at: UtcDateTime | None
    first_seen_at: UtcDateTime | None

    @classmethod
    def from_contact(cls, contact: Contact) -> ContactOut:
        return cls(
            email=contact.email,
            name=contact.name,
            kind=contact.kind,
            status=contact.status,
            meetings=contact.meetings,
            no_shows=contact.no_shows,
            last_activity_at=contact.last_activity_at,
            first_seen_at=contact.first_seen_at,
        )
