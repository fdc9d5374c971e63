"""Hostile member data never reaches a header: refused at the edge, cleaned or skipped later.

A name holding CR LF, raw or inside an RFC 2047 encoded word, is refused by `members
add` and `members import`. A bad row already in the database (imported before the check
existed) gets a clean one-line header, or, when even the address is unusable, is skipped
with a reason while everyone else still gets their mail, and `tick` still delivers.
"""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import compose, notices, outbox, sendminutes, tick
from mailflow.app import App
from mailflow.models import Member, OutboxMessage
from tests.conftest import Cli

INJECTION = b"\r\nBcc: victim@x.example\r\nX-Injected: 1\r\n\r\n"
ENCODED_CRLF = f"Eve =?utf-8?b?{base64.b64encode(INJECTION).decode()}?="
RAW_CRLF = "Eve\r\nBcc: victim@x.example\r\nX-Injected: 1"
BAD_ADDRESS = "mallory@example.org\r\nBcc: victim@x.example"
GOOD = [("jane.smith@hamble.sch.uk", "Jane Smith"), ("sam.patel@westend.sch.uk", "Sam Patel")]


def sent(app: App) -> list[EmailMessage]:
    files = sorted(app.settings.maildir.glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def assert_clean(msg: EmailMessage) -> None:
    """No injected header, and our own headers are headers, not body text."""
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    for name in ("Date", "Message-ID", "List-Id", "Reply-To", "To", "From", "Subject"):
        assert msg[name] is not None, name
        assert "\n" not in str(msg[name]) and "\r" not in str(msg[name])
    body = msg.get_body(("plain",))
    assert body is not None
    for name in ("Date:", "Message-ID:", "List-Id:", "Reply-To:"):
        assert name not in body.get_content()


@pytest.mark.parametrize("name", [ENCODED_CRLF, RAW_CRLF, "Eve\x00Bcc", "Eve\x1b[2J"])
def test_members_add_refuses_a_name_with_a_line_break(cli: Cli, name: str) -> None:
    result = cli("members", "add", "eve@example.org", "--name", name)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("mailflow: eve@example.org: name ")
    assert "eve@example.org" not in cli("members", "list", "--json").stdout


def test_members_add_refuses_an_organisation_or_address_with_a_line_break(cli: Cli) -> None:
    org = cli("members", "add", "eve@example.org", "--name", "Eve", "--org", ENCODED_CRLF)
    assert org.exit_code == 1 and "organisation" in org.stderr
    encoded = base64.b64encode(INJECTION).decode()
    address = cli("members", "add", f"=?utf-8?b?{encoded}?=@example.org", "--name", "Eve")
    assert address.exit_code == 1 and "not a valid email address" in address.stderr
    assert len(address.stderr.strip().splitlines()) == 1


def test_members_import_names_every_bad_row_and_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "members.csv"
    csv.write_bytes(
        b"email,name,organisation,role\r\n"
        b"jane.smith@hamble.sch.uk,Jane Smith,Hamble Primary,member\r\n"
        + f"eve@example.org,{ENCODED_CRLF},Nowhere,member\r\n".encode()
        + f'mallory@example.org,"{RAW_CRLF}",Nowhere,member\r\n'.encode()
        + b"sam.patel@westend.sch.uk,Sam Patel,West End Primary,member\r\n"
        b"oscar@example.org,Oscar,=?utf-8?b?DQpYOiAx?=,member\r\n"
    )
    result = cli("members", "import", str(csv), "--quiet")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    # Each row is named by the line it starts on (Mallory's quoted name spans three).
    assert "row 3: name encodes a line break" in result.stderr
    assert "row 4: name contains a line break" in result.stderr
    assert "row 8: organisation encodes a line break" in result.stderr
    assert "nothing imported" in result.stderr
    assert cli("members", "list", "--json").stdout.strip() == "[]"


def add_members(app: App, cli: Cli) -> None:
    """Two good members through the CLI; three bad rows straight into the database."""
    for address, name in GOOD:
        assert cli("members", "add", address, "--name", name, "--quiet").exit_code == 0
    with app.session() as session:
        bad = [("eve@example.org", ENCODED_CRLF), ("trudy@example.org", RAW_CRLF),
               (BAD_ADDRESS, "Mallory")]  # fmt: skip
        for address, name in bad:
            session.add(Member(email=address, name=name, created_at=app.now()))


def test_call_for_items_cleans_or_skips_bad_rows_and_reaches_everyone_else(
    app: App, cli: Cli
) -> None:
    add_members(app, cli)
    assert cli("meetings", "add", "--title", "Autumn meeting", "--force", "--start",
               "2026-11-19 16:00").exit_code == 0  # fmt: skip
    result = cli("call-for-items", "1", "--force")
    assert result.exit_code == 0, result.stderr
    assert f"skipped 1: {BAD_ADDRESS.lower()!r}: cannot build the message" in result.stdout
    messages = sent(app)
    for msg in messages:
        assert_clean(msg)
    to = sorted(msg["To"].addresses[0].addr_spec for msg in messages)
    assert to == sorted(["eve@example.org", "trudy@example.org", *(a for a, _ in GOOD)])
    names = {msg["To"].addresses[0].username: msg["To"].addresses[0].display_name
             for msg in messages}  # fmt: skip
    assert names["trudy"] == "Eve Bcc: victim@x.example X-Injected: 1"
    assert names["eve"].startswith("Eve = ?utf-8?b?")  # shown as text, never decoded


def test_tick_skips_a_bad_address_and_still_delivers(app: App, cli: Cli) -> None:
    add_members(app, cli)
    app.clock = lambda: datetime(2026, 10, 30, 9, 0, tzinfo=UTC)  # the call is due
    with app.session() as session:  # an acknowledgement waiting in the outbox
        ack = compose.build_message(app.settings, to="jane.smith@hamble.sch.uk",
                                    subject="Re: items", text="Thanks\n",
                                    html="<p>Thanks</p>", now=app.now())  # fmt: skip
        outbox.enqueue(session, ack, now=app.now())
    done = tick.run(app)
    assert any("call for items queued for 4 member(s)" in line for line in done), done
    skipped = [line for line in done if "skipped 1:" in line]
    assert len(skipped) == 1 and "mallory@example.org" in skipped[0], done
    assert "delivered: 5 sent, 0 deferred, 0 failed" in done
    with app.session() as session:
        statuses = set(session.scalars(select(OutboxMessage.status)))
    assert statuses == {"sent"}
    for msg in sent(app):
        assert msg["Bcc"] is None and msg["X-Injected"] is None


def test_headers_from_hostile_text_stay_one_line(app: App) -> None:
    eve = Address(display_name=ENCODED_CRLF, username="eve", domain="ex.org")
    msg = compose.build_message(
        app.settings, to=eve, reply_to=eve, subject=f"Re: {ENCODED_CRLF}\r\nX-Injected: 1",
        text="Hi\n", html="<p>Hi</p>", now=app.now(),
        attachments=[compose.Part(b"x", "text/plain", f"{ENCODED_CRLF}.txt")],
    )  # fmt: skip
    back = email.message_from_bytes(compose.to_bytes(msg), policy=policy.default)
    assert_clean(back)
    assert all(part["Bcc"] is None and part["X-Injected"] is None for part in back.walk())
    with pytest.raises(ValueError):
        compose.build_message(app.settings, to=BAD_ADDRESS, subject="Hi", text="",
                              html="", now=app.now())  # fmt: skip


def test_send_minutes_skips_a_bad_address_and_reports_it(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    add_members(app, cli)
    assert cli("meetings", "add", "--title", "Autumn meeting", "--force", "--start",
               "2026-11-19 16:00").exit_code == 0  # fmt: skip
    minutes = tmp_path / "minutes.md"
    minutes.write_text("## Attendance\n\n- ACTION Jane Smith: send the list\n", encoding="utf-8")
    dry = sendminutes.send_minutes(app, "1", minutes, [], dry=True)
    assert [s.recipient for s in dry.skipped] == [BAD_ADDRESS.lower()]
    report = sendminutes.send_minutes(app, "1", minutes, [])
    assert (report.queued, [s.recipient for s in report.skipped]) == (4, [BAD_ADDRESS.lower()])
    assert "skipped 1: 'mallory@example.org" in outbox.describe_skips(report.skipped)
    messages = sent(app)
    assert len(messages) == 4
    for msg in messages:
        assert_clean(msg)


def test_a_notice_to_a_bad_address_is_left_out_not_raised(
    app: App, cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    add_members(app, cli)
    with app.session() as session:
        members = {m.email: m for m in session.scalars(select(Member))}
        for address in (BAD_ADDRESS, "trudy@example.org"):
            notices.queue_mail(session, app.settings, to=members[address],
                               template="member/reply", context={"lines": ["Noted."]},
                               subject="Re: your reply", now=app.now())  # fmt: skip
        rows = session.scalars(select(OutboxMessage)).all()
    assert [r.recipient for r in rows] == ["trudy@example.org"]
    assert "member/reply not queued: skipped 'mallory@example.org" in caplog.text
