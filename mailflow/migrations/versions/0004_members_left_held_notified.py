"""members.left_at (left by mail) and held.notified_at (listed in a coordinator notice)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("held") as batch:
        batch.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("held") as batch:
        batch.drop_column("notified_at")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("left_at")
