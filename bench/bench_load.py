"""Sustained load on `mailflow serve`: N connections for T seconds, against a bare sink.

The real console script runs as its own process (store, then process, as deployed) and
so does a bare aiosmtpd sink that only counts; the same clients drive both with small
member replies (each a unique message) over N connections opened before the clock
starts, each sending as fast as it is answered. Prints, for each server: messages
taken (250), refused and failed sends, latency of a whole transaction up to the 250
(p50/p99), throughput and its ratio to the sink; for mailflow also the RSS of the
server process sampled over the run, and how long processing took to catch up.

Fails (exit 1) if any message was refused, or any 250 has no stored row, or any stored
message failed processing. MAILFLOW_BENCH_SHORT=1: 10 connections for 5 seconds (CI);
otherwise 50 for 60. MAILFLOW_BENCH_DATABASE_URL=postgresql+psycopg://... runs
mailflow on PostgreSQL (in a schema of its own) instead of a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, CountingHandler, free_port, installation

from mailflow import addresses, meetings, members
from mailflow.app import App

CLIENTS = 10 if SHORT else 50
SECONDS = 5.0 if SHORT else 60.0
CATCH_UP = 6.0 if SHORT else 900.0  # how long processing may take to catch up afterwards
SENDERS = 50
MAILFLOW = str(Path(sys.executable).parent / "mailflow")
REPLY = (
    "From: Member {k} <{sender}>\r\nTo: <{to}>\r\nSubject: Re: Call for items ({n})\r\n"
    "Message-ID: <load-{n}@school.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Q: How do other schools handle the new attendance codes ({n})? [5m]\r\n"
    "We have looked at this across the trust and would value a comparison.\r\n\r\n"
    "Item: Moderation of Year 6 writing\r\n\r\nThanks,\r\nMember {k}\r\n\r\n"
    "On Mon, 2 Nov 2026, Eastleigh DHT Group wrote:\r\n> Reply to this message with your items.\r\n"
)


@dataclass
class Load:
    """What the clients saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> int:
        return len(self.latencies)

    def quantile(self, q: int) -> float:
        """The q-th percentile latency in milliseconds."""
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else 0.0)
        return 1000 * statistics.quantiles(self.latencies, n=100)[q - 1]


def drive(port: int, senders: list[tuple[str, str]], clients: int, seconds: float) -> Load:
    """`clients` connections send replies as fast as they are answered for `seconds`."""
    load = Load()
    ready = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(k: int) -> None:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
        smtp.ehlo()
        ready.wait()
        n, mine = k, []
        while not stop.is_set():
            sender, to = senders[n % len(senders)]
            data = REPLY.format(k=n % len(senders), sender=sender, to=to, n=n).encode()
            started = time.perf_counter()
            try:
                smtp.sendmail(sender, [to], data)
                mine.append(time.perf_counter() - started)
            except smtplib.SMTPResponseException as exc:
                with load.lock:
                    load.refused[f"{exc.smtp_code}"] += 1
            except (smtplib.SMTPException, OSError) as exc:
                with load.lock:
                    load.refused[type(exc).__name__] += 1
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
            n += clients
        smtp.quit()
        with load.lock:
            load.latencies += mine

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - started
    return load


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


class Sampler(threading.Thread):
    """Samples a process's RSS every `every` seconds until stopped."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.perf_counter() - self.start_time, rss_kib(self.pid)))
            self.halt.wait(self.every)

    def stop(self) -> list[tuple[float, int]]:
        self.halt.set()
        self.join()
        return self.samples


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"the server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def run_sink(port: int) -> None:
    """`bench_load.py --sink PORT`: the bare baseline, in a process of its own."""
    from aiosmtpd.controller import Controller

    controller = Controller(CountingHandler(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def setup(app: App) -> list[tuple[str, str]]:
    """Fifty members and a meeting; each member's (address, signed reply address)."""
    with app.session() as session:
        meeting = meetings.add_meeting(session, app.settings, title="Load",
                                       start="2027-06-17 16:00", now=app.now())  # fmt: skip
        mail = app.settings.mail
        found = []
        for k in range(SENDERS):
            person = members.add_member(session, email=f"m{k}@school{k}.example",
                                        name=f"Member {k}", now=app.now())  # fmt: skip
            token = addresses.ReplyToken("c", meeting.id, person.id)
            found.append((person.email, addresses.reply_address(mail.address, mail.secret, token)))
        return found


def on_database(app: App, url: str) -> App:
    """The same installation moved to `url` (a fresh schema of its own on PostgreSQL)."""
    from sqlalchemy import create_engine, text

    schema = "mailflow_bench_load"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    config = app.settings.path("mailflow.toml")
    separator = "&" if "?" in url else "?"
    scoped = f"{url}{separator}options=-csearch_path%3D{schema}"
    lines = config.read_text(encoding="utf-8").splitlines()
    lines = [f'url = "{scoped}"' if line.startswith("url = ") else line for line in lines]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app.close()
    return App.open(config)


def statuses(app: App) -> Counter[str]:
    from sqlalchemy import func, select

    from mailflow.models import InboundMessage

    with app.session() as session:
        rows = session.execute(
            select(InboundMessage.status, func.count()).group_by(InboundMessage.status)
        ).all()
    return Counter({status: count for status, count in rows})


def measure_mailflow(
    app: App, senders: list[tuple[str, str]], clients: int, seconds: float, *, store_only: bool
) -> tuple[Load, list[tuple[float, int]], float, Counter[str]]:
    """Load `mailflow serve`, then wait for processing to catch up (or give up)."""
    port = free_port()
    config = app.settings.path("mailflow.toml")
    command = [MAILFLOW, "--config", str(config), "serve", "--port", str(port)]
    command += ["--no-process"] if store_only else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, server)
        sampler = Sampler(server.pid, every=max(0.25, seconds / 40))
        sampler.start()
        load = drive(port, senders, clients, seconds)
        deadline = time.monotonic() + (0 if store_only else CATCH_UP)
        while statuses(app)["new"] and time.monotonic() < deadline:
            time.sleep(0.1)
        caught_up = sampler.samples[-1][0] if sampler.samples else 0.0
        samples = sampler.stop()
        counts = statuses(app)
    finally:
        # A backlog left when we give up is stored: the next start processes it
        # (tests/test_crash.py), so the bench need not wait for it.
        busy = statuses(app)["new"] and not store_only
        server.send_signal(signal.SIGKILL if busy else signal.SIGTERM)
        server.wait(timeout=120)
    return load, samples, caught_up, counts


def measure_sink(senders: list[tuple[str, str]], clients: int, seconds: float) -> Load:
    port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port)],
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for_port(port, sink)
        return drive(port, senders, clients, seconds)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=30)


def rss_report(samples: list[tuple[float, int]], seconds: float) -> list[str]:
    """A few RSS samples over the load, and the growth after the warm-up fifth."""
    during = [(t, kib) for t, kib in samples if t <= seconds] or samples
    picks = [during[round(i * (len(during) - 1) / 5)] for i in range(6)]
    series = "  ".join(f"{t:4.0f}s {kib / 1024:5.1f}" for t, kib in picks)
    warm = next(kib for t, kib in during if t >= seconds / 5) if during[-1][0] >= seconds / 5 else 0
    growth = (during[-1][1] - warm) / warm * 100 if warm else 0.0
    peak = max(kib for _, kib in samples) / 1024
    return [
        f"  RSS MiB over the load        {series}",
        f"  RSS growth after warm-up     {growth:+8.1f} %   (peak {peak:.1f} MiB)",
    ]


def fresh(url: str) -> tuple[App, list[tuple[str, str]]]:
    """A new installation (on `url` if given) with its members."""
    app = installation()
    if url:
        app = on_database(app, url)
    return app, setup(app)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return 0
    url = os.environ.get("MAILFLOW_BENCH_DATABASE_URL", "")
    clients, seconds = args.clients, args.seconds

    app, senders = fresh(url)
    bare = measure_sink(senders, clients, seconds)
    front, _, _, front_counts = measure_mailflow(app, senders, clients, seconds, store_only=True)
    database = app.engine.dialect.name
    app.close()
    app, senders = fresh(url)
    ours, samples, caught_up, counts = measure_mailflow(app, senders, clients, seconds,
                                                        store_only=False)  # fmt: skip
    app.close()
    stored = sum(counts.values())
    lost = ours.accepted - stored
    front_lost = front.accepted - sum(front_counts.values())
    processed = sum(n for status, n in counts.items() if status != "new")

    print(f"bench_load: {clients} connections for {seconds:.0f} s, small replies ({database})")
    rows = (("bare aiosmtpd sink", bare), ("serve --no-process", front), ("mailflow serve", ours))
    for name, load in rows:
        rate = load.accepted / load.seconds
        refused = sum(load.refused.values())
        print(f"  {name:<20} {rate:8.1f} msg/s  250s {load.accepted:6d}  refused {refused}  "
              f"p50 {load.quantile(50):6.1f} ms  p99 {load.quantile(99):6.1f} ms")  # fmt: skip
    for name, load in rows[1:]:
        ratio = (load.accepted / load.seconds) / (bare.accepted / bare.seconds)
        print(f"  ratio {name + '/bare':<22} {ratio:8.2f}")
    print(
        f"  serve: stored {stored} of {ours.accepted} taken (lost {lost}), "
        f"--no-process: {sum(front_counts.values())} of {front.accepted} (lost {front_lost})"
    )
    print(f"  serve: statuses {dict(counts)}")
    rate = processed / caught_up if caught_up else 0.0
    if counts["new"]:
        print(f"  processing had not caught up {CATCH_UP:.0f} s after the load: {processed} "
              f"of {stored} processed ({rate:.1f}/s); the rest stays stored")  # fmt: skip
    else:
        print(f"  processing caught up {caught_up - ours.seconds:5.1f} s after the load "
              f"({rate:.1f} processed/s overall)")  # fmt: skip
    for line in rss_report(samples, ours.seconds):
        print(line)
    refused = sum(sum(load.refused.values()) for _, load in rows)
    bad = refused + abs(lost) + abs(front_lost) + counts["failed"]
    if bad:
        print(f"FAIL: refused {refused}, lost {lost} + {front_lost}, failed {counts['failed']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
