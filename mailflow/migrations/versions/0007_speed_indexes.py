"""speed indexes: inbound.budget with its time (the flood limit), outbox.recipient

The flood limit (`ingest.rate_limit`) counts a sender's messages of the last minute;
with the budget written on each message as it is processed (the member of its signed
address, or its envelope sender in lower case), that count is one range of
``ix_inbound_budget`` (budget, status, received_at) instead of a walk over every
stored message. The mail a reply answers is looked up among its member's outbox rows
(`sentmail`): ``ix_outbox_recipient`` finds them without walking the whole outbox.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("budget", sa.String(340), nullable=True))
    op.create_index("ix_inbound_budget", "inbound", ["budget", "status", "received_at"])
    op.create_index("ix_outbox_recipient", "outbox", ["recipient"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.drop_index("ix_inbound_budget", table_name="inbound")
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("budget")
