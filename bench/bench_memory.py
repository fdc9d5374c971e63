"""Peak memory of `mailflow serve` while many maximum-size messages arrive at once.

Twelve clients (four in short mode) each send one message just under the size limit
(a member's resource: a large base64 attachment) at the same moment; a client answered
451 (too much mail in flight) tries again half a second later, as an MTA would. The same
load goes to a bare aiosmtpd sink that keeps nothing, in a process of its own. Prints each
server's peak resident memory (the mailflow server with its reader child) and the ratio,
and how the bytes-in-flight limit made clients wait.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import smtplib
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, counting_sink, free_port, installation

CLIENTS = int(os.environ.get("MAILFLOW_BENCH_CLIENTS", "4" if SHORT else "12"))
SIZE = (8 if SHORT else 24) * 1024 * 1024
MEMBER = "jane.smith@hamble.hants.sch.uk"
GROUP = "dht@example.org"


def big_message(n: int) -> bytes:
    """A member's mail with an attachment that brings it to about SIZE bytes."""
    data = base64.encodebytes(os.urandom(SIZE * 3 // 4 - 4096)).replace(b"\n", b"\r\n")
    return (
        (
            f"From: Jane Smith <{MEMBER}>\r\nTo: <{GROUP}>\r\nSubject: Slides {n}\r\n"
            f"Message-ID: <big-{n}@school.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\nThe slides from today.\r\n--b\r\n"
            'Content-Type: application/pdf; name="slides.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + data
        + b"--b--\r\n"
    )


def peak_mib(pid: int) -> tuple[int, int]:
    """Peak resident memory (VmHWM) of a process, and the sum of the peaks of every
    process it started (shared pages counted in each), in MiB."""
    pids = {pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _ancestor(_parent(int(entry.name)), pids):
            pids.add(int(entry.name))
    peaks = {p: _vm_hwm(p) for p in pids}
    return peaks[pid] // 1024, sum(kib for p, kib in peaks.items() if p != pid) // 1024


def _vm_hwm(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _ancestor(ppid: int, pids: set[int]) -> bool:
    while ppid > 1:
        if ppid in pids:
            return True
        ppid = _parent(ppid)
    return False


def run_server(kind: str, port: int, ready: object, done: object, result: object) -> None:
    """In a child process: serve until `done`, then report the peak memory."""
    if kind == "sink":
        controller, _handler = counting_sink()
        port_used = controller.port
    else:
        from mailflow import members
        from mailflow.server import InboundServer

        app = installation()
        with app.session() as session:
            members.add_member(session, email=MEMBER, name="Jane Smith", now=app.now())
        server = InboundServer(app, port=port)
        server.start()
        port_used = server.port
    ready.put(port_used)  # type: ignore[attr-defined]
    done.wait()  # type: ignore[attr-defined]
    if kind != "sink":
        server.drain(timeout=300)
    result.put(peak_mib(os.getpid()))  # type: ignore[attr-defined]
    if kind == "sink":
        controller.stop()
    else:
        server.stop()


def load(port: int, messages: list[bytes]) -> tuple[float, int]:
    """Send every message at once, one client each; seconds taken and 451 answers."""
    refused = [0]

    def client(raw: bytes) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                    smtp.sendmail(MEMBER, [GROUP], raw)
                return
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code != 451:
                    raise
                refused[0] += 1
                time.sleep(0.5)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, refused[0]


def measure(kind: str, messages: list[bytes]) -> tuple[tuple[int, int], float, int]:
    """Peak MiB of one server kind under the load (itself, its children), seconds, and
    451 answers."""
    ctx = multiprocessing.get_context("spawn")
    ready, done, result = ctx.Queue(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=run_server, args=(kind, free_port(), ready, done, result))
    child.start()
    port = ready.get(timeout=60)
    seconds, refused = load(port, messages)
    done.set()
    peak = result.get(timeout=600)
    child.join(timeout=60)
    return peak, seconds, refused


def main() -> None:
    messages = [big_message(n) for n in range(CLIENTS)]
    (sink, _), sink_s, _ = measure("sink", messages)
    (server, children), seconds, refused = measure("mailflow", messages)
    print(f"memory: {CLIENTS} concurrent messages of {SIZE // 2**20} MiB")
    print(f"  bare aiosmtpd sink: peak {sink} MiB, {sink_s:.1f} s")
    print(f"  mailflow serve (store + process): peak {server} MiB, its reader processes "
          f"{children} MiB; {seconds:.1f} s, {refused} answer(s) 451 retried")  # fmt: skip
    print(f"  ratio mailflow/sink peak memory (server process): {server / sink:.2f}")


if __name__ == "__main__":
    main()
