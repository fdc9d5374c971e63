"""The inbound pipeline end to end: a burst of replies, against a bare sink, in one run.

Three servers, each the real process as deployed, get the same burst of ~5 KB member
replies over C connections: a bare aiosmtpd sink that answers 250 and keeps nothing,
`mailflow serve --no-process` (store only) and `mailflow serve` (store, read, record,
acknowledge, deliver the acknowledgement to the maildir), with the default flood limit
on. Prints, against the sink's rate: replies per second to the last 250 (store only)
and to the last acknowledgement delivered (end to end); the acknowledgement latency of
each reply (sent to its acknowledgement in the maildir) at p50 and p99; and the CPU
time per reply by stage, read from /proc for the server and its child processes once
they have started: listening and storing (the store-only server), the listener of the
whole server, and its worker processes with the reader child (reading, recording,
composing and delivering the acknowledgement).
MAILFLOW_BENCH_SHORT=1: a burst of 100 instead of 400.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inbound import reply
from bench_load import MAILFLOW, setup, statuses, wait_for_port
from common import SHORT, free_port, installation

from mailflow.app import App

BURST = 100 if SHORT else 400
CLIENTS = 4
TICK = os.sysconf("SC_CLK_TCK")
MSGID = re.compile(rb"^In-Reply-To: <bench-(\d+)@school\.example>", re.MULTILINE | re.IGNORECASE)


def burst(port: int, messages: Sequence[tuple[str, str, bytes]]) -> tuple[float, list[float]]:
    """Send every message over CLIENTS connections as fast as each is answered; returns
    the seconds to the last 250 and each message's send time (perf_counter)."""
    sent = [0.0] * len(messages)
    ready = threading.Barrier(CLIENTS + 1)

    def client(k: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
            smtp.ehlo()
            ready.wait()
            for n in range(k, len(messages), CLIENTS):
                mail_from, to, data = messages[n]
                sent[n] = time.perf_counter()
                smtp.sendmail(mail_from, [to], data)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, sent


def tree_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of `pid` and every process below it, by pid."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = raw.rindex(")")
        fields = raw[name_end + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        name = raw[raw.index("(") + 1 : name_end]
        stats[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    found = {pid}
    grew = True
    while grew:
        below = {p for p, parent in parents.items() if parent in found} - found
        grew = bool(below)
        found |= below
    return {p: stats[p] for p in found if p in stats}


def settled(pid: int, timeout: float = 30.0) -> dict[int, tuple[str, float]]:
    """`tree_cpu(pid)` once the tree has stopped spending CPU (its processes started)."""
    last = tree_cpu(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(pid)
        if sum(t for _, t in now.values()) - sum(t for _, t in last.values()) < 0.02:
            return now
        last = now
    return last


def messages(senders: list[tuple[str, str]]) -> list[tuple[str, str, bytes]]:
    picks = [senders[n % len(senders)] for n in range(BURST)]
    return [(s, to, reply(s, to, n)) for n, (s, to) in enumerate(picks)]


def sink_run(mail: list[tuple[str, str, bytes]]) -> float:
    port = free_port()
    here = Path(__file__).resolve().parent
    sink = subprocess.Popen([sys.executable, str(here / "bench_load.py"), "--sink", str(port)],
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for_port(port, sink)
        return burst(port, mail)[0]
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)


class Acks(threading.Thread):
    """Watches the maildir and notes when each reply's acknowledgement appears."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder, self.seen, self.at = folder, set[str](), dict[int, float]()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for path in self.folder.glob("*.eml") if self.folder.is_dir() else ():
                if path.name not in self.seen:
                    self.seen.add(path.name)
                    found = MSGID.search(path.read_bytes()[:8192])
                    if found:
                        self.at[int(found.group(1))] = time.perf_counter()
            self.halt.wait(0.005)


def server_run(
    app: App, mail: list[tuple[str, str, bytes]], *, store_only: bool
) -> tuple[float, float, list[float], dict[int, tuple[str, float]], int]:
    """Burst `mail` at `mailflow serve`; returns (seconds to the last 250, seconds to the
    last acknowledgement, ack latencies, CPU by process over the burst, processed)."""
    port = free_port()
    config = str(app.settings.path("mailflow.toml"))
    command = [MAILFLOW, "--config", config, "serve", "--port", str(port), "--quiet"]
    command += ["--no-process"] if store_only else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    acks = Acks(app.settings.maildir)
    try:
        wait_for_port(port, server)
        before = settled(server.pid)  # the worker processes have started
        acks.start()
        start = time.perf_counter()
        taken, sent = burst(port, mail)
        deadline = time.monotonic() + (0 if store_only else 600)
        while len(acks.at) < len(mail) and time.monotonic() < deadline:
            time.sleep(0.01)
        done = max(acks.at.values(), default=start) - start
        after = tree_cpu(server.pid)
    finally:
        acks.halt.set()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    cpu = {p: (name, t - before.get(p, (name, 0.0))[1]) for p, (name, t) in after.items()}
    latencies = [acks.at[n] - sent[n] for n in sorted(acks.at)]
    processed = sum(n for status, n in statuses(app).items() if status == "processed")
    return taken, done, latencies, cpu, processed


def quantile(values: list[float], q: int) -> float:
    return 1000 * statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else 0.0


def main() -> int:
    app = installation(rate_limit=True)
    mail = messages(setup(app))
    bare = sink_run(mail)
    stored, _, _, store_cpu, _ = server_run(app, mail, store_only=True)
    app.close()
    app = installation(rate_limit=True)
    mail = messages(setup(app))
    taken, done, latencies, cpu, processed = server_run(app, mail, store_only=False)
    app.close()
    main_pid = min(cpu)  # the server itself: its children came later
    store_ms = 1000 * sum(t for _, t in store_cpu.values()) / BURST
    server_ms = 1000 * cpu[main_pid][1] / BURST
    children_ms = 1000 * sum(t for p, (_, t) in cpu.items() if p != main_pid) / BURST
    print(f"bench_pipeline: a burst of {BURST} replies of ~5 KB over {CLIENTS} connections, "
          "flood limit on (SQLite)")  # fmt: skip
    print(f"  bare aiosmtpd sink            {BURST / bare:8.1f} replies/s")
    print(f"  serve --no-process (to 250)   {BURST / stored:8.1f} replies/s   "
          f"ratio {bare / stored:5.2f}")  # fmt: skip
    print(f"  serve, to the 250             {BURST / taken:8.1f} replies/s   "
          f"ratio {bare / taken:5.2f}")  # fmt: skip
    print(f"  serve, to the last ack        {BURST / done:8.1f} replies/s   "
          f"ratio {bare / done:5.2f}   ({processed} processed, "
          f"{len(latencies)} acknowledged)")  # fmt: skip
    print(f"  ack latency                   p50 {quantile(latencies, 50):7.0f} ms   "
          f"p99 {quantile(latencies, 99):7.0f} ms")  # fmt: skip
    print(f"  CPU per reply: listen and store {store_ms:5.2f} ms (store-only server); "
          f"end to end {server_ms + children_ms:5.2f} ms = listener {server_ms:5.2f} ms "
          f"+ worker processes and reader {children_ms:5.2f} ms")  # fmt: skip
    lost = BURST - len(latencies)
    if lost or processed != BURST:
        print(f"FAIL: {lost} replies without an acknowledgement, {processed} processed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
