"""teams and memberships: event types hosted by a team's accepted members

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "team_memberships",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id", name="uq_team_membership"),
    )
    op.create_index("ix_team_memberships_user_id", "team_memberships", ["user_id"])
    # Existing event types belong to no team: from now on they are hosted by their owner alone.
    # Added in place, not by batch mode: recreating event_types on SQLite would drop the table, and with
    # it (foreign keys on) every booking. SQLite takes the REFERENCES inline; PostgreSQL as a constraint.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE event_types ADD COLUMN team_id VARCHAR(40)"
            " CONSTRAINT fk_event_types_team_id REFERENCES teams (id)"
        )
    else:
        op.add_column("event_types", sa.Column("team_id", sa.String(length=40), nullable=True))
        op.create_foreign_key("fk_event_types_team_id", "event_types", "teams", ["team_id"], ["id"])
    op.create_index("ix_event_types_team_id", "event_types", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_event_types_team_id", table_name="event_types")
    with op.batch_alter_table("event_types") as batch_op:
        batch_op.drop_constraint("fk_event_types_team_id", type_="foreignkey")
        batch_op.drop_column("team_id")
    op.drop_index("ix_team_memberships_user_id", table_name="team_memberships")
    op.drop_table("team_memberships")
    op.drop_table("teams")
