"""Helpers for the reply-loop tests: a small group, replies over real SMTP, the outbox."""

from __future__ import annotations

import email
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailflow import addresses, meetings, members
from mailflow.app import App
from mailflow.models import InboundMessage, Item, OutboxMessage

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
JANE = "jane.smith@hamble.hants.sch.uk"
SAM = "sam.patel@westend.hants.sch.uk"
RUTH = "ruth.evans@bursledon.hants.sch.uk"
MARY = "mary.jones@eastleigh.hants.sch.uk"  # the coordinator (a member with that role)


@dataclass
class Group:
    """Ids of the test group's members and its two meetings."""

    ids: dict[str, int]
    meeting: int
    next_meeting: int

    def id(self, email_address: str) -> int:
        """A member's id by address."""
        return self.ids[email_address]


def make_group(app: App, *, now: datetime = NOW) -> Group:
    """Jane, Sam, Ruth (members), Mary (coordinator), the autumn and spring meetings."""
    app.clock = lambda: now
    with app.session() as session:
        people = [(JANE, "Jane Smith", "member"), (SAM, "Sam Patel", "member"),
                  (RUTH, "Ruth Evans", "member"), (MARY, "Mary Jones", "coordinator")]  # fmt: skip
        ids = {}
        for email_address, name, role in people:
            member = members.add_member(session, email=email_address, name=name, role=role,
                                        now=now)  # fmt: skip
            ids[email_address] = member.id
        autumn = meetings.add_meeting(session, app.settings, title="Autumn meeting",
                                      start="2026-11-19 16:00", now=now, ref="autumn")  # fmt: skip
        spring = meetings.add_meeting(session, app.settings, title="Spring meeting",
                                      start="2027-03-18 16:00", now=now, ref="spring")  # fmt: skip
        return Group(ids, autumn.id, spring.id)


def address(app: App, purpose: str, target: int, member_id: int) -> str:
    """A signed reply address."""
    token = addresses.ReplyToken(purpose, target, member_id)
    return addresses.reply_address(app.settings.mail.address, app.settings.mail.secret, token)


def message(
    sender: str, to: str, body: str, *, subject: str = "Re: your mail", name: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:  # fmt: skip
    """A plain-text reply as a mail client would send it."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["Date"] = "Thu, 01 Oct 2026 09:00:00 +0000"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def send(server: Any, sender: str, to: str, body: str | bytes, **kwargs: Any) -> InboundMessage:
    """Send one message over SMTP to the running server and wait until it is processed."""
    raw = body if isinstance(body, bytes) else message(sender, to, body, **kwargs)
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.sendmail(sender, [to], raw)
    assert server.drain()
    with server.app.session() as session:
        row = session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert row is not None
        return row


def outgoing(app: App, to: str | None = None) -> list[EmailMessage]:
    """Every message in the outbox (optionally only those to `to`), oldest first."""
    with app.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to is not None:
            query = query.where(OutboxMessage.recipient == to)
        rows = session.scalars(query).all()
    return [email.message_from_bytes(r.raw, policy=policy.default) for r in rows]  # type: ignore[misc]


def text_of(msg: EmailMessage) -> str:
    """The plain-text body of a message we sent."""
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def reply_to(msg: EmailMessage) -> str:
    """The Reply-To address of a message we sent."""
    return str(msg["Reply-To"].addresses[0].addr_spec)


def add_item(app: App, meeting_id: int, member_id: int, kind: str, title: str, *,
             status: str = "proposed", minutes: int | None = None) -> int:  # fmt: skip
    """An item as if the member had sent it."""
    with app.session() as session:
        item = Item(meeting_id=meeting_id, member_id=member_id, kind=kind, title=title,
                    status=status, minutes=minutes, created_at=app.now())  # fmt: skip
        session.add(item)
        session.flush()
        return item.id


def get_item(app: App, item_id: int) -> Item:
    """An item as stored now."""
    with app.session() as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item


def at(app: App, *when: int) -> None:
    """Set the app's clock (UTC): year, month, day, hour[, minute]."""
    year, month, day, hour, *rest = when
    moment = datetime(year, month, day, hour, rest[0] if rest else 0, tzinfo=UTC)
    app.clock = lambda: moment


def delivered(app: App, to: str, subject: str = "") -> list[EmailMessage]:
    """What `to` has received whose subject starts with `subject`, oldest first, as it
    arrived (the outbox is delivered to the maildir first; shared files are in place)."""
    from mailflow import outbox

    with app.session() as session:
        outbox.deliver(session, app.settings, now=app.now())
    found = []
    files = sorted(app.settings.maildir.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    headers = BytesHeaderParser()  # plain strings: a quick look before the full parse
    for path in files:
        raw = path.read_bytes()
        if to.lower() not in str(headers.parsebytes(raw)["To"]).lower():
            continue
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        if msg["To"].addresses[0].addr_spec == to and str(msg["Subject"]).startswith(subject):
            found.append(msg)
    return found


def attached(msg: EmailMessage) -> dict[str, bytes]:
    """A message's attachments by file name (the calendar apart)."""
    found = {}
    for part in msg.iter_attachments():
        name = part.get_filename()
        if name and not name.endswith(".ics"):
            found[name] = part.get_content()
    return found


def with_file(sender: str, name: str, to: str, body: str, filename: str, data: bytes,
              subject: str = "RE: your mail") -> bytes:  # fmt: skip
    """A reply with a PDF attached, as a mail client sends one (CRLF line ends)."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg.set_content(body)
    msg.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes(policy=policy.SMTP)


def without_terms(path: Path) -> Path:
    """Strip the [[terms]] from a test config, for tests that add their own meetings."""
    path.write_text(path.read_text(encoding="utf-8").split("[[terms]]")[0], encoding="utf-8")
    return path
