"""Processing workers: how the processing rate of `mailflow serve` grows with `--workers`.

The same N replies (~5 KB, the flood limit on) are stored straight into the database,
then the real console script `mailflow serve --workers K --no-deliver` is started and
left to process them; the rate is taken from the messages' own `processed_at` times
(first to last), so the workers' start-up is not counted. K = 1 and 2 on PostgreSQL
(MAILFLOW_BENCH_DATABASE_URL=postgresql+psycopg://..., a schema of its own), and the
ratio of two workers to one, measured in the same run; on SQLite (the default) one
worker only, since SQLite takes one writer at a time. Prints the host's core count:
two workers can only beat one where a core is free for each, beside the listener and
the database. MAILFLOW_BENCH_SHORT=1: 100 replies instead of 600.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inbound import reply
from bench_load import MAILFLOW, fresh, statuses, wait_for_port
from common import SHORT, free_port
from sqlalchemy import func, select

from mailflow import ingest
from mailflow.app import App
from mailflow.models import InboundMessage

REPLIES = 100 if SHORT else 600


def process_with(workers: int, url: str) -> float:
    """Replies processed per second by `workers` worker processes."""
    app, senders = fresh(url)
    with app.session() as session:
        arrivals = [
            ingest.Arrival(s, [to], reply(s, to, n))
            for n, (s, to) in enumerate(senders[k % len(senders)] for k in range(REPLIES))
        ]
        ingest.store_many(session, arrivals, now=app.now())
    port = free_port()
    config = str(app.settings.path("mailflow.toml"))
    command = [MAILFLOW, "--config", config, "serve", "--quiet", "--no-deliver",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        while statuses(app)["new"]:
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=120)
    rate = rate_of(app)
    app.close()
    return rate


def rate_of(app: App) -> float:
    """Messages processed per second, from the first to the last processed."""
    with app.session() as session:
        first, last, count = session.execute(
            select(func.min(InboundMessage.processed_at), func.max(InboundMessage.processed_at),
                   func.count()).where(InboundMessage.status == "processed")
        ).one()  # fmt: skip
    if count != REPLIES:
        raise SystemExit(f"only {count} of {REPLIES} replies were processed")
    return float((count - 1) / max((last - first).total_seconds(), 1e-6))


def main() -> int:
    url = os.environ.get("MAILFLOW_BENCH_DATABASE_URL", "")
    database = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"bench_workers: {REPLIES} stored replies processed by `mailflow serve --workers K` "
          f"({database}, {os.cpu_count()} cores)")  # fmt: skip
    one = process_with(1, url)
    print(f"  1 worker   {one:8.1f} replies/s")
    if database == "sqlite":
        print("  (SQLite takes one worker; set MAILFLOW_BENCH_DATABASE_URL for PostgreSQL)")
        return 0
    two = process_with(2, url)
    print(f"  2 workers  {two:8.1f} replies/s   ratio to one worker {two / one:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
