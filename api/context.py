"""What a request handler may reach: settings, engine and units of work, via ``app.extensions``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.config import Settings
from caldee_dav.models import utcnow

EXTENSION = "caledee"


@dataclass
class Caledee:
    settings: Settings
    engine: Engine
    now: Callable[[], datetime] = field(default=utcnow)


def caledee() -> Caledee:
    return current_app.extensions[EXTENSION]


@contextmanager
def read_unit() -> Iterator[Session]:
    with db.read_unit(caledee().engine) as session:
        yield session


@contextmanager
def write_unit() -> Iterator[Session]:
    with db.write_unit(caledee().engine) as session:
        yield session


def current_user_id() -> str:
    """The authenticated user of this request (set by ``api.auth.require_scopes``)."""
    return g.caledee_user_id
