"""Serve the WSGI app with gunicorn: N pre-forked worker processes, each with a thread pool."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from caldee_dav.config import Settings


class CaledeeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": "gthread",
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
        from api import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    CaledeeServer(settings).run()
