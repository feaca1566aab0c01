"""Radicale auth plugin: log in with the slug or the email, and the password or an API token."""

from __future__ import annotations

from radicale import auth as radicale_auth
from radicale import config as radicale_config

from caldee_dav import db
from caldee_dav.logins import LoginChecker
from caldee_dav.radicale_storage import PLUGIN_CONFIG_SCHEMA

AUTH_CONFIG_SCHEMA = {
    "auth": {"caledee_database_url": PLUGIN_CONFIG_SCHEMA["storage"]["caledee_database_url"]}
}


class Auth(radicale_auth.BaseAuth):
    def __init__(self, configuration: radicale_config.Configuration) -> None:
        configuration = configuration.copy(AUTH_CONFIG_SCHEMA)
        super().__init__(configuration)
        self.logins = LoginChecker(db.engine_for(configuration.get("auth", "caledee_database_url")))

    def _login(self, login: str, password: str) -> str:
        return self.logins.slug_for(login, password)
