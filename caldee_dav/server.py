"""The composition root of the HTTP server: the REST app with CalDAV mounted at /dav, served by
gunicorn (N pre-forked worker processes, each with a thread pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from api import create_app, webhook_payloads
from api.worker import JsonErrorWorker
from caldee_dav import clock
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings
from caldee_dav.dav.app import create_dav_app


def wsgi_app(settings: Settings) -> Flask:
    """Everything one worker serves: REST, booking pages and health at /, CalDAV at /dav. The
    background work (mail, webhooks, time-based events) runs beside, in `caledee worker`: in a process
    of its own, so that its sends never take the GIL from a request (``caledee serve`` starts one)."""
    clock.install(clock.Clock.moved_by_days(settings.clock_offset_days))
    # One set of failed-login counters for REST and CalDAV: a guesser cannot switch between them.
    throttle = LoginThrottle.for_settings(settings)
    app = create_app(settings, throttle)
    dav = create_dav_app(settings, throttle)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/dav": dav})  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # The client address (REMOTE_ADDR, which the login throttle counts by) from the proxies'
        # X-Forwarded-For; only when configured, since any client can send that header.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    # The renderers of webhook data: events are written (and rendered) in the request's transaction.
    webhook_payloads.install()
    return app


DEFAULT_DATA_DIR = Path("var")


def data_dir(settings: Settings) -> Path:
    """Where the server keeps its files: the SQLite database's folder, else ./var."""
    prefix = "sqlite:///"
    if settings.database_url.startswith(prefix):
        path = settings.database_url[len(prefix) :].partition("?")[0]
        if path and path != ":memory:":
            return Path(path).parent.resolve()
    return DEFAULT_DATA_DIR.resolve()


def outbox_dir(settings: Settings) -> Path:
    """Where outgoing mail is written as .eml files when no relay is configured (``smtp_host`` empty)."""
    return data_dir(settings) / "outbox"


class CaledeeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": JsonErrorWorker,  # gthread, answering unparsable requests in JSON
            "threads": self.settings.threads,
            "loglevel": self.settings.log_level,
            "accesslog": "-" if self.settings.log_level == "debug" else None,
            # The request line without its query string: a feed's URL carries its secret token there.
            "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"',
            "timeout": 120,
            "graceful_timeout": 5,
            # Each worker builds its own app (and engine) after the fork: no shared connections.
            "preload_app": False,
            # gunicorn's control socket (for gunicornc) by the data, not in the user's home directory.
            "control_socket": str(data_dir(self.settings) / "gunicorn.ctl"),
        }
        for key, value in options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        return wsgi_app(self.settings)


def serve(settings: Settings) -> None:
    CaledeeServer(settings).run()
