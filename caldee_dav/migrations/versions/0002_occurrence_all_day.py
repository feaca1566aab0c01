"""occurrence all-day flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("occurrences") as batch_op:
        batch_op.add_column(sa.Column("all_day", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("occurrences") as batch_op:
        batch_op.drop_column("all_day")
