"""The outbox: maildir files, SMTP delivery to a real server, retries, idempotent fan-out."""

from __future__ import annotations

import email
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from mailflow import compose, outbox
from mailflow.app import App
from mailflow.models import MailingRecipient, OutboxMessage
from mailflow.server import InboundServer
from tests.conftest import (
    MAILFLOW,
    Cli,
    ConfigFactory,
    SinkHandler,
    SmtpSink,
    free_port,
    queue_small_mails,
)


def message(app: App, to: str, subject: str = "Hello") -> EmailMessage:
    return compose.build_message(
        app.settings, to=to, subject=subject, text="Hello there\n", html="<p>Hello there</p>",
        now=app.now(), reply_to="dht+c1-1-aaaaaaaaaaaaaaaa@example.org",
    )  # fmt: skip


def smtp_app(configs: ConfigFactory, sink: SmtpSink) -> App:
    return App.open(configs.write(transport="smtp", smtp_port=sink.port))


def test_maildir_message_parses_back_with_the_same_headers(app: App) -> None:
    msg = message(app, "jane@hamble.sch.uk", subject="Call for items: Café ☕")
    with app.session() as session:
        outbox.enqueue(session, msg, now=app.now())
    with app.session() as session:
        report = outbox.deliver(session, app.settings, now=app.now())
    assert report.sent == 1
    files = sorted(app.settings.maildir.glob("*.eml"))
    assert len(files) == 1
    back = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    for header in ("Subject", "From", "To", "Message-ID", "Date", "Reply-To", "List-Id",
                   "Auto-Submitted"):  # fmt: skip
        assert str(back[header]) == str(msg[header]), header
    assert back["Subject"] == "Call for items: Café ☕"
    assert back.get_content_type() == "multipart/alternative"
    assert not list((app.settings.maildir / ".tmp").iterdir())


def test_smtp_delivery_reuses_a_connection(configs: ConfigFactory, smtp_sink: SmtpSink) -> None:
    app = smtp_app(configs, smtp_sink)
    with app.session() as session:
        for n in range(5):
            outbox.enqueue(session, message(app, f"m{n}@school.org"), now=app.now())
    with app.session() as session:
        report = outbox.deliver(session, app.settings, now=app.now())
    assert report.sent == 5
    assert sorted(e.rcpt_tos[0] for e in smtp_sink.received) == [
        f"m{n}@school.org" for n in range(5)
    ]
    assert all(e.mail_from == "dht@example.org" for e in smtp_sink.received)


def test_451_is_retried_with_backoff(configs: ConfigFactory, smtp_sink: SmtpSink) -> None:
    app = smtp_app(configs, smtp_sink)
    smtp_sink.handler.replies = ["451 4.3.0 try again later"]
    now = app.now()
    with app.session() as session:
        outbox.enqueue(session, message(app, "jane@school.org"), now=now)
    with app.session() as session:
        first = outbox.deliver(session, app.settings, now=now)
        row = session.scalars(select(OutboxMessage)).one()
        assert (first.deferred, row.status, row.attempts) == (1, "queued", 1)
        assert row.last_error.startswith("451")
        assert row.next_attempt_at == now + timedelta(seconds=60)
        assert outbox.deliver(session, app.settings, now=now + timedelta(seconds=30)).sent == 0
        second = outbox.deliver(session, app.settings, now=now + timedelta(seconds=61))
        session.refresh(row)
        assert (second.sent, row.status, row.attempts) == (1, "sent", 2)
    assert len(smtp_sink.received) == 1


def test_550_fails_with_the_servers_reply(configs: ConfigFactory, smtp_sink: SmtpSink) -> None:
    app = smtp_app(configs, smtp_sink)
    smtp_sink.handler.by_recipient = {"gone@school.org": ["550 5.1.1 no such user"]}
    with app.session() as session:
        outbox.enqueue(session, message(app, "gone@school.org"), now=app.now())
        outbox.enqueue(session, message(app, "here@school.org"), now=app.now())
    with app.session() as session:
        report = outbox.deliver(session, app.settings, now=app.now())
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert (report.sent, report.failed) == (1, 1)
    assert rows[0].status == "failed" and rows[0].last_error == "550 5.1.1 no such user"
    assert rows[1].status == "sent"
    with app.session() as session:
        assert outbox.retry_failed(session, now=app.now()) == 1
        assert outbox.deliver(session, app.settings, now=app.now()).sent == 1


def test_connection_refused_is_temporary(configs: ConfigFactory) -> None:
    from tests.conftest import free_port

    app = App.open(configs.write(transport="smtp", smtp_port=free_port()))
    with app.session() as session:
        outbox.enqueue(session, message(app, "jane@school.org"), now=app.now())
        report = outbox.deliver(session, app.settings, now=app.now())
        row = session.scalars(select(OutboxMessage)).one()
    assert report.deferred == 1 and row.status == "queued"
    assert row.last_error.startswith("connection:")


def test_fan_out_is_idempotent_and_resumable(app: App) -> None:
    recipients = [f"m{n}@school.org" for n in range(7)]
    built: list[str] = []

    def build(to: str) -> EmailMessage:
        built.append(to)
        if len(built) == 4 and not getattr(build, "crashed", False):
            build.crashed = True  # type: ignore[attr-defined]
            raise RuntimeError("crash in the middle of the fan-out")
        return message(app, to)

    with app.session() as session:
        mailing = outbox.get_mailing(session, key="test:1", kind="test", now=app.now())
        try:
            outbox.fan_out(session, mailing, recipients, build, now=app.now())
        except RuntimeError:
            session.rollback()
    with app.session() as session:
        mailing = outbox.get_mailing(session, key="test:1", kind="test", now=app.now())
        outbox.fan_out(session, mailing, recipients, build, now=app.now())
        outbox.fan_out(session, mailing, recipients, build, now=app.now())
        count = session.scalar(select(func.count()).select_from(OutboxMessage))
        pairs = session.scalar(select(func.count()).select_from(MailingRecipient))
    assert count == 7 and pairs == 7


def test_two_workers_never_claim_the_same_row(app: App) -> None:
    with app.session() as session:
        for n in range(10):
            outbox.enqueue(session, message(app, f"m{n}@school.org"), now=app.now())
    with app.session() as first, app.session() as second:
        a = outbox._claim_ids(first, now=app.now(), limit=6)
        b = outbox._claim_ids(second, now=app.now(), limit=10)
    assert len(a) == 6 and len(b) == 4
    assert not set(a) & set(b)


def test_outbox_cli_lists_and_flushes(app: App, config_file: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    with app.session() as session:
        outbox.enqueue(session, message(app, "jane@school.org"), now=app.now())
    listed = json.loads(cli("outbox", "list", "--json").stdout)
    assert [(r["to"], r["status"], r["attempts"]) for r in listed] == [
        ("jane@school.org", "queued", 0)
    ]
    assert "sent 1" in cli("outbox", "flush").stdout
    assert json.loads(cli("outbox", "list", "--json").stdout)[0]["status"] == "sent"


RETRY_MAILS = 300


def assert_each_sent_once(app: App, sink: SmtpSink) -> None:
    """Every queued mail reached the relay exactly once and is marked sent."""
    ids = Counter(
        email.message_from_bytes(e.data, policy=policy.default)["Message-ID"] for e in sink.received
    )
    assert len(ids) == RETRY_MAILS
    assert [i for i, n in ids.items() if n > 1] == []
    with app.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}


def test_retry_during_a_flush_sends_each_mail_exactly_once(
    configs: ConfigFactory, smtp_sink: SmtpSink, cli: Cli
) -> None:
    config = configs.write(transport="smtp", smtp_port=smtp_sink.port)
    app = App.open(config)
    queue_small_mails(app, RETRY_MAILS)
    smtp_sink.handler.replies = ["451 4.3.0 try again later"] * 5  # a few deferred rows too

    def flush() -> None:
        with app.session() as session:
            outbox.deliver(session, app.settings, now=app.now())

    worker = threading.Thread(target=flush)
    worker.start()
    retries_during_flush = 0
    while worker.is_alive():
        result = cli("outbox", "retry", config=config)
        assert result.exit_code == 0, result.stderr
        retries_during_flush += 1
    worker.join()
    assert retries_during_flush >= 1
    # Once more for the deferred rows, in case the flush finished before a retry.
    assert cli("outbox", "retry", config=config).exit_code == 0
    assert_each_sent_once(app, smtp_sink)
    app.close()


def test_serve_delivers_beside_a_flush_each_mail_once(
    configs: ConfigFactory, smtp_sink: SmtpSink
) -> None:
    """The server's delivery loop and an `outbox flush` process at the same time: every
    mail reaches the relay exactly once."""
    config = configs.write(transport="smtp", smtp_port=smtp_sink.port)
    app = App.open(config)
    queue_small_mails(app, RETRY_MAILS)
    server = InboundServer(app, port=free_port(), deliver=True)
    flush = subprocess.Popen([MAILFLOW, "--config", str(config), "outbox", "flush"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    server.start()
    try:
        assert flush.wait(timeout=120) == 0, flush.stderr.read() if flush.stderr else ""
        deadline = time.monotonic() + 30
        while len(smtp_sink.received) < RETRY_MAILS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
        flush.kill()
    assert_each_sent_once(app, smtp_sink)
    app.close()


def test_delivery_keeps_its_sessions_across_claim_batches(
    configs: ConfigFactory, smtp_sink: SmtpSink
) -> None:
    """More mail than one claim takes goes out over `connections` sessions in all, not
    that many per batch, and each mail once."""
    app = App.open(configs.write(transport="smtp", smtp_port=smtp_sink.port))
    total = 2 * outbox.BATCH + 50
    queue_small_mails(app, total)
    with app.session() as session:
        report = outbox.deliver(session, app.settings, now=app.now())
    assert report.sent == total
    recipients = Counter(e.rcpt_tos[0] for e in smtp_sink.received)
    assert len(recipients) == total and set(recipients.values()) == {1}
    assert len(smtp_sink.handler.peers) <= app.settings.outbound.connections
    app.close()


def test_a_session_the_relay_dropped_while_idle_is_replaced(
    configs: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery loop keeps sessions between passes; a relay that closed one while it
    sat idle costs nothing: the next pass opens a new one and every mail goes out."""
    handler = SinkHandler()
    relay = Controller(handler, hostname="127.0.0.1", port=free_port(), timeout=0.3)
    relay.start()
    monkeypatch.setattr(outbox.SmtpTransport, "CHECK_IDLE", 0.1)
    app = App.open(configs.write(transport="smtp", smtp_port=relay.port))
    transport = outbox.make_transport(app.settings)
    try:
        for n in range(2):
            with app.session() as session:
                outbox.enqueue(session, message(app, f"m{n}@school.org"), now=app.now())
            with app.session() as session:
                report = outbox.deliver(session, app.settings, now=app.now(),
                                        transport=transport)  # fmt: skip
            assert report.sent == 1, report
            time.sleep(0.8)  # the relay drops the idle session
    finally:
        transport.close()
        relay.stop()
        app.close()
    assert sorted(e.rcpt_tos[0] for e in handler.received) == ["m0@school.org", "m1@school.org"]
    assert len(handler.peers) == 2
