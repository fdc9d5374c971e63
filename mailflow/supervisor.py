"""The worker processes of `mailflow serve`: processing and delivery beside the listener.

The listener's process only verifies and stores. Processing runs in `--workers N`
processes of its own (each a `worker.Processor`) and outbox delivery in one more (a
`delivery_loop.DeliveryLoop`), so neither takes the interpreter from the SMTP loop. The
listener wakes the processing workers after each store (an event the processes share),
and they wake delivery after each batch they commit.

The supervisor starts a process again whenever it dies, at once the first time and
after a pause that doubles while it keeps dying young. Before a processing worker starts
again, the messages still new are taken up once more (`worker.take_up_leftovers`), so a
message that keeps killing workers is set aside after `[inbound] max_start_attempts`.
Nothing is lost: a worker commits a batch as one transaction, so the batch it died in is
simply taken again, by it or by another worker.

Processes are spawned, not forked: a child never inherits the listener's threads,
sockets or database connections. A child ignores SIGINT and SIGTERM (the server stops
it in order) and stops by itself when the server's process has gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType

from mailflow.app import App
from mailflow.config import Settings
from mailflow.delivery_loop import DeliveryLoop
from mailflow.worker import Processor, take_up_leftovers

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class Child:
    """One supervised process: its role, its number among its kind, and its history."""

    role: str  # "processing" or "delivery"
    number: int
    stop: Event = field(default_factory=_CONTEXT.Event)
    process: SpawnProcess | None = None
    started: float = 0.0
    early_deaths: int = 0  # deaths in a row, each soon after its start
    restart_at: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.role} worker {self.number}"


class Supervisor:
    """Starts the worker processes, starts each again when it dies, and stops them in
    order: processing first (each finishes its batch), then delivery (one last pass)."""

    CHECK_SECONDS = 0.2
    YOUNG_SECONDS = 60.0  # a process that dies sooner than this is restarted after a pause
    MAX_PAUSE_SECONDS = 60.0

    def __init__(self, app: App, *, workers: int, deliver: bool) -> None:
        self.app = app
        self.inbox_ready = _CONTEXT.Event()  # set by the listener after each store
        self.outbox_ready = _CONTEXT.Event()  # set by processing after each batch
        self.children = [Child("processing", n + 1) for n in range(workers)]
        if deliver:
            self.children.append(Child("delivery", 1))
        self.done = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="mailflow-supervisor",
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        """Take up leftovers (if anything processes), then start every process."""
        if any(child.role == "processing" for child in self.children):
            take_up_leftovers(self.app)
        for child in self.children:
            self._spawn(child)
        self.watcher.start()

    def wake(self) -> None:
        """A message was stored: wake the processing workers."""
        self.inbox_ready.set()

    def _spawn(self, child: Child) -> None:
        level = logging.getLogger("mailflow").getEffectiveLevel()
        events = (self.inbox_ready, self.outbox_ready, child.stop)
        process = _CONTEXT.Process(
            target=run_child, args=(child.role, self.app.settings, level, events, os.getpid()),
            name=f"mailflow {child.name}",
        )  # fmt: skip
        process.start()
        child.process, child.started = process, time.monotonic()
        log.info("%s started (pid %s)", child.name, process.pid)

    def _watch(self) -> None:
        while not self.done.wait(self.CHECK_SECONDS):
            for child in self.children:
                try:
                    self._check(child)
                except Exception:  # e.g. the database is away: try again at the next check
                    log.exception("could not start the %s again", child.name)
                    child.restart_at = time.monotonic() + self.MAX_PAUSE_SECONDS

    def _check(self, child: Child) -> None:
        """Note a process that has died; start it again once its pause is over."""
        process, now = child.process, time.monotonic()
        if process is not None:
            if process.is_alive():
                return
            young = now - child.started < self.YOUNG_SECONDS
            child.early_deaths = child.early_deaths + 1 if young else 1
            pause = min(2.0 ** (child.early_deaths - 1) - 1, self.MAX_PAUSE_SECONDS)
            log.warning("%s (pid %s) stopped (%s); starting it again%s", child.name,
                        process.pid, _describe_exit(process.exitcode),
                        f" in {pause:g} s" if pause else "")  # fmt: skip
            process.close()
            child.process, child.restart_at = None, now + pause
        if now >= child.restart_at and not self.done.is_set():
            if child.role == "processing":
                take_up_leftovers(self.app)
            self._spawn(child)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop processing (each worker finishes its batch), then delivery (after one
        last pass); a process still running at `timeout` is killed."""
        self.done.set()
        if self.watcher.is_alive():
            self.watcher.join()
        deadline = time.monotonic() + timeout
        for role in ("processing", "delivery"):
            children = [c for c in self.children if c.role == role and c.process is not None]
            for child in children:
                child.stop.set()
            self.inbox_ready.set()
            self.outbox_ready.set()
            for child in children:
                assert child.process is not None
                child.process.join(max(0.0, deadline - time.monotonic()))
                if child.process.is_alive():
                    log.warning("%s did not stop in time; killing it", child.name)
                    child.process.kill()
                    child.process.join(5)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _wait_for_the_server(signum: int, frame: FrameType | None) -> None:
    """A worker's answer to SIGINT and SIGTERM: none (the server stops it in order)."""


def run_child(
    role: str, settings: Settings, level: int, events: tuple[Event, Event, Event],
    parent: int,
) -> None:  # fmt: skip
    """The body of a worker process: process stored mail, or deliver the outbox, until
    told to stop or until the server's process has gone."""
    # Ctrl-C and a service manager's SIGTERM reach every process of the group: the server
    # stops its workers in order, so they wait for it. A handler that does nothing, not
    # SIG_IGN, which the reader's fork server and children would inherit: they must still
    # stop on SIGTERM when a reading over its budget has its child killed.
    signal.signal(signal.SIGINT, _wait_for_the_server)
    signal.signal(signal.SIGTERM, _wait_for_the_server)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("mailflow").setLevel(level)
    inbox_ready, outbox_ready, stop = events
    app = App.from_settings(settings)
    part: Processor | DeliveryLoop
    if role == "processing":
        part = Processor(app, wakeup=inbox_ready, after_batch=outbox_ready.set)
    else:
        interval = settings.outbound.deliver_interval_seconds
        part = DeliveryLoop(app, interval=interval, wakeup=outbox_ready)
    part.start()
    try:
        while not stop.wait(1.0) and os.getppid() == parent:
            pass
    finally:
        part.stop()
        app.close()
