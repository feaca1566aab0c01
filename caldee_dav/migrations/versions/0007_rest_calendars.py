"""REST calendars and feeds: calendar public ids, feed and inbound tokens, event ids of objects

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:45:00
"""

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    # Plain ADD COLUMN and unique indexes, no batch mode: on SQLite batch mode copies and drops the
    # table, and dropping ``users`` would cascade to every booking and calendar.
    op.add_column(
        "collections", sa.Column("public_id", sa.String(length=40), nullable=False, server_default="")
    )
    op.add_column("collections", sa.Column("feed_token_hash", sa.String(length=64), nullable=True))
    op.add_column("collections", sa.Column("busy_feed_token_hash", sa.String(length=64), nullable=True))
    op.add_column("collections", sa.Column("inbound_token", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("bookings_feed_token_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "calendar_objects", sa.Column("event_id", sa.String(length=40), nullable=False, server_default="")
    )
    _backfill()
    for table, column in UNIQUE_COLUMNS:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=True)
    op.create_index("ix_object_event_id", "calendar_objects", ["collection_id", "event_id"])


UNIQUE_COLUMNS = [
    ("collections", "public_id"),
    ("collections", "feed_token_hash"),
    ("collections", "busy_feed_token_hash"),
    ("collections", "inbound_token"),
    ("users", "bookings_feed_token_hash"),
]


def _backfill() -> None:
    """Existing collections get an id and an inbound token; existing objects their event id."""
    connection = op.get_bind()
    collections = sa.table("collections", sa.column("id"), sa.column("public_id"), sa.column("inbound_token"))
    for (collection_id,) in connection.execute(sa.select(collections.c.id)).all():
        connection.execute(
            collections.update()
            .where(collections.c.id == collection_id)
            .values(public_id=f"cal_{secrets.token_hex(8)}", inbound_token="inb_" + secrets.token_urlsafe(24))
        )
    objects = sa.table("calendar_objects", sa.column("id"), sa.column("uid"), sa.column("event_id"))
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(objects.c.id, objects.c.uid)
            .where(objects.c.id > last_id)
            .order_by(objects.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            objects.update().where(objects.c.id == sa.bindparam("object_id")),
            [
                {"object_id": row.id, "event_id": "ev_" + hashlib.sha256(row.uid.encode()).hexdigest()[:20]}
                for row in rows
            ],
        )
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_object_event_id", table_name="calendar_objects")
    for table, column in UNIQUE_COLUMNS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_column("calendar_objects", "event_id")
    op.drop_column("users", "bookings_feed_token_hash")
    for name in ("inbound_token", "busy_feed_token_hash", "feed_token_hash", "public_id"):
        op.drop_column("collections", name)
