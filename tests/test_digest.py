"""The weekly news digest: exactly the posts since the last one; replies reach the author."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from mailflow import tick
from mailflow.app import App
from mailflow.models import Comment
from tests.conftest import Cli
from tests.loops import (
    JANE,
    RUTH,
    SAM,
    address,
    make_group,
    message,
    outgoing,
    reply_to,
    send,
    text_of,
)

FRIDAY = datetime(2026, 10, 2, 16, 0, tzinfo=UTC)
NEXT_FRIDAY = datetime(2026, 10, 9, 16, 0, tzinfo=UTC)
GROUP = "dht@example.org"


def digests(app: App, to: str) -> list[EmailMessage]:
    return [m for m in outgoing(app, to=to) if " news: " in str(m["Subject"])]


def titles(msg: EmailMessage) -> list[str]:
    return re.findall(r"(?m)^\d+\. (.+)$", text_of(msg))


def post_with_file(sender: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, GROUP, subject
    msg["Message-ID"] = "<post-with-file@client.example>"
    msg.set_content("Our phonics progression map, in case it helps anyone.")
    msg.add_attachment(b"%PDF-1.4 tiny", maintype="application", subtype="pdf",
                       filename="phonics map.pdf")  # fmt: skip
    return msg.as_bytes()


def test_digest_has_exactly_the_posts_since_the_last(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    assert send(server, JANE, GROUP, post_with_file(JANE, "Phonics map")).status == "processed"
    send(server, SAM, GROUP, "The new framework is out today.", subject="Inspection update")
    send(server, SAM, address(app, "c", group.meeting, group.id(SAM)), "Q: Not news?")

    app.clock = lambda: FRIDAY
    assert "news digest: 2 post(s) mailed to 4 member(s)" in tick.run(app)
    assert not any("digest" in line for line in tick.run(app))  # once a week
    [ruths] = digests(app, RUTH)
    assert titles(ruths) == ["Phonics map", "Inspection update"]
    assert [p.get_filename() for p in ruths.iter_attachments()] == ["phonics map.pdf"]
    text = text_of(ruths)
    jane_post = re.search(r"To reply to Jane Smith: (\S+)", text)
    assert jane_post is not None and jane_post.group(1).startswith("dht+d")
    assert reply_to(ruths) == GROUP
    assert "To reply to Jane Smith" not in text_of(digests(app, JANE)[0])  # her own post

    app.clock = lambda: datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    send(server, RUTH, GROUP, "Free CPD on Thursday.", subject="CPD offer")
    app.clock = lambda: NEXT_FRIDAY
    assert "news digest: 1 post(s) mailed to 4 member(s)" in tick.run(app)
    assert [titles(m) for m in digests(app, SAM)] == [
        ["Phonics map", "Inspection update"], ["CPD offer"]
    ]  # fmt: skip
    result = cli("send-digest")
    assert result.exit_code == 0 and "no new posts" in result.stdout

    # A reply to an entry goes straight to the post's author, and is kept.
    row = send(server, RUTH, jane_post.group(1),
               message(RUTH, jane_post.group(1), "Lovely - could we use it at our school?\n\n"
                       "> Our phonics progression map", name="Ruth Evans"))  # fmt: skip
    assert row.status == "processed", row.outcome
    [relayed] = [m for m in outgoing(app, to=JANE) if "replied to your post" in text_of(m)]
    assert str(relayed["Subject"]) == "Re: Phonics map"
    assert "could we use it at our school?" in text_of(relayed)
    assert "> Our phonics" not in text_of(relayed)
    assert reply_to(relayed) == RUTH
    assert "has been sent to Jane Smith" in text_of(outgoing(app, to=RUTH)[-1])
    with app.session() as session:
        [comment] = session.scalars(select(Comment)).all()
        assert comment.member_id == group.id(RUTH)
        assert comment.body.startswith("Lovely")
