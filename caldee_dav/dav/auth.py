"""Radicale auth plugin: log in with the slug or the email, and the password or an API token."""

from __future__ import annotations

from radicale import auth as radicale_auth
from radicale import config as radicale_config

from caldee_dav import db
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.dav.storage import PLUGIN_CONFIG_SCHEMA, settings_of

AUTH_CONFIG_SCHEMA = {"auth": PLUGIN_CONFIG_SCHEMA["storage"]}


class Auth(radicale_auth.BaseAuth):
    def __init__(self, configuration: radicale_config.Configuration) -> None:
        configuration = configuration.copy(AUTH_CONFIG_SCHEMA)
        super().__init__(configuration)
        self.logins = LoginChecker(db.engine_for(settings_of(configuration, "auth").database_url))

    def _login(self, login: str, password: str) -> str:
        return self.logins.slug_for(login, password)
