"""covering index for calendar listings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:00:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_object_listing", "calendar_objects", ["collection_id", "href", "etag", "component"])


def downgrade() -> None:
    op.drop_index("ix_object_listing", table_name="calendar_objects")
