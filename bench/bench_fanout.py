"""A small fan-out (the minutes, no attachment) against a bare K-session fan-out.

Both send to the same local counting aiosmtpd sink in the same run, each from a
process of its own: mailflow's `send-minutes` to every member (composing each copy,
queueing it, then delivering over `[outbound] connections` = K sessions), and a bare
fan-out sending one such copy as often over K smtplib sessions in parallel. Prints
the time of each, the ratio of delivery alone and of the whole run to the bare
fan-out, composing time (and CPU time) per recipient, and how many sessions mailflow
opened.
MAILFLOW_BENCH_SHORT=1: 200 members instead of 1,000.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, counting_sink, minutes_group, send_parallel

from mailflow.outbox import BATCH
from mailflow.sendminutes import send_minutes

MEMBERS = int(os.environ.get("MAILFLOW_BENCH_MEMBERS", "200" if SHORT else "1000"))
K = 4
MINUTES = (
    "## Notes\n\nWe met and agreed the moderation timetable for the spring term.\n\n"
    "- ACTION Member 1: write the report by 2026-12-10\n"
    "- ACTION Member 2: circulate the attendance codes by 2026-12-12\n"
)

Result = tuple[float, float, float, bytes]


def run_mailflow(port: int, result: multiprocessing.Queue[Result]) -> None:
    """Set up the group and send the minutes; report (compose s, compose CPU s, total s,
    one copy)."""
    app = minutes_group(port, MEMBERS)
    minutes = app.settings.base_dir / "minutes.md"
    minutes.write_text(MINUTES, encoding="utf-8")
    marks: dict[str, tuple[float, float]] = {}

    def progress(stage: str, _n: int, _total: int) -> None:
        # the first tick of each stage
        marks.setdefault(stage, (time.perf_counter(), time.process_time()))

    start, cpu = time.perf_counter(), time.process_time()
    report = send_minutes(app, "1", minutes, [], progress=progress)
    total = time.perf_counter() - start
    assert report.sent == MEMBERS, report
    from mailflow.models import OutboxMessage

    with app.session() as session:
        row = session.query(OutboxMessage).first()
        assert row is not None
        sample = row.raw
    composed, composed_cpu = marks.get("delivering", (start + total, cpu))
    result.put((composed - start, composed_cpu - cpu, total, sample))


def run_bare(port: int, data: bytes, result: multiprocessing.Queue[float]) -> None:
    """The same bytes, MEMBERS times, over K parallel smtplib sessions."""
    messages = [("dht@example.org", f"m{k}@school.example", data) for k in range(MEMBERS)]
    start = time.perf_counter()
    send_parallel(port, messages, K)
    result.put(time.perf_counter() - start)


def main() -> None:
    controller, handler = counting_sink()
    fork = multiprocessing.get_context("fork")
    ours: multiprocessing.Queue[Result] = fork.Queue()
    child = fork.Process(target=run_mailflow, args=(controller.port, ours))
    child.start()
    compose_s, compose_cpu, total, sample = ours.get(timeout=3600)
    child.join()
    sessions = len(handler.peers)
    assert handler.count == MEMBERS, handler.count
    bare_q: multiprocessing.Queue[float] = fork.Queue()
    child = fork.Process(target=run_bare, args=(controller.port, sample, bare_q))
    child.start()
    bare = bare_q.get(timeout=3600)
    child.join()
    controller.stop()
    deliver = total - compose_s
    print(f"bench_fanout: minutes to {MEMBERS} members, {len(sample)} bytes a copy, "
          f"K = {K} sessions, claim batches of {BATCH} (SQLite)")  # fmt: skip
    print(f"  bare fan-out, {K} smtplib sessions      {bare:8.2f} s")
    print(f"  mailflow delivery (queued to sent)    {deliver:8.2f} s  "
          f"({sessions} sessions opened)")  # fmt: skip
    print(f"  mailflow send-minutes in all          {total:8.2f} s  "
          f"(composing and queueing {compose_s * 1000 / MEMBERS:.2f} ms per recipient, "
          f"{compose_cpu * 1000 / MEMBERS:.2f} ms of it CPU)")  # fmt: skip
    print(f"  ratio bare/mailflow delivery          {bare / deliver:8.2f}")
    print(f"  ratio bare/mailflow send-minutes      {bare / total:8.2f}")


if __name__ == "__main__":
    main()
