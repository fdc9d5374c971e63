"""Minutes copies assembled from a template are the copies `compose_copy` builds whole.

Each member's assembled copy is compared byte for byte with the message built the
ordinary way (the email package composing and serialising every part) for the same
member, Message-ID and MIME boundary, over names that need quoting or encoding, a
coordinator's copy, action owners' copies and shared attachments; and it parses back
with `email` (policy.default) to the same headers and texts.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import compose, fanout, meetings, members, outbox, sendminutes
from mailflow.app import App
from mailflow.models import Blob, Member

MINUTES = (
    "## Attendance codes\n\nMost schools follow the LA guidance. Ünïcode text, and a long "
    "line that quoted-printable has to break: " + "wörd " * 40 + "\n"
    "Trailing spaces stay encoded." + " " * 3 + "\n\n"
    "Present: Jane Smith, Tom Hughes\nApologies: Sam Patel\n\n"
    "- ACTION Jane Smith: circulate the crib sheet by 2026-12-10\n"
    "- ACTION Tom Hughes: ask the LA about the MIS update\n"
)
PEOPLE = [
    ("jane@hamble.sch.uk", "Jane Smith", "member"),
    ("tom@stjames.sch.uk", "Tom Hughes", "coordinator"),
    ("sam@westend.sch.uk", "Sam Patel", "member"),
    ("jose@school.example", "José Álvarez", "member"),
    ("dr@school.example", "Dr. Ruth Evans, PhD", "member"),
    ("q@school.example", 'Ann "The Chair" =?utf-8?q?x?= Lee', "member"),
    ("o.neil+dht@school.example", "Mary O'Neil-Brown", "member"),
    ("long@school.example", "Bartholomew " * 16, "member"),  # a long name, under 200
]


Group = tuple[sendminutes.Shared, list[Member], dict[str, bytes]]


@pytest.fixture
def minutes_group(app: App, tmp_path: Path) -> Iterator[Group]:
    """The group above, its meeting and the minutes gathered, with one attached file
    (stored as a shared blob)."""
    with app.session() as session:
        for address, name, role in PEOPLE:
            members.add_member(session, email=address, name=name, role=role, now=app.now())
        meetings.add_meeting(session, app.settings, title="Autumn meeting",
                             start="2026-11-19 16:00",
                             now=app.now() - timedelta(days=30))  # fmt: skip
    attached = tmp_path / "slides.pdf"
    attached.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    with app.session() as session:
        meeting = meetings.find_meeting(session, "1")
        shared = sendminutes.gather(session, app.settings, meeting, MINUTES, [attached],
                                    now=app.now())  # fmt: skip
        shas = [outbox.store_blob(session, f.path.read_bytes()) for f in shared.files]
        blobs = {sha: session.get_one(Blob, sha).encoded for sha in shas}
        yield shared, list(session.scalars(select(Member).order_by(Member.id))), blobs


def whole(
    app: App, shared: sendminutes.Shared, member: Member, copy: bytes, now: datetime
) -> bytes:
    """The member's copy built whole, with the assembled copy's Message-ID and boundary."""
    message_id = re.search(rb"^Message-ID: (\S+)\r$", copy, re.MULTILINE)
    assert message_id is not None
    context = (shared.context | sendminutes._own(shared, member)
               | {"name": app.settings.group.greet(member.name)})  # fmt: skip
    msg = sendminutes._message(app.settings, shared, member, context, now=now,
                               shared_blobs=True, message_id=message_id[1].decode())  # fmt: skip
    boundaries = re.findall(rb'boundary="([^"]+)"', copy)
    for part, boundary in zip([p for p in msg.walk() if p.is_multipart()], boundaries, strict=True):
        part.set_boundary(boundary.decode())
    return compose.to_bytes(msg)


def test_every_assembled_copy_is_the_copy_built_whole(app: App, minutes_group: Group) -> None:
    shared, people, _blobs = minutes_group
    now = app.now()
    copies = sendminutes.Copies(app.settings, shared, now=now)
    for member in people:
        msg = copies(member)
        assert isinstance(msg, fanout.AssembledMessage), member.name
        raw = compose.to_bytes(msg)
        assert raw == whole(app, shared, member, raw, now), member.name
    # one template for the members without actions, one per action owner (the
    # coordinator is one of them)
    assert len(copies.templates) == 3
    assert all(t is not None for t in copies.templates.values())


def test_an_assembled_copy_parses_back_with_its_headers_and_texts(
    app: App, minutes_group: Group
) -> None:
    shared, people, blobs = minutes_group
    copies = sendminutes.Copies(app.settings, shared, now=app.now())
    by_email = {m.email: m for m in people}
    for address in ("jose@school.example", "q@school.example", "tom@stjames.sch.uk"):
        msg = copies(by_email[address])
        raw = outbox.Delivery(1, address, compose.to_bytes(msg), blobs).message()
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        assert parsed["To"].addresses[0].addr_spec == address
        assert parsed["To"].addresses[0].display_name == compose.one_line(by_email[address].name)
        assert str(parsed["Message-ID"]) == str(msg["Message-ID"])
        assert str(parsed["Subject"]) == shared.subject
        assert msg["To"].addresses[0].addr_spec == address  # the outbox reads these
        body = parsed.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert text.startswith(f"Dear {app.settings.group.greet(by_email[address].name)},")
        assert "wörd " * 39 + "wörd" in text
        html = parsed.get_body(("html",))
        assert html is not None and "Dear " in html.get_content()
        files = [p for p in parsed.iter_attachments() if p.get_filename() == "slides.pdf"]
        assert files and files[0].get_content() == b"%PDF-1.4\n" + bytes(range(256)) * 40
    coordinator = copies(by_email["tom@stjames.sch.uk"]).parsed().get_body(("plain",))
    assert coordinator is not None and "Never answered" in coordinator.get_content()


def test_a_greeting_with_a_control_character_is_built_whole(app: App, minutes_group: Group) -> None:
    shared, people, _blobs = minutes_group
    member = people[0]
    member.name = "Ja\x1b[31mne\rBcc: victim@example.org"  # greeted "Ja\x1b[31mne"
    now = app.now()
    copies = sendminutes.Copies(app.settings, shared, now=now)
    msg = copies(member)
    assert not isinstance(msg, fanout.AssembledMessage)
    raw = compose.to_bytes(msg)
    assert b"\r\nBcc:" not in raw and b"\rBcc:" not in raw
    assert raw == whole(app, shared, member, raw, now)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("To", compose.mailbox("m1@school1.example", "Member 1")),
        ("To", compose.mailbox("a.b+c@x-y.example", "Anne-Marie O'Neil")),
        ("To", compose.mailbox("a@b.example", "")),
        ("To", compose.mailbox("a@b.example", "Dr. J. Smith, PhD")),
        ("To", compose.mailbox("a@b.example", "José")),
        ("To", compose.mailbox("a@b.example", "x" * 300)),
        ("Reply-To", compose.mailbox("dht+m1-6-coomq6ssd3fvytse@example.org")),
        ("Message-ID", "<179630898417.8785.5153210242889981635@example.org>"),
        ("List-Unsubscribe", "<mailto:dht+u0-6-xr@example.org?subject=unsubscribe>"),
        ("Subject", 'a (b) "c" <d> = ? e'),
        ("Subject", "=?utf-8?q?encoded?="),
        ("Subject", "two  spaces"),
        ("Subject", "long " * 300),
    ],
)
def test_a_recipient_header_is_written_as_the_email_package_writes_it(
    name: str, value: Address | str
) -> None:
    msg = EmailMessage(policy=compose.POLICY)
    msg[name] = value
    line, held = fanout.header(name, value)
    assert line == compose.WIRE.fold_binary(name, msg[name])
    assert str(held) == str(msg[name])
