"""booking_hosts: every host of a booking, for busy time by index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    booking_hosts = op.create_table(
        "booking_hosts",
        sa.Column("booking_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id", "user_id"),
    )
    op.create_index("ix_booking_hosts_user_start", "booking_hosts", ["user_id", "start_at"])
    _backfill(booking_hosts)


def _backfill(booking_hosts: sa.Table) -> None:
    """A row per host of every existing booking: the primary host and each collective host."""
    bookings = sa.table(
        "bookings",
        sa.column("id", sa.String),
        sa.column("host_user_id", sa.String),
        sa.column("host_ids", sa.JSON),
        sa.column("start_at", sa.DateTime(timezone=True)),  # copied as stored
    )
    connection = op.get_bind()
    users = {row[0] for row in connection.execute(sa.text("SELECT id FROM users"))}
    rows = []
    query = sa.select(bookings.c.id, bookings.c.host_user_id, bookings.c.host_ids, bookings.c.start_at)
    for booking_id, host_user_id, host_ids, start_at in connection.execute(query):
        for user_id in dict.fromkeys([host_user_id, *(str(h) for h in host_ids or [])]):
            if user_id in users:  # a collective host deleted since: no row (the foreign key)
                rows.append({"booking_id": booking_id, "user_id": user_id, "start_at": start_at})
    for first in range(0, len(rows), BATCH):
        connection.execute(booking_hosts.insert(), rows[first : first + BATCH])


def downgrade() -> None:
    op.drop_index("ix_booking_hosts_user_start", table_name="booking_hosts")
    op.drop_table("booking_hosts")
