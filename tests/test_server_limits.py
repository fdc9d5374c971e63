"""No sender can take the server from the others: connection, time and size limits over
real SMTP, a reading time budget, a sweep that retries what a failure of the moment left
behind, and poison messages set aside at start-up (see the `server` and `worker` module
docstrings). Each case asserts the exact SMTP answer or the stored outcome.
"""

from __future__ import annotations

import logging
import shutil
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import ingest, members
from mailflow.app import App
from mailflow.models import InboundMessage
from mailflow.reading import BoundedReader, BudgetExceeded
from mailflow.server import InboundServer
from tests.conftest import ConfigFactory, free_port, load_mail, running_server
from tests.loops import JANE, message

GROUP = "dht@example.org"
STRANGER = "alex@agency.example.com"


@pytest.fixture
def limited(configs: ConfigFactory) -> Iterator[tuple[App, InboundServer]]:
    """A server with small limits, Jane a member."""
    config = configs.write(max_message_bytes=80_000, inbound=(
        "stranger_max_message_bytes = 10000\nmax_bytes_in_flight = 90000\n"
        "max_connections = 3\nidle_timeout_seconds = 2\nconnection_time_limit_seconds = 3\n"
        "retry_seconds = 1\n"
    ))  # fmt: skip
    with running_server(config) as (app, server):
        with app.session() as session:
            members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
        yield app, server


def _sized(sender: str, size: int) -> bytes:
    """A plain message from `sender` to the group address of about `size` bytes."""
    body = "Resource for the group.\n" + ("x" * 70 + "\n") * (size // 71)
    return message(sender, GROUP, body).replace(b"\n", b"\r\n")


def _send(port: int, sender: str, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo()
        try:
            smtp.sendmail(sender, [GROUP], raw)
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            return exc.smtp_code, exc.smtp_error
        return 250, b""


def test_a_stranger_may_send_less_than_a_member(limited: tuple[App, InboundServer]) -> None:
    _app, server = limited
    assert _send(server.port, STRANGER, _sized(STRANGER, 20_000))[0] == 552
    assert _send(server.port, STRANGER, _sized(STRANGER, 5_000))[0] == 250
    assert _send(server.port, JANE, _sized(JANE, 20_000))[0] == 250
    assert _send(server.port, JANE, _sized(JANE, 90_000))[0] == 552


def test_one_connection_too_many_is_answered_421_and_the_next_is_served(
    limited: tuple[App, InboundServer],
) -> None:
    _app, server = limited
    held = [smtplib.SMTP("127.0.0.1", server.port) for _ in range(3)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", server.port)
        assert refused.value.smtp_code == 421
        held.pop().quit()
        time.sleep(0.2)
        assert _send(server.port, JANE, _sized(JANE, 1_000))[0] == 250
    finally:
        for smtp in held:
            smtp.close()


def _raw_session(port: int, *, size: int = 0) -> socket.socket:
    """A connection that has said EHLO, MAIL (declaring `size` if given), RCPT and DATA,
    ready to send the message."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    file = sock.makefile("rb")
    file.readline()
    declared = f" SIZE={size}" if size else ""
    for command in (b"EHLO trickle.example\r\n", f"MAIL FROM:<{JANE}>{declared}\r\n".encode(),
                    f"RCPT TO:<{GROUP}>\r\n".encode(), b"DATA\r\n"):  # fmt: skip
        sock.sendall(command)
        while (line := file.readline())[3:4] == b"-":
            pass
    assert line.startswith(b"354"), line
    return sock


def _trickle(sock: socket.socket, chunk: bytes, every: float = 0.5) -> tuple[bytes, float]:
    """Send `chunk` every `every` seconds until the server closes the connection (at most
    10 s); returns all the server said meanwhile and how long it took."""
    started, said = time.monotonic(), b""
    sock.settimeout(every)
    while time.monotonic() - started < 10:
        try:
            sock.sendall(chunk)
            answer = sock.recv(200)
        except TimeoutError:
            continue
        except OSError:
            break
        if not answer:
            break
        said += answer
    return said, time.monotonic() - started


def test_a_sender_trickling_inside_data_is_cut_off(limited: tuple[App, InboundServer]) -> None:
    """A byte every half second: the DATA phase may last no longer than the idle timeout
    (2 s here, since the DATA command), and nothing half-received is stored."""
    app, server = limited
    sock = _raw_session(server.port)
    try:
        said, took = _trickle(sock, b"x")
    finally:
        sock.close()
    assert said == b"" and 1.5 < took < 8
    with app.session() as session:
        assert session.scalars(select(InboundMessage)).all() == []


def test_a_connection_kept_busy_hits_its_time_limit(limited: tuple[App, InboundServer]) -> None:
    """NOOP every half second resets the idle timer; the connection's time limit (3 s
    here) still ends it, with 421."""
    _app, server = limited
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        assert sock.recv(200).startswith(b"220")
        said, took = _trickle(sock, b"NOOP\r\n")
    finally:
        sock.close()
    assert said.splitlines()[-1].startswith(b"421 4.4.2"), said
    assert set(said.splitlines()[:-1]) <= {b"250 OK"}, said
    assert 2.5 < took < 8


def test_a_silent_connection_is_closed(limited: tuple[App, InboundServer]) -> None:
    _app, server = limited
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        assert sock.recv(200).startswith(b"220")
        started = time.monotonic()
        assert sock.recv(200) == b""  # closed by the server after 2 s of silence
        assert 1.5 < time.monotonic() - started < 6
    finally:
        sock.close()


def test_bytes_in_flight_are_bounded_and_the_sender_asked_to_retry(
    limited: tuple[App, InboundServer],
) -> None:
    """One transaction in DATA without a declared SIZE reserves its whole limit (80 KB of
    90 KB); a second that does not fit is answered 451, and goes through once the first
    has finished."""
    app, server = limited
    first = _raw_session(server.port)
    try:
        with smtplib.SMTP("127.0.0.1", server.port) as smtp:
            smtp.ehlo()
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail(JANE, [GROUP], _sized(JANE, 1_000))
            assert refused.value.smtp_code == 451
        first.sendall(_sized(JANE, 1_000) + b".\r\n")
        assert first.recv(200).startswith(b"250")
    finally:
        first.close()
    assert _send(server.port, JANE, _sized(JANE, 1_000))[0] == 250
    assert server.drain()
    with app.session() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 2


def test_a_declared_size_reserves_only_what_it_needs(limited: tuple[App, InboundServer]) -> None:
    """Clients that declare SIZE (most MTAs, and smtplib) reserve about that, not the
    whole limit: two small messages in DATA at once both fit in 90 KB."""
    app, server = limited
    first = _raw_session(server.port, size=1_000)
    try:
        assert _send(server.port, JANE, _sized(JANE, 1_000))[0] == 250
        first.sendall(_sized(JANE, 900) + b".\r\n")
        assert first.recv(200).startswith(b"250")
    finally:
        first.close()
    assert server.drain()
    with app.session() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 2


def test_reading_over_the_budget_is_set_aside_and_the_reader_recovers() -> None:
    raw = load_mail("resource_pdf.eml")
    reader = BoundedReader(budget=1e-6)  # no reading fits in a microsecond
    try:
        with pytest.raises(BudgetExceeded, match="reading it took over 1e-06 s"):
            reader.read(raw, JANE)
        reader.budget = 30
        assert reader.read(raw, JANE).mail.from_address == JANE
    finally:
        reader.close()


def test_messages_handed_over_together_are_read_again_after_one_kills_the_child() -> None:
    """The worker hands a batch (and the next) to the reader at once: when one of them
    runs over the budget its child is killed, and the others are read by the new one."""
    raw = load_mail("resource_pdf.eml")
    reader = BoundedReader(budget=1e-6)
    try:
        first, second = reader.submit(raw, JANE), reader.submit(raw, GROUP)
        with pytest.raises(BudgetExceeded):
            reader.result(first)
        reader.budget = 30
        assert reader.result(second).mail.from_address == JANE
        assert second.pool is not reader.submit(raw, JANE).pool  # a new child read it
    finally:
        reader.close()


def test_a_reader_closed_while_it_starts_leaves_no_child() -> None:
    """The worker starts its reader child in the background as it starts (so the first
    message after a start does not wait a second for it); a worker stopped at once must
    not leave a child started after the stop."""
    for _ in range(3):
        reader = BoundedReader(budget=30)
        reader.start()
        reader.close()
        for thread in threading.enumerate():
            if thread.name == "mailflow-reader-start":
                thread.join(timeout=60)
        assert reader._pool is None
    reader = BoundedReader(budget=30)
    reader.start()
    try:
        assert reader.read(load_mail("resource_pdf.eml"), JANE).mail.from_address == JANE
    finally:
        reader.close()


def test_a_message_over_the_budget_fails_with_the_reason_and_the_server_goes_on(
    configs: ConfigFactory,
) -> None:
    app = App.open(configs.write(inbound="processing_budget_seconds = 1e-6\n"))
    with app.session() as session:
        members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
    server = InboundServer(app, port=free_port())
    server.start()
    try:
        for _ in range(2):
            assert _send(server.port, JANE, load_mail("resource_pdf.eml"))[0] == 250
        assert server.drain()
    finally:
        server.stop()
    with app.session() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [(r.status, r.error) for r in rows] == [
            ("failed", "reading it took over 1e-06 s; set aside unread")
        ] * 2
    app.close()


def test_a_message_left_new_at_every_start_is_set_aside(configs: ConfigFactory) -> None:
    """A message that keeps stopping the server (here: left `new` at three starts) is
    set aside at the fourth start instead of being read again."""
    app = App.open(configs.write())
    with app.session() as session:
        members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
        poison = ingest.store(session, mail_from=JANE, rcpt_tos=[GROUP],
                              raw=load_mail("resource_pdf.eml"), now=app.now())  # fmt: skip
        fine = ingest.store(session, mail_from=JANE, rcpt_tos=[GROUP],
                            raw=load_mail("resource_pdf.eml"), now=app.now())  # fmt: skip
        session.get(InboundMessage, poison).start_attempts = 3  # type: ignore[union-attr]
    server = InboundServer(app, port=free_port())
    server.start()
    try:
        assert server.drain()
    finally:
        server.stop()
    with app.session() as session:
        row, other = session.get(InboundMessage, poison), session.get(InboundMessage, fine)
        assert row is not None and other is not None
        assert (row.status, row.start_attempts) == ("failed", 4)
        assert row.error.startswith("still unprocessed after 3 start(s) of the server")
        assert (other.status, other.start_attempts) == ("processed", 1)
    app.close()


def test_a_failure_of_the_moment_is_retried_by_the_sweep_without_a_restart(
    limited: tuple[App, InboundServer], caplog: pytest.LogCaptureFixture
) -> None:
    """The data folder is unusable (a file stands where it should be) when Jane's
    attachment arrives: the message stays new, not failed; once the folder is back, the
    sweep processes it, and the log says so."""
    app, server = limited
    data_dir = app.settings.data_dir
    shutil.rmtree(data_dir)
    data_dir.write_text("not a folder")
    caplog.set_level(logging.INFO, logger="mailflow")
    assert _send(server.port, JANE, load_mail("resource_pdf.eml"))[0] == 250
    assert server.drain()
    with app.session() as session:
        assert session.scalars(select(InboundMessage.status)).all() == ["new"]
    data_dir.unlink()
    data_dir.mkdir()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with app.session() as session:
            if session.scalars(select(InboundMessage.status)).all() == ["processed"]:
                break
        time.sleep(0.2)
    assert "message 1 was left unprocessed by an earlier failure; trying again (try 1)" in (
        caplog.text
    )
    with app.session() as session:
        assert session.scalars(select(InboundMessage.status)).all() == ["processed"]
    assert any(Path(data_dir).rglob("*")), "the attachment is stored"
