"""The composition root of the HTTP server: the REST app with CalDAV mounted at /dav, served by
gunicorn (N pre-forked worker processes, each with a thread pool)."""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from api import create_app, webhook_payloads
from api.worker import JsonErrorWorker
from caldee_dav import clock, db
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings
from caldee_dav.dav.app import create_dav_app
from caldee_dav.scheduling.mail_delivery import MailSender
from caldee_dav.scheduling.time_events import TimeEventScanner
from caldee_dav.scheduling.webhook_delivery import WebhookDispatcher


def wsgi_app(settings: Settings) -> Flask:
    """Everything one worker serves: REST, booking pages and health at /, CalDAV at /dav."""
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
    webhook_payloads.install()
    if settings.background_in_server:
        _start_mail_sender(settings)
        _start_background(settings)
    return app


def _start_background(settings: Settings) -> None:
    """This worker's webhook dispatcher (claims never overlap between processes) and time-event scanner
    (each event and reminder fires once, whichever process finds it), stopped when the worker exits."""
    engine = db.engine_for(settings.database_url)
    dispatcher = WebhookDispatcher(engine, settings)
    dispatcher.start()
    atexit.register(dispatcher.stop)
    scanner = TimeEventScanner(engine, settings)
    scanner.start()
    atexit.register(scanner.stop)


def _start_mail_sender(settings: Settings) -> MailSender:
    """This worker's sender of the outgoing mail queue (every worker runs one: claims never overlap),
    stopped when the worker exits. Sending happens on its thread, never in a request."""
    sender = MailSender(db.engine_for(settings.database_url), settings, outbox_dir(settings))
    sender.start()
    atexit.register(sender.stop)
    return sender


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
