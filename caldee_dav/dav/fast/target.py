"""Who is asking, for which calendar: the fast path serves only a logged-in owner's own calendars."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from radicale import pathutils
from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.dav.credentials import basic_credentials
from caldee_dav.dav.fast.answer import NotHandled
from caldee_dav.models import Collection

SAFE_NAME = re.compile(r"[A-Za-z0-9._~@-]+")
# Names never hold "/", so one match over all of them joined by "/" tells whether any needs quoting.
SAFE_NAMES = re.compile(r"[A-Za-z0-9._~@-]+(?:/[A-Za-z0-9._~@-]+)*")


def all_safe(names: list[str]) -> bool:
    """Whether every item name can go into a URL as it is."""
    return not names or SAFE_NAMES.fullmatch("/".join(names)) is not None


@dataclass(frozen=True)
class DavTarget:
    base_prefix: str  # where Radicale is mounted, e.g. "/dav"
    collection_path: str  # "alice/work"
    item: str | None  # "meeting.ics", or None for the calendar itself

    @cached_property
    def _quoted_collection(self) -> str:
        return quote(f"{self.base_prefix}/{self.collection_path}/")

    def href(self, name: str | None = None) -> str:
        """The URL path of the calendar (with its trailing slash) or of one of its items."""
        if not name:
            return self._quoted_collection
        # Most item names (UID.ics) need no quoting; skipping quote() matters over 10,000 items.
        return self._quoted_collection + (name if SAFE_NAME.fullmatch(name) else quote(name))


def resolve_target(
    environ: dict[str, Any], logins: LoginChecker, session: Session | None = None
) -> DavTarget:
    """The calendar (or calendar item) the request is for, when its owner is the one logged in."""
    path = pathutils.sanitize_path(environ.get("PATH_INFO", ""))
    parts = path.strip("/").split("/")
    if not path.isascii() or len(parts) not in (2, 3):
        raise NotHandled
    credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
    if credentials is None or logins.slug_for(*credentials, session) != parts[0]:
        raise NotHandled  # Radicale answers 401 / 403 with its own headers
    base_prefix = environ.get("HTTP_X_SCRIPT_NAME", environ.get("SCRIPT_NAME", "")).rstrip("/")
    return DavTarget(base_prefix, f"{parts[0]}/{parts[1]}", parts[2] if len(parts) == 3 else None)


def require_calendar(session: Session, target: DavTarget) -> Collection:
    collection = store.get_collection(session, target.collection_path)
    if collection is None or collection.tag != "VCALENDAR":
        raise NotHandled
    return collection
