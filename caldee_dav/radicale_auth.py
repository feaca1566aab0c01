"""Radicale auth plugin: log in with the slug or the email, and the password or an API token."""

from __future__ import annotations

import hashlib
import threading
import time

from radicale import auth as radicale_auth
from radicale import config as radicale_config

from caldee_dav import accounts, db
from caldee_dav.radicale_storage import PLUGIN_CONFIG_SCHEMA

# Password hashes are deliberately slow; a client sends credentials on every request, so a
# successful login is remembered briefly (by a hash of the credentials, never the password).
LOGIN_CACHE_SECONDS = 30.0

AUTH_CONFIG_SCHEMA = {
    "auth": {"caledee_database_url": PLUGIN_CONFIG_SCHEMA["storage"]["caledee_database_url"]}
}


class Auth(radicale_auth.BaseAuth):
    def __init__(self, configuration: radicale_config.Configuration) -> None:
        configuration = configuration.copy(AUTH_CONFIG_SCHEMA)
        super().__init__(configuration)
        self.engine = db.engine_for(configuration.get("auth", "caledee_database_url"))
        self._recent: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _login(self, login: str, password: str) -> str:
        if not login or not password:
            return ""
        key = hashlib.sha256(f"{login}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._recent.get(key)
            if cached and cached[1] > now:
                return cached[0]
        # Tokens are checked on every request so that a revoked token stops at once.
        with db.read_unit(self.engine) as session:
            user = accounts.authenticate(session, login, password)
            slug = user.slug if user is not None else ""
        if slug and not password.startswith(accounts.TOKEN_PREFIX):
            with self._lock:
                if len(self._recent) > 10_000:
                    self._recent.clear()
                self._recent[key] = (slug, now + LOGIN_CACHE_SECONDS)
        return slug
