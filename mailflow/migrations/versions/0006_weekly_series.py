"""a series as one calendar series with one meeting record per occurrence

meetings.series_id (the series row an occurrence, or an earlier part of a split series,
belongs to), meetings.recurrence_id (an occurrence's original start in UTC: its
RECURRENCE-ID), unique per series; polls.proposals (themes members proposed, waiting for
the coordinator's approval).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("series_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("recurrence_id", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_meetings_series_id", "meetings", ["series_id"], ["id"])
        batch.create_index("ix_meetings_series_id", ["series_id"], unique=False)
        batch.create_unique_constraint(
            "uq_meetings_series_recurrence", ["series_id", "recurrence_id"]
        )
    with op.batch_alter_table("polls") as batch:
        batch.add_column(sa.Column("proposals", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("polls") as batch:
        batch.drop_column("proposals")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint("uq_meetings_series_recurrence", type_="unique")
        batch.drop_index("ix_meetings_series_id")
        batch.drop_constraint("fk_meetings_series_id", type_="foreignkey")
        batch.drop_column("recurrence_id")
        batch.drop_column("series_id")
