"""send-minutes to many members with a 1 MB attachment, against a plain smtplib loop.

Both send to the same local counting aiosmtpd sink in the same run: mailflow composes
and delivers every member's copy (over `connections` parallel sessions); the baseline
sends the same bytes as often over one reused connection. Prints the time ratio, the
time to compose, and the peak memory of the mailflow run (in a child process).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import smtplib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, counting_sink, minutes_group

from mailflow.models import OutboxMessage
from mailflow.sendminutes import send_minutes

MEMBERS = int(os.environ.get("MAILFLOW_BENCH_MEMBERS", "100" if SHORT else "1000"))
MINUTES = "## Notes\n\nWe met.\n\n- ACTION Member 1: write the report by 2026-12-10\n"


def run_mailflow(port: int, result: multiprocessing.Queue[tuple[float, float, bytes]]) -> None:
    """Set up the group and send the minutes; report (compose s, total s, one copy)."""
    app = minutes_group(port, MEMBERS)
    folder = app.settings.base_dir
    (folder / "minutes.md").write_text(MINUTES, encoding="utf-8")
    (folder / "report.pdf").write_bytes(os.urandom(1024 * 1024))
    marks: dict[str, float] = {}

    def progress(stage: str, _n: int, _total: int) -> None:
        marks[stage] = time.perf_counter()

    start = time.perf_counter()
    send_minutes(app, "1", folder / "minutes.md", [folder / "report.pdf"], progress=progress)
    total = time.perf_counter() - start
    with app.session() as session:
        row = session.query(OutboxMessage).first()
        assert row is not None
        from mailflow.outbox import _deliveries

        sample = _deliveries(session, [row.id])[0].message()
    result.put((marks.get("composing", start) - start, total, sample))


def baseline(port: int, data: bytes) -> float:
    """The same bytes, as often, over one reused smtplib connection."""
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for k in range(MEMBERS):
            smtp.sendmail("dht@example.org", [f"m{k}@school.example"], data)
    return time.perf_counter() - start


def main() -> None:
    controller, handler = counting_sink()
    queue: multiprocessing.Queue[tuple[float, float, bytes]] = multiprocessing.Queue()
    child = multiprocessing.get_context("fork").Process(target=run_mailflow,
                                                        args=(controller.port, queue))  # fmt: skip
    child.start()
    compose_s, ours, sample = queue.get(timeout=3600)
    child.join()
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert handler.count == MEMBERS, handler.count
    plain = baseline(controller.port, sample)
    controller.stop()
    print(f"bench_send_minutes: {MEMBERS} members, 1 MB attachment "
          f"({len(sample) / 1e6:.2f} MB per copy)")  # fmt: skip
    print(f"  plain smtplib loop, one connection   {plain:8.2f} s")
    print(f"  mailflow send-minutes (SQLite)       {ours:8.2f} s  (composing {compose_s:.2f} s)")
    print(f"  ratio mailflow/loop                  {ours / plain:8.2f}")
    print(f"  peak memory of the mailflow run      {peak_mb:8.1f} MB")


if __name__ == "__main__":
    main()
