"""JSON of ``/me``: the contract's User."""

from __future__ import annotations

from api.schemas.common import ResponseModel
from caldee_dav.models import User


class UserOut(ResponseModel):
    id: str
    email: str
    name: str | None
    slug: str
    timezone: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id, email=user.email, name=user.display_name, slug=user.slug, timezone=user.timezone
        )
