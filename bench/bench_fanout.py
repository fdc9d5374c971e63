"""A small fan-out (the minutes, no attachment) against a bare K-session fan-out.

Both send to the same local counting aiosmtpd sink in the same run, each from a
process of its own: mailflow's `send-minutes` to every member (composing each copy,
queueing it, then delivering over `[outbound] connections` = K sessions), and a bare
fan-out sending one such copy as often over K smtplib sessions in parallel. The two
alternate for `ROUNDS` rounds (a shared machine slows one run or another); prints each
round and the median of: the ratio of delivery alone and of the whole run to the bare
fan-out, the CPU time per recipient of delivering (the mailflow process's, against the
bare fan-out's: on a machine the sink keeps busy, what one uses the other cannot),
of composing alone (every copy built, as queued, against building each whole with the
email package as `compose_copy` does) and of composing and queueing, and how many
sessions mailflow opened.
MAILFLOW_BENCH_SHORT=1: 200 members instead of 1,000, and 2 rounds instead of 3.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, counting_sink, minutes_group, send_parallel
from sqlalchemy import select

from mailflow import compose, sendminutes
from mailflow.meetings import find_meeting
from mailflow.models import Member, OutboxMessage
from mailflow.outbox import BATCH

MEMBERS = int(os.environ.get("MAILFLOW_BENCH_MEMBERS", "200" if SHORT else "1000"))
ROUNDS = int(os.environ.get("MAILFLOW_BENCH_ROUNDS", "2" if SHORT else "3"))
K = 4
MINUTES = (
    "## Notes\n\nWe met and agreed the moderation timetable for the spring term.\n\n"
    "- ACTION Member 1: write the report by 2026-12-10\n"
    "- ACTION Member 2: circulate the attendance codes by 2026-12-12\n"
)


@dataclass(frozen=True)
class Run:
    """One mailflow run: seconds to queue everything (and its CPU), seconds in all (and
    its CPU), CPU seconds to build every copy as queued and whole, and one copy as sent."""

    queued: float
    queued_cpu: float
    total: float
    total_cpu: float
    assembled_cpu: float
    whole_cpu: float
    sample: bytes


def compose_only(app: sendminutes.App, minutes: Path) -> tuple[float, float]:
    """CPU seconds to build every member's copy as `send_minutes` queues it (assembled)
    and whole (`compose_copy`), in a transaction rolled back."""
    markdown = minutes.read_text(encoding="utf-8")
    with app.session() as session:
        meeting = find_meeting(session, "1")
        shared = sendminutes.gather(session, app.settings, meeting, markdown, [], now=app.now())
        people = list(session.scalars(select(Member)))
        copies = sendminutes.Copies(app.settings, shared, now=app.now())
        start = time.process_time()
        for member in people:
            compose.to_bytes(copies(member))
        assembled = time.process_time() - start
        start = time.process_time()
        for member in people:
            msg = sendminutes.compose_copy(app.settings, shared, member, now=app.now(),
                                           shared_blobs=True)  # fmt: skip
            compose.to_bytes(msg)
        whole = time.process_time() - start
        session.rollback()
    return assembled, whole


def run_mailflow(port: int, result: multiprocessing.Queue[Run]) -> None:
    """Set up the group and send the minutes, then time composing alone."""
    app = minutes_group(port, MEMBERS)
    minutes = app.settings.base_dir / "minutes.md"
    minutes.write_text(MINUTES, encoding="utf-8")
    marks: dict[str, tuple[float, float]] = {}

    def progress(stage: str, _n: int, _total: int) -> None:
        # the first tick of each stage ("delivering" ticks once before it starts)
        marks.setdefault(stage, (time.perf_counter(), time.process_time()))

    start, cpu = time.perf_counter(), time.process_time()
    report = sendminutes.send_minutes(app, "1", minutes, [], progress=progress)
    total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.sent == MEMBERS, report
    with app.session() as session:
        sample = session.scalars(select(OutboxMessage.raw).limit(1)).one()
    queued, queued_cpu = marks["delivering"]
    assembled, whole = compose_only(app, minutes)
    result.put(Run(queued - start, queued_cpu - cpu, total, total_cpu, assembled, whole, sample))


def run_bare(port: int, data: bytes, result: multiprocessing.Queue[tuple[float, float]]) -> None:
    """The same bytes, MEMBERS times, over K parallel smtplib sessions: seconds and CPU."""
    messages = [("dht@example.org", f"m{k}@school.example", data) for k in range(MEMBERS)]
    start, cpu = time.perf_counter(), time.process_time()
    send_parallel(port, messages, K)
    result.put((time.perf_counter() - start, time.process_time() - cpu))


def mailflow_round(port: int) -> Run:
    """One mailflow run in a child process."""
    fork = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[Run] = fork.Queue()
    child = fork.Process(target=run_mailflow, args=(port, out))
    child.start()
    run = out.get(timeout=3600)
    child.join()
    return run


def bare_round(port: int, sample: bytes) -> tuple[float, float]:
    """One bare fan-out in a child process: seconds and CPU seconds."""
    fork = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[tuple[float, float]] = fork.Queue()
    child = fork.Process(target=run_bare, args=(port, sample, out))
    child.start()
    seconds = out.get(timeout=3600)
    child.join()
    return seconds


def main() -> None:
    controller, handler = counting_sink()
    port = controller.port
    runs: list[Run] = []
    bares: list[tuple[float, float]] = []
    sessions: list[int] = []
    for n in range(ROUNDS):
        if n % 2 and runs:  # every other round the bare fan-out goes first
            bares.append(bare_round(port, runs[-1].sample))
        handler.peers.clear()
        before = handler.count
        runs.append(mailflow_round(port))
        sessions.append(len(handler.peers))
        assert handler.count - before == MEMBERS, handler.count - before
        if not n % 2:
            bares.append(bare_round(port, runs[-1].sample))
    controller.stop()
    print(f"bench_fanout: minutes to {MEMBERS} members, {len(runs[0].sample)} bytes a copy, "
          f"K = {K} sessions, claim batches of {BATCH} (SQLite), "
          f"{ROUNDS} alternating rounds")  # fmt: skip
    ratios, overall = [], []
    for n, (run, (bare, _cpu)) in enumerate(zip(runs, bares, strict=True)):
        deliver = run.total - run.queued
        ratios.append(bare / deliver)
        overall.append(bare / run.total)
        print(f"  round {n + 1}: bare {bare:5.2f} s, mailflow delivery {deliver:5.2f} s "
              f"({sessions[n]} sessions), send-minutes in all {run.total:5.2f} s")  # fmt: skip
    per = 1000 / MEMBERS
    print(f"  ratio bare/mailflow delivery            {statistics.median(ratios):6.2f}  "
          f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
    print(f"  ratio bare/mailflow send-minutes        {statistics.median(overall):6.2f}  "
          f"(rounds {min(overall):.2f}-{max(overall):.2f})")  # fmt: skip
    delivering = statistics.median(r.total_cpu - r.queued_cpu for r in runs) * per
    bare_cpu = statistics.median(cpu for _, cpu in bares) * per
    print(f"  delivering, CPU per recipient           {delivering:6.3f} ms"
          f"  (the bare fan-out: {bare_cpu:.3f} ms)")  # fmt: skip
    assembled, whole = (statistics.median(r.assembled_cpu for r in runs) * per,
                        statistics.median(r.whole_cpu for r in runs) * per)  # fmt: skip
    queued, queued_cpu = (statistics.median(r.queued for r in runs) * per,
                          statistics.median(r.queued_cpu for r in runs) * per)  # fmt: skip
    print(f"  composing alone, CPU per recipient      {assembled:6.3f} ms"
          f"  (each copy built whole: {whole:.3f} ms)")  # fmt: skip
    print(f"  composing and queueing, per recipient   {queued:6.3f} ms"
          f"  ({queued_cpu:.3f} ms of it CPU; set-up included)")  # fmt: skip


if __name__ == "__main__":
    main()
