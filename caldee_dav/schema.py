"""Schema migrations with Alembic, run in-process (``caledee init`` and server start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from caldee_dav import db

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema; safe to run from several processes at once."""
    config = alembic_config()
    with engine.begin() as connection:
        if db.on_postgresql(connection):
            # Serialize concurrent starts of several workers on one database.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
