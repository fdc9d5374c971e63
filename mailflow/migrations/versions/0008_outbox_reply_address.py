"""outbox.reply_address: the Reply-To each mail went out with, indexed; mailings by meeting

The mail a reply answers (`sentmail`) is the newest outbox row whose Reply-To is the
signed address the reply was sent to: one lookup of ``ix_outbox_reply_address``, with
only that row's bytes read, instead of a search through the member's newest rows. Rows
already in the outbox get the address from their own Reply-To header. Whether a
meeting's invites have gone out (asked for every reply, see `late`) is found through
``ix_mailings_meeting_kind``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("reply_address", sa.String(320), nullable=True))
    op.create_index("ix_outbox_reply_address", "outbox", ["reply_address"])
    op.create_index("ix_mailings_meeting_kind", "mailings", ["meeting_id", "kind"])
    _fill_reply_addresses(op.get_bind())


def _fill_reply_addresses(conn: sa.Connection) -> None:
    """Each existing row's reply address, read from its own headers, a batch at a time."""
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("raw", sa.LargeBinary),
                      sa.column("reply_address", sa.String))  # fmt: skip
    parser = BytesHeaderParser(policy=policy.compat32)
    last = 0
    while True:
        rows = conn.execute(
            sa.select(outbox.c.id, outbox.c.raw)
            .where(outbox.c.id > last).order_by(outbox.c.id).limit(BATCH)
        ).all()  # fmt: skip
        if not rows:
            return
        values = []
        for row_id, raw in rows:
            found = getaddresses(parser.parsebytes(bytes(raw or b"")).get_all("Reply-To") or [])
            address = next((a for _, a in found if "@" in a), None)
            if address:
                values.append({"row": row_id, "address": address.lower()[:320]})
        if values:
            conn.execute(
                outbox.update().where(outbox.c.id == sa.bindparam("row"))
                .values(reply_address=sa.bindparam("address")), values,
            )  # fmt: skip
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_mailings_meeting_kind", table_name="mailings")
    op.drop_index("ix_outbox_reply_address", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("reply_address")
