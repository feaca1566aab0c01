"""The REST front: a Flask app factory with one blueprint per resource. The composition root
(``caldee_dav.server.wsgi_app``) mounts the CalDAV app beside it at /dav."""

from __future__ import annotations

from flask import Flask, request

from api import api_keys as api_keys_api
from api import availability as availability_api
from api import bookings as bookings_api
from api import calendars as calendars_api
from api import contacts as contacts_api
from api import contract as contract_api
from api import docs as docs_api
from api import errors, me, pages, rate_limits, site
from api import event_types as event_types_api
from api import events as events_api
from api import feeds as feeds_api
from api import inbound as inbound_api
from api import leads as leads_api
from api import public as public_api
from api import schedules as schedules_api
from api import teams as teams_api
from api import webhooks as webhooks_api
from api.context import EXTENSION, Caledee
from caldee_dav import db
from caldee_dav.calendars.request_limits import RequestLimits
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings, load_settings
from caldee_dav.errors import NotFound

API_PREFIX = "/api/v2"
API_BLUEPRINTS = [
    me.bp,
    schedules_api.bp,
    event_types_api.bp,
    availability_api.bp,
    bookings_api.bp,
    teams_api.bp,
    calendars_api.bp,
    events_api.bp,
    inbound_api.bp,
    leads_api.bp,
    public_api.bp,
    contacts_api.bp,
    contract_api.bp,
    api_keys_api.bp,
    webhooks_api.bp,
    docs_api.bp,
]


def create_app(settings: Settings | None = None, login_throttle: LoginThrottle | None = None) -> Flask:
    """``login_throttle``: the failed-login counters, shared with the CalDAV app of the same process."""
    settings = settings or load_settings()
    if login_throttle is None:
        login_throttle = LoginThrottle.for_settings(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_resource_size
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Caledee(
        settings=settings,
        engine=db.engine_for(settings.database_url),
        login_throttle=login_throttle,
        request_limits=RequestLimits.for_settings(settings),
    )
    errors.register_error_handlers(app)
    app.before_request(_refuse_nul_in_path)
    rate_limits.register(app)  # X-RateLimit-* on every /api/v2 answer, 429 past the limit
    app.register_blueprint(site.bp)
    for blueprint in API_BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(feeds_api.bp)  # /feeds/...: the .ics feeds, opened by their tokens
    app.register_blueprint(inbound_api.door)  # /inbound/{token}: mail to a calendar over HTTP
    # /{userSlug}, /{userSlug}/{eventSlug} (the event types' url), /booking/{id}: the booking pages;
    # their files are the app's /static.
    app.register_blueprint(pages.bp)
    return app


def _refuse_nul_in_path() -> None:
    """An id or slug with a NUL names nothing (and PostgreSQL text cannot hold one: a lookup was a 500
    there): every such path is a 404 before any view runs."""
    if "\x00" in request.path:
        raise NotFound("There is nothing at this address.")
