"""Durability: a message answered 250 is in the database, whole, exactly once.

A power cut cannot be simulated without a virtual machine whose disk we can cut off, so
two tests check what can be checked on one machine:

* the real `mailflow serve` is killed with SIGKILL at random moments while several
  clients send to it over SMTP, then started again, for several rounds. Every message
  that got a 250 is stored once with the bytes that were sent (same sha256); a message
  refused or cut off is stored whole or not at all, never twice; nothing else is stored;
  and SQLite's `PRAGMA integrity_check` passes.
* what makes a commit survive a power cut is in force where the server stores: SQLite's
  `synchronous=FULL` (NORMAL in WAL mode may lose a committed transaction), PostgreSQL's
  `synchronous_commit` not off. The one connection that relaxes it (delivery outcomes:
  `db.relaxed_connection`) goes back to the pool with FULL.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailflow import db
from mailflow.app import App
from mailflow.models import InboundMessage
from mailflow.server import InboundServer
from tests.conftest import free_port
from tests.test_crash import kill, mailflow, wait_for_port

ROUNDS = 3
CLIENTS = 3
SENDER = "someone@school.example"
GROUP = "dht@example.org"  # the test config's group address


@dataclass
class Sent:
    """One message a client began to send, and the server's final answer if it gave one."""

    sha256: str
    reply: tuple[int, bytes] | None = None  # None: cut off before an answer


def message(tag: str) -> bytes:
    """A unique ~5 KB message with a dot-stuffed line and 8-bit text, whose bytes must
    come back exactly."""
    noise = "\r\n".join(os.urandom(36).hex() for _ in range(70))
    return (
        f"From: <{SENDER}>\r\nTo: <{GROUP}>\r\nSubject: Durability {tag}\r\n"
        f"Message-ID: <durability-{tag}@school.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Caf\u00e9 agenda, message {tag}\r\n.a line that starts with a dot\r\n{noise}\r\n"
    ).encode()


def send_one(smtp: smtplib.SMTP, raw: bytes) -> tuple[int, bytes]:
    """MAIL, RCPT, DATA: the first refusal or the answer to the data."""
    for code, reply in (smtp.mail(SENDER), smtp.rcpt(GROUP)):
        if code != 250:
            return code, reply
    try:
        return smtp.data(raw)
    except smtplib.SMTPResponseException as exc:  # DATA itself refused
        return exc.smtp_code, exc.smtp_error


def client(port: int, tag: str, log: list[Sent], answered: threading.Event) -> None:
    """Send messages over one connection until the server refuses one or dies; set
    `answered` at each 250."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            for n in itertools.count():
                raw = message(f"{tag}-{n}")
                sent = Sent(hashlib.sha256(raw).hexdigest())
                log.append(sent)  # before sending: a kill may come at any step
                sent.reply = send_one(smtp, raw)
                if sent.reply[0] != 250:
                    return
                answered.set()
    except (OSError, smtplib.SMTPException):
        return  # killed: the connection is gone


def crash_round(config: Path, number: int, delay: float, log: list[Sent]) -> None:
    """Start `mailflow serve`, let CLIENTS clients send, SIGKILL it `delay` seconds after
    its first 250."""
    port, answered = free_port(), threading.Event()
    proc = mailflow(config, "serve", "--port", str(port))
    threads = [
        threading.Thread(target=client, args=(port, f"{number}.{k}", log, answered))
        for k in range(CLIENTS)
    ]
    try:
        wait_for_port(port, proc)
        for thread in threads:
            thread.start()
        assert answered.wait(timeout=30), "no 250 within 30 s"
        time.sleep(delay)
    finally:
        kill(proc)
    for thread in threads:
        thread.join(timeout=30)


def stored(app: App) -> dict[int, str]:
    """Stored message id -> sha256 of its raw bytes."""
    with app.session() as session:
        rows = session.execute(select(InboundMessage.id, InboundMessage.raw))
        return {number: hashlib.sha256(raw).hexdigest() for number, raw in rows}


def test_sigkill_at_random_moments_loses_nothing_answered_250(app: App, config_file: Path) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    log: list[Sent] = []
    for number in range(ROUNDS):
        crash_round(config_file, number, rng.uniform(0.05, 0.5), log)

    found = stored(app)
    copies = Counter(found.values())
    accepted = [s for s in log if s.reply and s.reply[0] == 250]
    assert accepted, f"seed {seed}: nothing was accepted"
    assert set(copies) <= {s.sha256 for s in log}, f"seed {seed}: stored bytes nobody sent"
    assert max(copies.values()) == 1, f"seed {seed}: a message stored twice"
    for sent in accepted:
        assert sent.reply is not None
        number = int(sent.reply[1].rsplit(b" ", 1)[1])  # "2.0.0 Stored as message N"
        assert found.get(number) == sent.sha256, f"seed {seed}: message {number}"
    refused = {s.sha256 for s in log if s.reply and s.reply[0] != 250}
    assert not refused & set(copies), f"seed {seed}: a refused message was stored"
    if app.engine.dialect.name == "sqlite":  # (a PostgreSQL server is never killed here)
        with app.engine.connect() as conn:
            assert conn.scalar(text("PRAGMA integrity_check")) == "ok"


def test_server_commits_wait_for_the_disk(server: InboundServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        assert smtp.sendmail(SENDER, [GROUP], message("pragma")) == {}
    # Read back on the kind of session the server stores through, after it stored.
    with server.app.writing() as session:
        if server.app.engine.dialect.name == "sqlite":
            assert session.scalar(text("PRAGMA synchronous")) == 2  # FULL
        else:
            assert session.scalar(text("SHOW synchronous_commit")) != "off"


def test_a_relaxed_connection_goes_back_to_the_pool_waiting_for_the_disk(app: App) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL connections are left as they are")
    with db.relaxed_connection(app.engine) as conn:
        assert conn.scalar(text("PRAGMA synchronous")) == 1  # NORMAL
        relaxed = conn.connection.dbapi_connection
    with app.engine.connect() as conn:
        assert conn.connection.dbapi_connection is relaxed  # the same one, from the pool
        assert conn.scalar(text("PRAGMA synchronous")) == 2  # FULL
