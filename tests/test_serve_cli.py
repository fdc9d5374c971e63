"""`mailflow serve` as a real process, LMTP, and the inbox/held commands."""

from __future__ import annotations

import email
import json
import os
import signal
import smtplib
import socket
import subprocess
import time
from email import policy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailflow import addresses
from mailflow.app import App
from mailflow.models import InboundMessage, Item
from mailflow.server import InboundServer
from tests.conftest import MAILFLOW, Cli, ConfigFactory, SmtpSink, free_port, load_mail
from tests.loops import JANE, message


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_serve_stops_cleanly_on_sigterm(config_file: Path, cli: Cli) -> None:
    cli("members", "add", "jane.smith@hamble.hants.sch.uk", "--name", "Jane Smith")
    port = free_port()
    proc = subprocess.Popen(
        [MAILFLOW, "--config", str(config_file), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            raw = load_mail("resource_pdf.eml")
            smtp.sendmail("jane.smith@hamble.hants.sch.uk", ["dht@example.org"], raw)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "listening on 127.0.0.1" in out and "stopped" in out
    assert "Traceback" not in err
    listed = json.loads(cli("inbox", "list", "--json").stdout)
    assert [m["status"] for m in listed] == ["processed"]


def test_serve_sets_aside_mail_over_the_reading_budget_and_still_stops(
    configs: ConfigFactory, cli: Cli
) -> None:
    """In `serve`'s worker process a reading over the budget has its reader child killed
    and replaced (the worker ignores the service manager's signals; its reader children
    must not), each such message is set aside with the reason, and SIGTERM still stops
    everything."""
    config = configs.write(inbound="processing_budget_seconds = 1e-6\n")
    cli("members", "add", "jane.smith@hamble.hants.sch.uk", "--name", "Jane Smith")
    port = free_port()
    proc = subprocess.Popen(
        [MAILFLOW, "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(2):
                smtp.sendmail("jane.smith@hamble.hants.sch.uk", ["dht@example.org"],
                              load_mail("resource_pdf.eml"))  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = json.loads(cli("inbox", "list", "--json").stdout)
            if [m["status"] for m in listed] == ["failed", "failed"]:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert [m["status"] for m in listed] == ["failed", "failed"]
    app = App.open(config)
    with app.session() as session:
        errors = session.scalars(select(InboundMessage.error).order_by(InboundMessage.id))
        assert list(errors) == ["reading it took over 1e-06 s; set aside unread"] * 2
    app.close()


def test_serve_on_a_busy_port_is_one_line(config_file: Path, cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [MAILFLOW, "--config", str(config_file), "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("mailflow: cannot listen on")
    assert len(result.stderr.strip().splitlines()) == 1


def test_lmtp_answers_once_per_recipient(app: App, cli: Cli) -> None:
    cli("members", "add", "jane.smith@hamble.hants.sch.uk", "--name", "Jane Smith")
    srv = InboundServer(app, port=free_port(), lmtp=True)
    srv.start()
    try:
        with smtplib.LMTP("127.0.0.1", srv.port) as lmtp:
            lmtp.ehlo("mx.example.org")
            assert lmtp.mail("jane.smith@hamble.hants.sch.uk")[0] == 250
            assert lmtp.rcpt("dht@example.org")[0] == 250
            assert lmtp.rcpt("DHT@example.org")[0] == 250
            assert lmtp.rcpt("nobody@example.org")[0] == 550
            lmtp.putcmd("data")
            assert lmtp.getreply()[0] == 354
            lmtp.send(load_mail("resource_pdf.eml") + b"\r\n.\r\n")
            first, second = lmtp.getreply(), lmtp.getreply()
            assert first[0] == second[0] == 250
        assert srv.drain()
    finally:
        srv.stop()
    with app.session() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1


def test_restart_processes_what_was_stored(app: App, cli: Cli) -> None:
    from mailflow import ingest

    cli("members", "add", "jane.smith@hamble.hants.sch.uk", "--name", "Jane Smith")
    with app.session() as session:  # stored, then the process died before processing
        ingest.store(session, mail_from="jane.smith@hamble.hants.sch.uk",
                     rcpt_tos=["dht@example.org"], raw=load_mail("resource_pdf.eml"),
                     now=app.now())  # fmt: skip
    srv = InboundServer(app, port=free_port())
    srv.start()
    try:
        assert srv.drain()
    finally:
        srv.stop()
    again = InboundServer(app, port=free_port())  # a second restart processes nothing twice
    again.start()
    again.stop()
    listed = json.loads(cli("inbox", "list", "--json").stdout)
    assert [m["status"] for m in listed] == ["processed"]
    with app.session() as session:
        assert len(session.scalars(select(Item)).all()) == 1


def test_held_release_and_discard(app: App, server: Any, cli: Cli) -> None:
    for n in range(2):
        with smtplib.SMTP("127.0.0.1", server.port) as smtp:
            body = load_mail("stranger.eml").replace(b"stranger-1", f"stranger-{n}".encode())
            smtp.sendmail("alex@agency.example.com", ["dht@example.org"], body)
    assert server.drain()
    held = json.loads(cli("held", "list", "--json").stdout)
    assert [(h["mail_from"], h["reason"]) for h in held] == [
        ("alex@agency.example.com", "alex@agency.example.com is not a member")
    ] * 2
    assert set(held[0]) >= {"id", "received_at", "mail_from", "rcpt", "subject", "reason"}
    released = cli("held", "release", str(held[0]["id"]))
    assert released.exit_code == 0 and "processed" in released.stdout
    assert cli("held", "discard", str(held[1]["id"])).exit_code == 0
    assert json.loads(cli("held", "list", "--json").stdout) == []
    assert cli("held", "release", "999").exit_code == 1


def test_reprocess_needs_an_id_or_failed(cli: Cli) -> None:
    assert cli("inbox", "reprocess").exit_code == 1
    assert "nothing to reprocess" in cli("inbox", "reprocess", "--failed").stdout
    assert cli("inbox", "reprocess", "42").exit_code == 1


def test_serve_acknowledges_within_seconds_with_nothing_else_run(
    configs: ConfigFactory, smtp_sink: SmtpSink
) -> None:
    """A reply to a running `mailflow serve` is acknowledged at the member's mail server
    within 5 s: the server delivers its own outbox, no cron and no other command."""
    config = configs.write(transport="smtp", smtp_port=smtp_sink.port)
    run = [MAILFLOW, "--config", str(config)]
    spring = ["meetings", "add", "--title", "Spring meeting", "--start", "2027-03-18 16:00"]
    for args in (["members", "add", JANE, "--name", "Jane Smith", "--quiet"], spring):
        subprocess.run([*run, *args], check=True, capture_output=True, timeout=60)
    app_ = App.open(config)
    reply_to = addresses.reply_address(app_.settings.mail.address, app_.settings.mail.secret,
                                       addresses.ReplyToken("c", 1, 1))  # fmt: skip
    app_.close()
    port = free_port()
    proc = subprocess.Popen([*run, "serve", "--port", str(port)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail(JANE, [reply_to], message(JANE, reply_to, "Q: Who is moderating?"))
        sent_at = time.monotonic()
        while not smtp_sink.received and time.monotonic() - sent_at < 5:
            time.sleep(0.05)
        waited = time.monotonic() - sent_at
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert [m.rcpt_tos for m in smtp_sink.received] == [[JANE]], f"waited {waited:.1f} s"
    ack = email.message_from_bytes(smtp_sink.received[0].data, policy=policy.default)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "Who is moderating?" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"SMTP server listening on 127.0.0.1:{port}" in out
    assert f"delivering through SMTP relay 127.0.0.1:{smtp_sink.port}" in out
    assert "message 1 to items reply (member 1): processed (question #1" in err
    assert "outbox: sent 1, deferred 0, failed 0" in err
    assert "Who is moderating" not in err  # the log never carries the member's words


def test_serve_quiet_logs_nothing_for_a_good_message(config_file: Path, cli: Cli) -> None:
    cli("members", "add", JANE, "--name", "Jane Smith")
    port = free_port()
    proc = subprocess.Popen(
        [MAILFLOW, "--config", str(config_file), "serve", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail(JANE, ["dht@example.org"], load_mail("resource_pdf.eml"))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err == ""
    assert "delivering to maildir" in out
