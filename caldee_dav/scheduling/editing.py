"""What the scheduling write services share: partial changes (UNSET), validation problems (in the domain's
own field names; each edge names the fields its own way), and the per-user write lock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from caldee_dav.errors import CaledeeError, InvalidInput, NotFound, Problem, Text
from caldee_dav.models import User
from caldee_dav.zones import zone_named


class Unset(Enum):
    """Marks a field the caller did not send (PATCH leaves it alone; create uses the default)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def given_fields(changes: Any) -> dict[str, Any]:
    """The fields of a changes dataclass that were actually given."""
    return {
        f.name: getattr(changes, f.name) for f in fields(changes) if getattr(changes, f.name) is not UNSET
    }


class Problems:
    """Validation problems, collected to be reported all at once.

    Paths use the Python field names of the changes (``weekly_rules``, 0, ``day``); each edge names them
    its own way (``api.errors``: ``weeklyRules.0.day``).
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Sequence[str | int], message: Text, code: str = "invalid") -> None:
        self.problems.append(Problem(tuple(path), message, code))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput.about(self.problems)


def lock_owner(session: Session, owner_id: str) -> User:
    """Load the owner with a row lock so one user's writes (default flag, slugs) queue on PostgreSQL.

    SQLite needs no lock: write units there already start with BEGIN IMMEDIATE.
    """
    # FOR NO KEY UPDATE: rows inserted meanwhile that reference the user (key share) must not deadlock.
    user = session.scalars(select(User).where(User.id == owner_id).with_for_update(key_share=True)).first()
    if user is None:
        raise NotFound(f"no user {owner_id!r}")
    return user


def check_timezone(problems: Problems, path: Sequence[str | int], value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        problems.add(path, "must be an IANA time zone such as Europe/Paris", "invalid_time_zone")
        return None
    if zone_named(value) is None:
        problems.add(path, f"unknown time zone {value!r}", "invalid_time_zone")
        return None
    return value


def check_name(problems: Problems, path: Sequence[str | int], value: Any, max_length: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be a non-empty string", "required")
        return None
    if len(value.strip()) > max_length:
        problems.add(path, f"must be at most {max_length} characters", "too_long")
        return None
    return value.strip()


def error_at(error: type[CaledeeError], path: Sequence[str | int], message: Text, code: str) -> CaledeeError:
    """One error about one field, told like a validation failure."""
    return error.about([Problem(tuple(path), message, code)])
