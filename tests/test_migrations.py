"""Migrations that move data: a database made by an earlier release keeps working."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from mailflow import db, sentmail
from mailflow.models import OutboxMessage

SENT = (
    b"From: Deputy Heads <group@example.org>\r\nTo: jane@school.example\r\n"
    b"Reply-To: Deputy Heads <Group+c1-4-AbC@example.org>\r\nSubject: Call for items\r\n"
    b"Message-ID: <1@example.org>\r\n\r\nWhat would you like to raise?\r\n"
)
NO_REPLY_TO = b"From: group@example.org\r\nTo: ben@school.example\r\nSubject: Minutes\r\n\r\nHi\r\n"


def test_mail_queued_before_the_reply_address_column_is_found_by_it(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(engine, "0007")  # the schema of the release before the column
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    old = {"status": "sent", "attempts": 1, "last_error": "", "next_attempt_at": now,
           "claimed_by": "", "created_at": now, "blobs": "", "subject": "",
           "message_id": ""}  # fmt: skip
    outbox = OutboxMessage.__table__
    with engine.begin() as conn:
        for recipient, raw in (("jane@school.example", SENT), ("ben@school.example", NO_REPLY_TO)):
            conn.execute(insert(outbox).values(old | {"recipient": recipient, "raw": raw}))

    db.upgrade(engine)

    with engine.connect() as conn:
        found = dict(conn.execute(select(outbox.c.recipient, outbox.c.reply_address)).all())
        assert found == {"jane@school.example": "group+c1-4-abc@example.org",
                         "ben@school.example": None}  # fmt: skip
        lookup = sentmail.NEWEST_WITH_ADDRESS
        assert conn.scalar(lookup, {"address": "group+c1-4-abc@example.org"}) == SENT
    engine.dispose()
