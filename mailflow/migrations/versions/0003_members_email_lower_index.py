"""members: an index on lower(email), for case-insensitive lookups without a scan

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_members_email_lower", "members", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_members_email_lower", table_name="members")
