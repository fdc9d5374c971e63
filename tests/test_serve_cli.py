"""`mailflow serve` as a real process, LMTP, and the inbox/held commands."""

from __future__ import annotations

import json
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailflow.app import App
from mailflow.models import InboundMessage, Item
from mailflow.server import InboundServer
from tests.conftest import Cli, free_port, load_mail

MAILFLOW = str(Path(sys.executable).parent / "mailflow")


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
        assert srv.processor.drain()
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
        assert srv.processor.drain()
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
    assert server.processor.drain()
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
