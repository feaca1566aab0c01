"""CalDAV logins: the slug or the email, with the password or an API token as an app password.

Shared by Radicale's auth plugin and the fast CalDAV path, so both accept exactly the same credentials.
"""

from __future__ import annotations

import hashlib
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.calendars import accounts

# Password hashes are deliberately slow; a client sends credentials on every request, so a
# successful password login is remembered briefly (by a hash of the credentials, never the password).
# Tokens are checked on every request so that a revoked token stops at once.
LOGIN_CACHE_SECONDS = 30.0
LOGIN_CACHE_SIZE = 10_000


class LoginChecker:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._recent: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def slug_for(self, login: str, password: str, session: Session | None = None) -> str:
        """The user's slug when the credentials are good, else "". ``session``: check within the
        caller's unit of work instead of a unit of its own."""
        if not login or not password:
            return ""
        key = hashlib.sha256(f"{login}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._recent.get(key)
            if cached and cached[1] > now:
                return cached[0]
        if session is None:
            with db.read_unit(self.engine) as own_session:
                slug = accounts.caldav_login(own_session, login, password) or ""
        else:
            slug = accounts.caldav_login(session, login, password) or ""
        if slug and not password.startswith(accounts.TOKEN_PREFIX):
            with self._lock:
                if len(self._recent) > LOGIN_CACHE_SIZE:
                    self._recent.clear()
                self._recent[key] = (slug, now + LOGIN_CACHE_SECONDS)
        return slug

    def missing_scope(self, login: str, password: str) -> str | None:
        """The scope a refused login lacks: ``caldav`` when ``password`` is one of ``login``'s live
        tokens without it, else None (asked only after a refusal: one more query, never on success)."""
        if not login or not password.startswith(accounts.TOKEN_PREFIX):
            return None
        with db.read_unit(self.engine) as session:
            lacks = accounts.caldav_token_lacks_scope(session, login, password)
        return accounts.CALDAV_SCOPE if lacks else None
