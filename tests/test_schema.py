"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from caldee_dav import db
from caldee_dav.models import Base
from caldee_dav.schema import migrate


def test_migrations_match_the_models(database_url: str) -> None:
    engine = db.engine_for(database_url)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
