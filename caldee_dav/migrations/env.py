"""Alembic environment: runs on the connection handed over by ``caldee_dav.schema.migrate``."""

from alembic import context

from caldee_dav.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
