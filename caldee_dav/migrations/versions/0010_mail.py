"""mail: the inbound message log, senders allowed to create events, attendees' answers to bookings,
the outbound mail queue, and bookings' manage tokens

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:30:00

Plain ADD COLUMN (never batch mode: on SQLite it copies and drops ``bookings``, whose contact
triggers and dependants would go with it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("inbound_allowed_senders", sa.JSON(), nullable=True))
    op.add_column("bookings", sa.Column("attendee_partstats", sa.JSON(), nullable=True))
    op.add_column("bookings", sa.Column("manage_token_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_bookings_manage_token_hash", "bookings", ["manage_token_hash"], unique=True)
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=998), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("uids", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("collection_id", "message_key", name="uq_inbound_message_key"),
    )
    op.create_index(
        "ix_inbound_message_collection_received", "inbound_messages", ["collection_id", "received_at", "id"]
    )
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("booking_id", sa.String(length=40), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbound_mail_due", "outbound_mail", ["status", "next_attempt_at"])
    op.create_index("ix_outbound_mail_booking", "outbound_mail", ["booking_id"])


def downgrade() -> None:
    op.drop_table("outbound_mail")
    op.drop_table("inbound_messages")
    op.drop_index("ix_bookings_manage_token_hash", table_name="bookings")
    op.drop_column("bookings", "manage_token_hash")
    op.drop_column("bookings", "attendee_partstats")
    op.drop_column("collections", "inbound_allowed_senders")
