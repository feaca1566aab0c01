"""JSON of ``/api-keys``: a user's personal access tokens (GudCal's names: name, expiresInDays, key)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from api.schemas.common import RequestModel, ResponseModel, UtcDateTime
from caldee_dav.calendars.accounts import IssuedToken, TokenSummary

# A masked key: its first characters and an ellipsis, ``pat_abcd…``.
MASK = "…"


KeyState = Literal["active", "expired", "revoked"]


class ApiKeyIn(RequestModel):
    """POST body. ``scopes`` omitted: every scope of the token that creates the key; ``expiresInDays``
    omitted or null: no expiry (or the creating token's, when it has one)."""

    name: StrictStr
    scopes: Annotated[list[StrictStr], Field(max_length=100)] | None = None
    expires_in_days: StrictInt | None = None


class ApiKeyOut(ResponseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    state: KeyState
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None

    @classmethod
    def from_summary(cls, key: TokenSummary) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.display_prefix + MASK,
            scopes=key.scopes,
            state=key.state,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreatedOut(ResponseModel):
    """The create answer: the only one that ever holds ``key``, the secret itself."""

    id: str
    name: str
    key: str
    prefix: str
    scopes: list[str]
    state: KeyState
    expires_at: UtcDateTime | None

    @classmethod
    def from_issued(cls, issued: IssuedToken) -> ApiKeyCreatedOut:
        return cls(
            id=issued.id,
            name=issued.name,
            key=issued.secret,
            prefix=issued.secret[:8] + MASK,
            scopes=issued.scopes,
            state="active",
            expires_at=issued.expires_at,
        )
