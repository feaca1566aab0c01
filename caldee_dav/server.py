"""The composition root of the HTTP server: the REST app with CalDAV mounted at /dav, served by
gunicorn (N pre-forked worker processes, each with a thread pool)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from api import create_app
from api.worker import JsonErrorWorker
from caldee_dav import clock
from caldee_dav.config import Settings
from caldee_dav.dav.app import create_dav_app


def wsgi_app(settings: Settings) -> Flask:
    """Everything one worker serves: REST, booking pages and health at /, CalDAV at /dav."""
    clock.install(clock.Clock.moved_by_days(settings.clock_offset_days))
    app = create_app(settings)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/dav": create_dav_app(settings)})  # type: ignore[method-assign]
    return app


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
            "timeout": 120,
            "graceful_timeout": 5,
            # Each worker builds its own app (and engine) after the fork: no shared connections.
            "preload_app": False,
        }
        for key, value in options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        return wsgi_app(self.settings)


def serve(settings: Settings) -> None:
    CaledeeServer(settings).run()
