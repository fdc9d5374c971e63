"""`mailflow send-minutes` end to end: copies, attachments, re-runs, dry runs, crashes."""

from __future__ import annotations

import email
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.app import App
from mailflow.models import Attachment, Item, OutboxMessage
from tests.conftest import Cli, ConfigFactory, SmtpSink, ok

MINUTES = """## Attendance codes

Most schools follow the LA guidance. <script>alert('x')</script>

- ACTION Jane Smith: circulate the crib sheet by 2026-12-10
- ACTION Tom Hughes: ask the LA about the MIS update
"""
PEOPLE = [("jane@hamble.sch.uk", "Jane Smith"), ("tom@stjames.sch.uk", "Tom Hughes"),
          ("sam@westend.sch.uk", "Sam Patel")]  # fmt: skip


@pytest.fixture
def smtp_config(configs: ConfigFactory, smtp_sink: SmtpSink) -> Path:
    return configs.write(transport="smtp", smtp_port=smtp_sink.port)


def setup_group(cli: Cli, config: Path, tmp_path: Path) -> tuple[Path, Path]:
    for address, name in PEOPLE:
        ok(cli("members", "add", address, "--name", name, "--quiet", config=config))
    ok(cli("meetings", "add", "--title", "Autumn meeting", "--start", "2026-11-19 16:00",
           "--force", config=config))  # fmt: skip
    ok(cli("meetings", "add", "--title", "Spring meeting", "--start", "2027-03-11 16:00",
           config=config))  # fmt: skip
    minutes = tmp_path / "minutes.md"
    minutes.write_text(MINUTES, encoding="utf-8")
    slides = tmp_path / "slides.pdf"
    slides.write_bytes(b"%PDF-1.4\n" + os.urandom(50_000))
    return minutes, slides


def add_resource_and_answers(config: Path) -> bytes:
    app = App.open(config)
    data = b"shared policy " * 100
    sha = hashlib.sha256(data).hexdigest()
    from mailflow.ingest import store_blob

    store_blob(app.settings.data_dir, data, sha)
    with app.session() as session:
        session.add(Item(meeting_id=1, member_id=3, kind="question", title="SEND timeline?",
                         status="written-answer", answer="We review in March.",
                         created_at=app.now()))  # fmt: skip
        resource = Item(meeting_id=1, member_id=1, kind="resource", title="Marking policy",
                        created_at=app.now())  # fmt: skip
        resource.attachments.append(Attachment(filename="policy.txt", content_type="text/plain",
                                               size=len(data), sha256=sha))  # fmt: skip
        session.add(resource)
    app.close()
    return data


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_every_member_gets_the_minutes_once(
    cli: Cli, smtp_config: Path, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    minutes, slides = setup_group(cli, smtp_config, tmp_path)
    policy_bytes = add_resource_and_answers(smtp_config)
    args = ("send-minutes", "1", "--minutes", str(minutes), "--attach", str(slides))
    result = ok(cli(*args, config=smtp_config))
    assert "3 queued now for 3 member(s); delivered 3, retrying 0, failed 0" in result.stdout
    assert "outbox: sent 3, deferred 0, failed 0" in result.stdout
    assert sorted(e.rcpt_tos[0] for e in smtp_sink.received) == sorted(a for a, _ in PEOPLE)
    for envelope in smtp_sink.received:
        msg = parse(envelope.data)
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text is not None and html is not None
        assert "Most schools follow the LA guidance." in text.get_content()
        assert "Most schools follow the LA guidance." in html.get_content()
        assert "<script" not in html.get_content()
        assert "We review in March." in text.get_content()
        assert "Spring meeting" in text.get_content()
        files = {a.get_filename(): a.get_payload(decode=True) for a in msg.iter_attachments()}
        assert files == {"slides.pdf": slides.read_bytes(), "policy.txt": policy_bytes}
        assert msg["Reply-To"].addresses[0].addr_spec.startswith("dht+m")
    jane = next(parse(e.data) for e in smtp_sink.received if e.rcpt_tos == ["jane@hamble.sch.uk"])
    body = jane.get_body(("plain",))
    assert body is not None
    assert body.get_content().index("YOUR ACTIONS") < body.get_content().index("MINUTES")
    assert "circulate the crib sheet" in body.get_content().split("ATTENDANCE")[0]
    again = ok(cli(*args, config=smtp_config))
    assert "already sent to every member" in again.stdout
    assert len(smtp_sink.received) == 3


def test_shared_attachment_is_stored_once(cli: Cli, config_file: Path, tmp_path: Path) -> None:
    minutes, slides = setup_group(cli, config_file, tmp_path)
    ok(cli("send-minutes", "1", "--minutes", str(minutes), "--attach", str(slides)))
    app = App.open(config_file)
    with app.session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        assert all(len(r.raw) < 20_000 for r in rows)  # the 50 kB file is not in each row
    app.close()
    for eml in app.settings.maildir.glob("*.eml"):
        [att] = list(parse(eml.read_bytes()).iter_attachments())
        assert att.get_content() == slides.read_bytes()


def test_changed_minutes_need_resend(cli: Cli, config_file: Path, tmp_path: Path) -> None:
    minutes, _ = setup_group(cli, config_file, tmp_path)
    ok(cli("send-minutes", "1", "--minutes", str(minutes)))
    minutes.write_text(MINUTES + "\nA late addition.\n", encoding="utf-8")
    changed = cli("send-minutes", "1", "--minutes", str(minutes))
    assert changed.exit_code == 1 and "use --resend" in changed.stderr
    resent = ok(cli("send-minutes", "1", "--minutes", str(minutes), "--resend"))
    assert "3 queued now" in resent.stdout


def test_dry_run_sends_nothing(cli: Cli, config_file: Path, tmp_path: Path) -> None:
    minutes, slides = setup_group(cli, config_file, tmp_path)
    result = ok(cli("send-minutes", "1", "--minutes", str(minutes), "--attach", str(slides),
                    "--dry-run"))  # fmt: skip
    assert "nothing sent; 3 message(s) written" in result.stdout
    assert json.loads(ok(cli("outbox", "list", "--json")).stdout) == []
    folder = tmp_path / "data" / "dry-run"
    written = sorted(folder.rglob("*.eml"))
    assert [p.name for p in written] == sorted(f"{a}.eml" for a, _ in PEOPLE)
    [att] = list(parse(written[0].read_bytes()).iter_attachments())
    assert att.get_content() == slides.read_bytes()


def test_oversize_attachment_is_refused_before_sending(
    cli: Cli, configs: ConfigFactory, tmp_path: Path
) -> None:
    config = configs.write(extra="")
    limited = 'data_dir = "data"\nmax_attachment_bytes = 1000'
    config.write_text(config.read_text().replace('data_dir = "data"', limited))
    minutes, slides = setup_group(cli, config, tmp_path)
    result = cli("send-minutes", "1", "--minutes", str(minutes), "--attach", str(slides),
                 config=config)  # fmt: skip
    assert result.exit_code == 1
    assert "slides.pdf is 50009 bytes, over the 1000-byte attachment limit" in result.stderr
    assert json.loads(ok(cli("outbox", "list", "--json", config=config)).stdout) == []
    missing = cli("send-minutes", "1", "--minutes", str(tmp_path / "nope.md"), config=config)
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_kill_mid_fan_out_then_rerun_sends_each_copy_once(
    cli: Cli, smtp_config: Path, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    minutes, _ = setup_group(cli, smtp_config, tmp_path)
    app = App.open(smtp_config)
    from mailflow import members

    with app.session() as session:
        for n in range(600):
            members.add_member(session, email=f"m{n}@school{n % 7}.org", name=f"Member {n}",
                               now=app.now())  # fmt: skip
    total = 603
    command = [str(Path(sys.executable).parent / "mailflow"), "--config", str(smtp_config),
               "send-minutes", "1", "--minutes", str(minutes)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    queued = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with app.session() as session:
            queued = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        if queued:  # the first batch is committed: the fan-out is under way
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    killed_mid_way = 0 < queued < total and not smtp_sink.received
    ok(cli("send-minutes", "1", "--minutes", str(minutes), config=smtp_config))
    counts: dict[str, int] = {}
    for envelope in smtp_sink.received:
        counts[envelope.rcpt_tos[0]] = counts.get(envelope.rcpt_tos[0], 0) + 1
    assert len(counts) == total and set(counts.values()) == {1}
    assert killed_mid_way, f"the first run was not caught mid-way ({queued} of {total} queued)"
    app.close()
