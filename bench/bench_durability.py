"""What fsync at every commit costs: SQLite synchronous=FULL (the default) against NORMAL.

The same ~5 KB messages are stored with each setting in alternating rounds in one process,
each setting on a database of its own: straight through `ingest.store` (one commit per
message, as the server does before its 250), and over SMTP to a store-only
`InboundServer`. Prints messages per second for both settings and the ratio FULL/NORMAL.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inbound import reply
from common import SHORT, free_port, installation, send_parallel
from sqlalchemy import event, text

from mailflow import ingest
from mailflow.app import App
from mailflow.server import InboundServer

MESSAGES = 200 if SHORT else 2000  # per setting and per path
ROUNDS = 4 if SHORT else 10
CLIENTS = 4
SETTINGS = {"NORMAL": 1, "FULL": 2}  # what `PRAGMA synchronous` reads back
Messages = Sequence[tuple[str, str, bytes]]


def _normal(dbapi_connection: Any, _record: Any) -> None:
    # Runs after mailflow's own pragmas (listeners run in order), so it overrides FULL.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def open_app(setting: str) -> App:
    """A fresh installation whose connections run with `setting`, checked by reading back."""
    app = installation()
    if setting == "NORMAL":
        event.listen(app.engine, "connect", _normal)
        app.engine.dispose()  # the pooled connections were opened with FULL
    with app.engine.connect() as conn:
        assert conn.scalar(text("PRAGMA synchronous")) == SETTINGS[setting]
    return app


def store_all(app: App, messages: Messages) -> None:
    """Commit each message on its own, as the server does before it answers 250."""
    for mail_from, to, raw in messages:
        with app.writing() as session:
            ingest.store(session, mail_from=mail_from, rcpt_tos=[to], raw=raw, now=app.now())


def alternate(runs: dict[str, Callable[[Messages], None]], messages: Messages) -> dict[str, float]:
    """Messages per second of each run, over alternating rounds (the first to go swaps)."""
    spent = dict.fromkeys(runs, 0.0)
    share = len(messages) // ROUNDS
    for k in range(ROUNDS):
        batch = messages[k * share : (k + 1) * share]
        for setting in list(runs)[:: 1 if k % 2 == 0 else -1]:
            start = time.perf_counter()
            runs[setting](batch)
            spent[setting] += time.perf_counter() - start
    return {setting: share * ROUNDS / seconds for setting, seconds in spent.items()}


def report(path: str, rates: dict[str, float]) -> None:
    """Print both rates and the ratio FULL/NORMAL."""
    for setting, rate in rates.items():
        print(f"  {path:22} synchronous={setting:6} {rate:8.1f} messages/s")
    print(f"  {path:22} ratio FULL/NORMAL    {rates['FULL'] / rates['NORMAL']:8.2f}")


def main() -> None:
    apps = {setting: open_app(setting) for setting in SETTINGS}
    address = apps["FULL"].settings.mail.address
    sender = "member@school.example"
    messages = [(sender, address, reply(sender, address, n)) for n in range(MESSAGES)]
    servers = {s: InboundServer(app, port=free_port(), process=False) for s, app in apps.items()}
    for server in servers.values():
        server.start()
    try:
        direct = alternate({s: partial(store_all, a) for s, a in apps.items()}, messages)
        smtp = alternate(
            {s: partial(send_parallel, v.port, clients=CLIENTS) for s, v in servers.items()},
            messages,
        )
    finally:
        for server in servers.values():
            server.stop()
        for app in apps.values():
            app.close()
    print(f"bench_durability: {MESSAGES} messages of ~5 KB per setting, {ROUNDS} alternating "
          "rounds (SQLite, WAL)")  # fmt: skip
    report("ingest.store", direct)
    report(f"SMTP, {CLIENTS} connections", smtp)


if __name__ == "__main__":
    main()
