"""the term's record: attendance as it was, actions from the minutes, item outcomes

attendance.presence (present / apologies / absent, recorded by the coordinator, apart
from the calendar answer in `status`), items.discussed (what the minutes say happened to
an item), and the actions table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("presence", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("presence_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("discussed", sa.Boolean(), nullable=True))
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["done_by_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("actions") as batch:
        batch.create_index("ix_actions_meeting_id", ["meeting_id"], unique=False)
        batch.create_index("ix_actions_status", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("actions")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("discussed")
    with op.batch_alter_table("attendance") as batch:
        batch.drop_column("presence_at")
        batch.drop_column("presence")
