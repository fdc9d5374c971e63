"""Shared set-up for the benchmarks: a temporary mailflow installation and SMTP helpers."""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import socket
import tempfile
import threading
from collections.abc import Sequence
from multiprocessing.util import Finalize
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Session

from mailflow import meetings, members
from mailflow.app import App
from mailflow.cli.setup import example_config

SHORT = bool(os.environ.get("MAILFLOW_BENCH_SHORT"))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installation(
    *, transport: str = "maildir", smtp_port: int = 25, rate_limit: bool = False
) -> App:
    """A fresh mailflow on SQLite in a temporary folder (rate limiting off unless asked
    for: then the default), removed when the process that made it exits (a benchmark's
    child process included)."""
    folder = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    Finalize(None, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True}, exitpriority=0)
    text = example_config("bench-secret")
    text = text.replace('transport = "maildir"', f'transport = "{transport}"')
    relay = rf'host = "127.0.0.1"\1\nport = {smtp_port}'
    text = re.sub(r'host = "localhost"(.*)\nport = 25', relay, text)
    if not rate_limit:
        text = text.replace("rate_limit_per_minute = 20", "rate_limit_per_minute = 0")
    text = text.replace("max_attachment_bytes = 10485760", "max_attachment_bytes = 5000000")
    (folder / "mailflow.toml").write_text(text, encoding="utf-8")
    return App.open(folder / "mailflow.toml")


def minutes_group(port: int, size: int) -> App:
    """An installation relaying to `port` with `size` members and one meeting ("Bench"),
    ready for a minutes fan-out."""
    app = installation(transport="smtp", smtp_port=port)
    with app.session() as session:
        for k in range(size):
            members.add_member(session, email=f"m{k}@school{k % 50}.example",
                               name=f"Member {k}", now=app.now())  # fmt: skip
        meetings.add_meeting(session, app.settings, title="Bench", start="2027-06-17 16:00",
                             now=app.now())  # fmt: skip
    return app


class CountingHandler:
    """The bare baseline: an aiosmtpd handler that only counts messages."""

    def __init__(self) -> None:
        self.count = 0
        self.peers: set[object] = set()  # client ends of the sessions seen
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: Session, envelope: object) -> str:
        with self.lock:
            self.count += 1
            self.peers.add(session.peer)
        return "250 OK"


def counting_sink() -> tuple[Controller, CountingHandler]:
    """A started aiosmtpd server that counts what it receives."""
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            data_size_limit=0)  # fmt: skip
    controller.start()
    return controller, handler


def send_parallel(port: int, messages: Sequence[tuple[str, str, bytes]], clients: int) -> None:
    """Send (from, to, bytes) over `clients` connections, each reused for its share."""

    def client(share: Sequence[tuple[str, str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for mail_from, to, data in share:
                smtp.sendmail(mail_from, [to], data)

    threads = [
        threading.Thread(target=client, args=(messages[i::clients],)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
