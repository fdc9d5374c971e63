"""Hostile input over real SMTP against a running server.

Every case talks to the `server` fixture with smtplib (or a raw socket for SMTP
smuggling) and asserts the exact outcome. Whatever the server answered 250 to must be
accounted for: the `mta` fixture checks at the end of every test that each stored
message was processed, held with a reason, ignored with a reason, or failed with an
error that `mailflow inbox reprocess` picks up, and that nothing else was stored.
The messages are files in tests/hostile/ (with ``{placeholders}``) or built here when
they are too big or too regular to keep as files.
"""

from __future__ import annotations

import base64
import email
import io
import re
import smtplib
import socket
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import addresses, meetings, members
from mailflow.app import App
from mailflow.models import Attachment, Held, InboundMessage, Item, OutboxMessage
from mailflow.server import InboundServer
from tests.conftest import Cli, ConfigFactory

HOSTILE = Path(__file__).parent / "hostile"
GROUP = "dht@example.org"
JANE = "jane.smith@hamble.hants.sch.uk"
SAM = "sam.patel@westend.hants.sch.uk"
TOM = "tom.hughes@stjames.hants.sch.uk"
AUTHSERV = "mx.example.org"
MAX_BYTES = 2_000_000
RATE_LIMIT = 20  # the default [inbound] rate_limit_per_minute
NOT_A_MEMBER = "unknown sender is not a member"


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard test config with a 2 MB message limit and a trusted authserv-id."""
    path = configs.write(max_message_bytes=MAX_BYTES)
    limit = f"max_message_bytes = {MAX_BYTES}"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(limit, f'{limit}\ntrusted_authserv_id = "{AUTHSERV}"'),
                    encoding="utf-8")  # fmt: skip
    return path


@dataclass(frozen=True)
class Group:
    """Jane and Sam (members), Tom (removed later by one test) and the next meeting."""

    jane: int
    sam: int
    tom: int
    meeting: int
    uid: str


@pytest.fixture
def group(app: App) -> Group:
    with app.session() as session:
        jane = members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
        sam = members.add_member(session, email=SAM, name="Sam Patel", now=app.now())
        tom = members.add_member(session, email=TOM, name="Tom Hughes", now=app.now())
        meeting = meetings.add_meeting(session, app.settings, title="Autumn meeting",
                                       start="2027-11-18 16:00", now=app.now())  # fmt: skip
        return Group(jane.id, sam.id, tom.id, meeting.id, meeting.uid)


def reply_to(app: App, member_id: int, meeting_id: int, purpose: str = "c") -> str:
    token = addresses.ReplyToken(purpose, meeting_id, member_id)
    return addresses.reply_address(app.settings.mail.address, app.settings.mail.secret, token)


def hostile(name: str, **values: str | bytes) -> bytes:
    """tests/hostile/<name> with {placeholders} filled in and CRLF line ends."""
    data = (HOSTILE / name).read_bytes()
    for key, value in values.items():
        data = data.replace(b"{" + key.encode() + b"}", value if isinstance(value, bytes)
                            else value.encode("utf-8"))  # fmt: skip
    return re.sub(rb"\r?\n", b"\r\n", data)


def verified(raw: bytes, sender: str = JANE) -> bytes:
    """`raw` as the trusted MTA passes on the sender's signed mail: with its dkim=pass (the
    group address takes a member's mail only with one, see mailflow/senders.py)."""
    domain = sender.rpartition("@")[2]
    return f"Authentication-Results: {AUTHSERV}; dkim=pass header.d={domain}\r\n".encode() + raw


def plain(subject: str, body: str, *, sender: str = JANE, to: str = GROUP, n: int = 0) -> bytes:
    """A small ordinary reply (tests/hostile/plain_reply.eml), as the trusted MTA passes it on."""
    return verified(hostile("plain_reply.eml", subject=subject, body=body, to=to,
                            message_id=f"plain-{n}", **{"from": sender}), sender)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What became of one stored message: its status and the reason or error."""

    status: str
    reason: str


@dataclass
class Mta:
    """Sends over real SMTP and remembers every message the server answered 250 to."""

    app: App
    server: InboundServer
    cli: Cli
    stored: list[int] = field(default_factory=list)

    def send(
        self, data: bytes, *, to: str = GROUP, mail_from: str = JANE, options: tuple[str, ...] = ()
    ) -> tuple[int, str]:
        """MAIL, RCPT and DATA on a new connection; the first reply that is not 250."""
        with smtplib.SMTP("127.0.0.1", self.server.port) as smtp:
            return self.transaction(smtp, data, to=to, mail_from=mail_from, options=options)

    def transaction(
        self, smtp: smtplib.SMTP, data: bytes, *, to: str = GROUP, mail_from: str = JANE,
        options: tuple[str, ...] = (),
    ) -> tuple[int, str]:  # fmt: skip
        """One mail transaction on an open connection."""
        smtp.ehlo_or_helo_if_needed()
        for code, reply in (smtp.mail(mail_from, list(options)), smtp.rcpt(to)):
            if code != 250:
                smtp.rset()
                return code, reply.decode()
        code, reply = smtp.data(data)
        return self.answered(code, reply.decode())

    def answered(self, code: int, reply: str) -> tuple[int, str]:
        """Note the stored message's id if the server took it."""
        if code == 250:
            found = re.search(r"Stored as message (\d+)", reply)
            assert found, reply
            self.stored.append(int(found.group(1)))
        return code, reply

    def deliver(self, data: bytes, **kwargs: Any) -> int:
        """Send a message the server must take; its stored id."""
        code, reply = self.send(data, **kwargs)
        assert code == 250, reply
        return self.stored[-1]

    def outcome(self, inbound_id: int) -> Outcome:
        """The status of a stored message once processed, with its reason or error."""
        assert self.server.drain()
        with self.app.session() as session:
            row = session.get(InboundMessage, inbound_id)
            assert row is not None
            return Outcome(row.status, row.error or row.outcome)

    def check_accounted(self) -> None:
        """Every 250 is one stored row, and every row ended somewhere a person can see."""
        assert self.server.drain()
        with self.app.session() as session:
            rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
            held = {h.inbound_id: h for h in session.scalars(select(Held))}
            assert [r.id for r in rows] == sorted(self.stored)
            failed = []
            for row in rows:
                assert row.status in {"processed", "held", "ignored", "failed"}, row.status
                assert row.processed_at is not None
                if row.status == "held":
                    assert row.id in held and held[row.id].reason == row.outcome != ""
                elif row.status == "failed":
                    assert row.error, f"message {row.id} failed without an error"
                    failed.append(row.id)
                else:
                    assert row.outcome, f"message {row.id} {row.status} without a reason"
        if failed:  # `inbox reprocess --failed` picks up exactly these
            again = self.cli("inbox", "reprocess", "--failed")
            assert again.exit_code == 0, again.stderr
            assert [int(n) for n in re.findall(r"message (\d+):", again.stdout)] == failed


@pytest.fixture
def mta(app: App, server: InboundServer, group: Group, cli: Cli) -> Iterator[Mta]:
    sender = Mta(app, server, cli)
    yield sender
    sender.check_accounted()


def items_of(app: App, inbound_id: int) -> list[tuple[str, str]]:
    with app.session() as session:
        query = select(Item).where(Item.message_id == inbound_id).order_by(Item.id)
        return [(i.kind, i.title) for i in session.scalars(query)]


def acks(app: App) -> list[EmailMessage]:
    """Every message in the outbox, parsed."""
    with app.session() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        found = [email.message_from_bytes(r.raw, policy=policy.default) for r in rows]
    return [m for m in found if isinstance(m, EmailMessage)]


def the_ack(app: App) -> EmailMessage:
    [ack] = acks(app)
    assert ack["To"].addresses[0].addr_spec == JANE
    assert ack["Auto-Submitted"] == "auto-replied"
    return ack


def part(msg: EmailMessage, subtype: str) -> str:
    body = msg.get_body((subtype,))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content


def stored_files(app: App) -> list[Path]:
    return sorted(p for p in app.settings.data_dir.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- size and lines


def test_oversize_is_refused_at_data_and_the_server_stays_up(mta: Mta) -> None:
    big = plain("big", "Item: big\r\n" + ("x" * 76 + "\r\n") * (MAX_BYTES // 78 + 10))
    assert len(big) > MAX_BYTES
    with smtplib.SMTP("127.0.0.1", mta.server.port) as smtp:
        code, reply = mta.transaction(smtp, big)
        assert (code, reply) == (552, "Error: Too much mail data")
        assert mta.transaction(smtp, plain("after", "Item: After the big one"))[0] == 250
    assert mta.outcome(mta.stored[0]).status == "processed"


def test_oversize_announced_with_size_is_refused_at_mail(mta: Mta) -> None:
    code, reply = mta.send(b"x", options=(f"SIZE={MAX_BYTES + 1}",))
    assert code == 552 and reply.startswith("Error: message size exceeds fixed maximum")
    assert mta.deliver(plain("small", "Item: Small")) == 1


@pytest.mark.parametrize(
    ("length", "expected"),
    [(998, 250), (999, 250), (1000, 500), (100_000, 500)],
    ids=["998", "999", "1000", "100k"],
)
def test_long_lines_are_taken_up_to_the_smtp_limit(
    mta: Mta, app: App, group: Group, length: int, expected: int
) -> None:
    line = ("Item: " + "long line " * (length // 10 + 1))[:length]
    to = reply_to(app, group.jane, group.meeting)
    with smtplib.SMTP("127.0.0.1", mta.server.port) as smtp:
        code, reply = mta.transaction(smtp, plain("long", line, to=to), to=to)
        assert code == expected, reply
        if code == 500:  # RFC 5321 4.5.3.1.6: 1,000 octets with the CRLF
            assert reply == "Line too long (see RFC5321 4.5.3.1.6)"
            assert mta.transaction(smtp, plain("after", "Item: After the long line"))[0] == 250
            return
    assert mta.outcome(mta.stored[0]) == Outcome("processed", "agenda #1")
    [(kind, title)] = items_of(app, mta.stored[0])
    assert kind == "agenda" and len(title) == length - len("Item: ")


def test_bare_line_feeds(mta: Mta, app: App) -> None:
    verdict = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=hamble.hants.sch.uk"
    raw = f"{verdict}\nFrom: Jane Smith <{JANE}>\nSubject: bare LF\n\nItem: Bare line feeds\n"
    inbound = mta.deliver(raw.encode())
    assert mta.outcome(inbound) == Outcome("processed", "resource #1")
    assert items_of(app, inbound) == [("resource", "bare LF")]


# --------------------------------------------------------------------------- bytes and charsets


def test_nul_bytes(mta: Mta, app: App) -> None:
    inbound = mta.deliver(verified(hostile("nul_bytes.eml", to=GROUP, **{"from": JANE})))
    assert mta.outcome(inbound) == Outcome("processed", "resource #1")
    with app.session() as session:
        [item] = session.scalars(select(Item)).all()
        assert item.title == "Null bytes everywhere"
        assert "\x00" not in item.body and "Does a NUL byte break the agenda?" in item.body
        row = session.get(InboundMessage, inbound)
        assert row is not None and b"NUL\x00 byte" in row.raw  # kept exactly as received


@pytest.mark.parametrize(
    ("name", "subject", "item"),
    [
        ("eight_bit_utf8_headers.eml", "Réunion: ordre du jour – élèves à besoins particuliers",
         ("question", "Qui présente le point sur les élèves à besoins particuliers ?")),
        ("eight_bit_latin1_headers.eml", "Réunion à l'école",
         ("agenda", "Café et gâteaux pour la réunion")),
    ],
    ids=["utf8", "latin1"],
)  # fmt: skip
def test_eight_bit_headers(
    mta: Mta, app: App, group: Group, name: str, subject: str, item: tuple[str, str]
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(hostile(name, to=to, **{"from": JANE}), to=to)
    assert mta.outcome(inbound).status == "processed"
    assert items_of(app, inbound) == [item]
    assert the_ack(app)["Subject"] == f"Re: {subject}"


def test_non_ascii_envelope_sender_with_smtputf8(mta: Mta) -> None:
    raw = "From: José Núñez <josé@escuela.example>\r\nSubject: Hola\r\n\r\nItem: Hola\r\n"
    inbound = mta.deliver(raw.encode(), mail_from="josé@escuela.example", options=("SMTPUTF8",))
    assert mta.outcome(inbound) == Outcome("held", "josé@escuela.example is not a member")


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("broken_base64_text.eml", "Base64 that is broken halfway"),
        ("broken_quoted_printable.eml",
         "Quoted-printable with =ZZ bad escapes and a dangling soft break at the “end”"),
        ("charset_unknown.eml", "Café budget for the spring term"),
        ("charset_lying_utf8.eml", "Café budget for the spring term"),
        ("charset_non_text_codec.eml", "Cafe budget for the spring term"),
        ("charset_lying_utf16.eml", "Cafe budget for the spring term"),
        ("charset_lying_utf16_even.eml", "Cafe budget for the summer terms"),
        ("missing_boundary.eml", "Multipart mail whose boundary parameter went missing"),
    ],
    ids=["base64", "qp", "unknown-charset", "lying-utf8", "non-text-codec", "lying-utf16",
         "lying-utf16-even", "no-boundary"],
)  # fmt: skip
def test_broken_encodings_are_read_as_far_as_possible(
    mta: Mta, app: App, group: Group, name: str, title: str
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(hostile(name, to=to, **{"from": JANE}), to=to)
    assert mta.outcome(inbound) == Outcome("processed", "agenda #1")
    assert items_of(app, inbound) == [("agenda", title)]


def test_broken_base64_attachment_is_kept_as_decoded(mta: Mta, app: App, group: Group) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(hostile("broken_base64_attachment.eml", to=to, **{"from": JANE}), to=to)
    assert mta.outcome(inbound) == Outcome("processed", "agenda #1; resource #2")
    with app.session() as session:
        [att] = session.scalars(select(Attachment)).all()
        assert (att.filename, att.content_type) == ("report.pdf", "application/pdf")
        assert att.size > 0
    [blob] = stored_files(app)
    assert blob.name == att.sha256


def test_binary_garbage(mta: Mta) -> None:
    noise = (
        bytes((n * 7919 + 13) % 256 for n in range(8000)).replace(b"\r", b"").replace(b"\n", b"")
    )
    raw = b"\r\n".join(noise[i : i + 76] for i in range(0, len(noise), 76))
    assert mta.outcome(mta.deliver(raw)) == Outcome("held", NOT_A_MEMBER)


def test_empty_message(mta: Mta) -> None:
    assert mta.outcome(mta.deliver(b"\r\n")) == Outcome("held", NOT_A_MEMBER)


def test_huge_header_and_ten_thousand_headers(mta: Mta, app: App) -> None:
    subject = "Subject: " + "\r\n ".join(["word " * 14] * 2500)
    junk = "".join(f"X-Junk-{n}: value {n}\r\n" for n in range(10_000))
    raw = f"From: Jane Smith <{JANE}>\r\n{subject}\r\n{junk}\r\nItem: Many headers\r\n"
    assert len(raw) < MAX_BYTES
    inbound = mta.deliver(verified(raw.encode()))
    assert mta.outcome(inbound) == Outcome("processed", "resource #1")
    with app.session() as session:
        row = session.get(InboundMessage, inbound)
        assert row is not None and len(row.subject) == 500
    assert len(the_ack(app)["Subject"]) == 200


# --------------------------------------------------------------------------- MIME structure


def nested_multipart(depth: int, *, top_text: bool) -> bytes:
    """multipart/mixed nested `depth` deep; text at the bottom (and at the top if asked)."""
    head = f"From: Jane Smith <{JANE}>\r\nMIME-Version: 1.0\r\n"  # no subject to fall back on
    lines = [head + 'Content-Type: multipart/mixed; boundary="b0"\r\n']
    for level in range(depth):
        lines.append(f"--b{level}")
        if level == 0 and top_text:
            lines += ["Content-Type: text/plain", "", "Item: Text at the top", f"--b{level}"]
        lines += [f'Content-Type: multipart/mixed; boundary="b{level + 1}"', ""]
    lines += [f"--b{depth}", "Content-Type: text/plain", "", "Item: Text at the bottom"]
    lines += [f"--b{level}--" for level in range(depth, -1, -1)]
    return "\r\n".join(lines).encode() + b"\r\n"


def nested_messages(depth: int) -> bytes:
    """A forward of a forward ... `depth` deep, with text only in the innermost message."""
    raw = b"Content-Type: text/plain\r\n\r\nItem: Text in the innermost message\r\n"
    for _ in range(depth):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + raw
    return f"From: Jane Smith <{JANE}>\r\nMIME-Version: 1.0\r\n".encode() + raw


@pytest.mark.parametrize(
    ("raw", "expected", "found"),
    [
        (nested_multipart(100, top_text=True), Outcome("processed", "agenda #1"),
         [("agenda", "Text at the top")]),
        (nested_multipart(100, top_text=False),
         Outcome("held", "nothing to record in this message"), []),
        (nested_messages(100), Outcome("held", "nothing to record in this message"), []),
    ],
    ids=["multipart-text-on-top", "multipart-text-at-bottom", "message-rfc822"],
)  # fmt: skip
def test_nested_100_deep(
    mta: Mta, app: App, group: Group, raw: bytes, expected: Outcome, found: list[tuple[str, str]]
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(raw, to=to)
    assert mta.outcome(inbound) == expected
    assert items_of(app, inbound) == found


def test_a_thousand_attachments_are_held(mta: Mta, app: App, group: Group) -> None:
    to = reply_to(app, group.jane, group.meeting)
    files = "".join(
        f'--m\r\nContent-Type: text/plain; name="f{n}.txt"\r\n'
        f'Content-Disposition: attachment; filename="f{n}.txt"\r\n\r\nfile {n}\r\n'
        for n in range(1000)
    )
    raw = (f"From: Jane Smith <{JANE}>\r\nSubject: Files\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
           f"Content-Type: text/plain\r\n\r\nItem: All our files\r\n{files}--m--\r\n")  # fmt: skip
    outcome = mta.outcome(mta.deliver(raw.encode(), to=to))
    assert outcome.status == "held"
    found = re.fullmatch(r"(\d+) attachments \(the limit is 20\)", outcome.reason)
    assert found and int(found.group(1)) > 20, outcome.reason
    assert items_of(app, mta.stored[0]) == [] and stored_files(app) == []
    assert acks(app) == []


# --------------------------------------------------------------------------- attachment names

NAMES = [
    ('filename="../../../../etc/passwd"', "passwd"),
    ('filename="/etc/cron.d/mailflow"', "mailflow"),
    ('filename="C:\\\\Windows\\\\System32\\\\evil.dll"', "evil.dll"),
    ('filename="..\\\\..\\\\boot.ini"', "boot.ini"),
    ('filename="=?utf-8?q?..=2F..=2F.ssh=2Fauthorized=5Fkeys?="', "authorized_keys"),
    ("filename*=utf-8''evil%00.txt%00.exe", "evil.txt.exe"),
    ('filename="CON.txt"', "_CON.txt"),
    ('filename="nul"', "_nul"),
    ('filename="LPT1.pdf"', "_LPT1.pdf"),
    ('filename=".."', "attachment.bin"),
    ('filename="' + "a" * 496 + '.pdf"', "a" * 196 + ".pdf"),
    ('filename="report\u202egpj.exe"', "reportgpj.exe"),
]


@pytest.mark.parametrize(("disposition", "expected"), NAMES, ids=[
    "dot-dot", "absolute", "windows-path", "windows-dot-dot", "encoded-word", "nul", "con",
    "nul-device", "lpt1", "only-dots", "500-chars", "rtl-override",
])  # fmt: skip
def test_attachment_names_are_stored_safely(
    mta: Mta, app: App, group: Group, disposition: str, expected: str
) -> None:
    data = f"the content of {expected}".encode()
    to = reply_to(app, group.jane, group.meeting)
    raw = hostile("attachment_name.eml", to=to, disposition=disposition,
                  payload=base64.b64encode(data).decode(), **{"from": JANE})  # fmt: skip
    before = set(app.settings.data_dir.parent.rglob("*"))
    assert mta.outcome(mta.deliver(raw, to=to)) == Outcome("processed", "agenda #1; resource #2")
    with app.session() as session:
        [att] = session.scalars(select(Attachment)).all()
        assert att.filename == expected
    created = set(app.settings.data_dir.parent.rglob("*")) - before
    blobs = {p for p in created if p.is_file() and not p.name.startswith("mailflow.db")}
    attachments = app.settings.data_dir / "attachments"
    assert blobs == {attachments / att.sha256[:2] / att.sha256}
    assert (attachments / att.sha256[:2] / att.sha256).read_bytes() == data
    assert f"attached: {expected} ({len(data)} bytes)" in part(the_ack(app), "plain")


def zip_bomb() -> bytes:
    """A 3-level zip: 16 x 16 x 16 MiB of zeros, about 4 GiB once fully unpacked."""
    level, name = bytes(16 << 20), "zeros.bin"
    for depth in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for n in range(1 if depth == 0 else 16):
                zf.writestr(f"{n}-{name}", level)
        level, name = buffer.getvalue(), f"level{depth}.zip"
    return level


def test_zip_bomb_is_stored_never_unpacked(mta: Mta, app: App, group: Group) -> None:
    bomb = zip_bomb()
    with zipfile.ZipFile(io.BytesIO(bomb)) as outer:
        assert sum(i.file_size for i in outer.infolist()) > len(bomb)
    to = reply_to(app, group.jane, group.meeting)
    raw = hostile("attachment_name.eml", to=to, disposition='filename="bomb.zip"',
                  payload=base64.encodebytes(bomb).decode(), **{"from": JANE})  # fmt: skip
    assert mta.outcome(mta.deliver(raw, to=to)) == Outcome("processed", "agenda #1; resource #2")
    [blob] = stored_files(app)
    assert blob.read_bytes() == bomb
    assert sum(p.stat().st_size for p in stored_files(app)) == len(bomb)


# --------------------------------------------------------------------------- header injection

ALLOWED_HEADERS = {
    "subject", "from", "to", "date", "message-id", "reply-to", "list-id", "list-unsubscribe",
    "auto-submitted",
    "in-reply-to", "references", "mime-version", "content-type",
}  # fmt: skip


def header_names(raw: bytes) -> list[str]:
    """The names of the top-level header fields of a message as it goes out."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "\r" not in head.replace("\r\n", "") and "\n" not in head.replace("\r\n", "")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"]


@pytest.mark.parametrize(
    "name",
    ["subject_crlf_q.eml", "subject_crlf_b.eml", "subject_crlf_double_encoded.eml",
     "message_id_crlf.eml"],
    ids=["q", "b", "double-encoded", "message-id"],
)  # fmt: skip
def test_encoded_crlf_never_injects_a_header_into_the_ack(
    mta: Mta, app: App, group: Group, name: str
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(hostile(name, to=to, **{"from": JANE}), to=to)
    assert mta.outcome(inbound) == Outcome("processed", "agenda #1")
    with app.session() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
        raw = row.raw
    names = header_names(raw)
    assert set(names) <= ALLOWED_HEADERS and len(names) == len(set(names)), names
    ack = the_ack(app)
    for header in ("Subject", "In-Reply-To", "References"):
        assert "\r" not in str(ack[header] or "") and "\n" not in str(ack[header] or "")
    assert ack["Bcc"] is None and ack["X-Injected"] is None
    assert ack.get_content_type() == "multipart/alternative"
    assert "victim@evil.example" not in part(ack, "plain").split("To withdraw")[1]


# --------------------------------------------------------------------------- SMTP smuggling


class Wire:
    """A raw SMTP client: send bytes as given, read whole replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.reply()[0] == 220

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self.file.readline().decode()
            assert line, "connection closed"
            lines.append(line[4:].strip())
            if line[3:4] != "-":
                return int(line[:3]), "\n".join(lines)

    def command(self, data: bytes) -> tuple[int, str]:
        self.sock.sendall(data)
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.mark.parametrize(
    "ending",
    [b"\n.\r\n", b"\r.\n", b"\n.\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r"],
    ids=["LF.CRLF", "CR.LF", "LF.LF", "CR.CRLF", "CRLF.LF", "CRLF.CR"],
)
def test_smtp_smuggling_never_makes_a_second_message(mta: Mta, app: App, ending: bytes) -> None:
    wire = Wire(mta.server.port)
    try:
        assert wire.command(b"EHLO client.example\r\n")[0] == 250
        assert wire.command(f"MAIL FROM:<{JANE}>\r\n".encode())[0] == 250
        assert wire.command(f"RCPT TO:<{GROUP}>\r\n".encode())[0] == 250
        assert wire.command(b"DATA\r\n")[0] == 354
        smuggled = verified(
            f"From: Jane Smith <{JANE}>\r\nSubject: Ordinary\r\n\r\nItem: The real one"
            f"{ending.decode()}MAIL FROM:<{SAM}>\r\nRCPT TO:<{GROUP}>\r\nDATA\r\n"
            f"From: Sam Patel <{SAM}>\r\nSubject: Smuggled\r\n\r\nItem: Smuggled\r\n".encode()
        )
        mta.answered(*wire.command(smuggled + b".\r\n"))
        assert wire.command(b"NOOP\r\n") == (250, "OK")  # no replies left over
        assert wire.command(b"QUIT\r\n")[0] == 221
    finally:
        wire.close()
    [inbound] = mta.stored
    assert mta.outcome(inbound).status == "processed"
    with app.session() as session:
        [row] = session.scalars(select(InboundMessage)).all()
        assert row.mail_from == JANE and b"Subject: Smuggled" in row.raw


# --------------------------------------------------------------------------- HTML


class Tags(HTMLParser):
    """Every tag and attribute of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k.lower(), (v or "").lower()) for k, v in attrs]


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("html_script.eml", "Safeguarding training dates"),
        ("html_event_handlers.eml", "Behaviour policy review"),
        ("html_javascript_link.eml", "Shared drive for the trust"),
        ("html_remote_image.eml", "Reading scheme costs"),
        ("html_escaped_markup.eml", "<script>alert(1)</script> <img src=x onerror=alert(2)>"),
    ],
    ids=["script", "event-handlers", "javascript-links", "remote-images", "escaped-markup"],
)
def test_hostile_html_never_reaches_what_we_send(
    mta: Mta, app: App, group: Group, name: str, title: str
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    inbound = mta.deliver(hostile(name, to=to, **{"from": JANE}), to=to)
    assert mta.outcome(inbound) == Outcome("processed", "agenda #1")
    [(kind, found)] = items_of(app, inbound)
    assert (kind, found) == ("agenda", title)
    html = part(the_ack(app), "html")
    tags = Tags()
    tags.feed(html)
    assert set(tags.tags) <= {"html", "body", "p", "ul", "li", "strong", "br", "span", "code"}
    for attr, value in tags.attrs:
        assert not attr.startswith("on"), (attr, value)
        assert attr == "style" and "url(" not in value, (attr, value)
    assert "evil.example" not in html and "alert(document" not in html


# --------------------------------------------------------------------------- identity


def test_unsigned_reply_address_is_refused_at_rcpt(mta: Mta, app: App, group: Group) -> None:
    good = reply_to(app, group.jane, group.meeting)
    local, domain = good.split("@")
    forged = [
        "dht+c1-1-aaaaaaaaaaaaaaaa@example.org",  # looks like ours, never signed
        f"{local[:-1]}{'b' if local[-1] != 'b' else 'c'}@{domain}",  # one character off
        good.replace(f"-{group.jane}-", f"-{group.sam}-"),  # Sam's ids under Jane's tag
    ]
    for address in forged:
        code, reply = mta.send(hostile("forged_from.eml", to=address, header_from=JANE), to=address)
        assert (code, reply) == (550, "5.1.1 No such recipient here")
    assert mta.stored == []


@pytest.mark.parametrize(
    ("header_from", "expected"),
    [
        (GROUP, f"{GROUP} is not a member"),
        ("dht+c1-1-aaaaaaaaaaaaaaaa@example.org",
         "dht+c1-1-aaaaaaaaaaaaaaaa@example.org is not a member"),
    ],
    ids=["group-address", "reply-address"],
)  # fmt: skip
def test_forged_from_our_own_addresses_is_held(mta: Mta, header_from: str, expected: str) -> None:
    raw = hostile("forged_from.eml", to=GROUP, header_from=header_from)
    assert mta.outcome(mta.deliver(raw, mail_from="x@spoofer.example")) == Outcome("held", expected)


def test_reply_address_used_by_someone_else_is_held(mta: Mta, app: App, group: Group) -> None:
    to = reply_to(app, group.jane, group.meeting)
    raw = hostile("forged_from.eml", to=to, header_from=SAM)
    outcome = mta.outcome(mta.deliver(raw, to=to, mail_from=SAM))
    assert outcome == Outcome("held", f"reply address issued to {JANE} but the mail is from {SAM}")


def test_replayed_token_of_a_removed_member_is_held(mta: Mta, app: App, group: Group) -> None:
    to = reply_to(app, group.tom, group.meeting)
    with app.session() as session:
        members.remove_member(session, TOM)
    raw = plain("Re: Call for items", "Q: Am I still on the list?", sender=TOM, to=to)
    outcome = mta.outcome(mta.deliver(raw, to=to, mail_from=TOM))
    assert outcome == Outcome("held", f"reply address of {TOM}, who is no longer a member")
    assert items_of(app, mta.stored[0]) == [] and acks(app) == []


@pytest.mark.parametrize(
    ("authserv", "dmarc", "bare", "expected"),
    [
        (AUTHSERV, "fail", True, Outcome("held", "DMARC check failed for the sender's domain")),
        ("MX.Example.ORG", "fail", True,
         Outcome("held", "DMARC check failed for the sender's domain")),
        ("mx.spoofer.example", "fail", True,
         Outcome("held", f"no dkim, spf or dmarc pass from {AUTHSERV} for hamble.hants.sch.uk")),
        (AUTHSERV, "pass", True, Outcome("processed", "resource #1")),
        (AUTHSERV, "fail", False, Outcome("processed", "agenda #1")),
    ],
    ids=["trusted-fail", "trusted-fail-any-case", "untrusted-fail", "trusted-pass",
         "reply-address"],
)  # fmt: skip
def test_dmarc_failure_on_the_group_address_is_held(
    mta: Mta, app: App, group: Group, authserv: str, dmarc: str, bare: bool, expected: Outcome
) -> None:
    to = GROUP if bare else reply_to(app, group.jane, group.meeting)
    raw = hostile("dmarc.eml", to=to, authserv=authserv, dmarc=dmarc, **{"from": JANE})
    assert mta.outcome(mta.deliver(raw, to=to)) == expected


# --------------------------------------------------------------------------- calendars


def calendar_reply(uid: str, body: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261113T090000Z\r\nSEQUENCE:0\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{JANE}\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def calendar_mail(to: str, ics: str) -> bytes:
    return (
        f"From: Jane Smith <{JANE}>\r\nTo: {to}\r\nSubject: Accepted: Autumn meeting\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(ics.encode()).decode().replace("\n", "\r\n")
    ).encode()


CALENDARS: list[tuple[Callable[[str, str], bytes], str]] = [
    (lambda to, uid: hostile("calendar_malformed.eml", to=to, uid=uid, **{"from": JANE}),
     r"calendar part we cannot read: malformed calendar: .+"),
    (lambda to, uid: hostile("calendar_not_icalendar.eml", to=to, **{"from": JANE}),
     r"calendar part we cannot read: not an iCalendar object \(no BEGIN:VCALENDAR\)"),
    (lambda to, uid: calendar_mail(to, calendar_reply(uid, "DESCRIPTION:" + "x" * 1_200_000
                                                      + "\r\n")),
     r"calendar part we cannot read: calendar too large \(\d+ characters; limit 1000000\)"),
    (lambda to, uid: calendar_mail(to, calendar_reply(uid, "BEGIN:VALARM\r\nEND:VALARM\r\n"
                                                      * 20_000)),
     r"calendar part we cannot read: calendar has too many components \(20002; limit 50\)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "reason"), CALENDARS, ids=["malformed", "not-icalendar", "huge", "many-components"]
)
def test_bad_calendar_replies_are_held_with_a_reason(
    mta: Mta, app: App, group: Group, build: Callable[[str, str], bytes], reason: str
) -> None:
    to = reply_to(app, group.jane, group.meeting, purpose="i")
    raw = build(to, group.uid)
    assert len(raw) < MAX_BYTES
    outcome = mta.outcome(mta.deliver(raw, to=to))
    assert outcome.status == "held" and re.fullmatch(reason, outcome.reason), outcome.reason
    assert acks(app) == []


# --------------------------------------------------------------------------- floods


def test_fifty_replies_in_a_minute_are_rate_limited_never_lost(
    mta: Mta, app: App, group: Group
) -> None:
    to = reply_to(app, group.jane, group.meeting)
    with smtplib.SMTP("127.0.0.1", mta.server.port) as smtp:
        for n in range(50):
            raw = plain(f"Re: Call for items ({n})", f"Item: Topic {n}", to=to, n=n)
            assert mta.transaction(smtp, raw, to=to)[0] == 250
    outcomes = [mta.outcome(inbound) for inbound in mta.stored]
    limited = Outcome("held", f"more than {RATE_LIMIT} messages in a minute from {JANE}")
    assert [o.status for o in outcomes[:RATE_LIMIT]] == ["processed"] * RATE_LIMIT
    assert outcomes[RATE_LIMIT:] == [limited] * (50 - RATE_LIMIT)
    assert len(acks(app)) == RATE_LIMIT


@pytest.mark.parametrize("sender", [b"ja\x00ne@hamble.example", b"ja\x1bne@hamble.example"])
def test_control_characters_in_the_envelope_sender_are_refused(mta: Mta, sender: bytes) -> None:
    wire = Wire(mta.server.port)
    try:
        assert wire.command(b"EHLO client.example\r\n")[0] == 250
        code, reply = wire.command(b"MAIL FROM:<" + sender + b">\r\n")
        assert (code, reply) == (501, "5.1.7 Bad sender address syntax")
        assert wire.command(f"MAIL FROM:<{JANE}>\r\n".encode())[0] == 250  # the session goes on
        assert wire.command(b"QUIT\r\n")[0] == 221
    finally:
        wire.close()
