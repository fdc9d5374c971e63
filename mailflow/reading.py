"""Reading inbound mail within a time budget, in a child process.

Reading a message (MIME parsing and the reply reader's patterns, `ingest.read`) is the
part of processing that depends on what a stranger wrote. It runs in a child process so
that a message that takes longer than `[inbound] processing_budget_seconds` (or crashes
the reader) costs only that message: the child is killed and replaced, the message is
set aside as failed with the reason, and the next one is read as usual. Python's `re`
holds the interpreter lock while it matches, so a thread could not be stopped, and it
would stop the SMTP listener too.

Children are forked from a fork server that has imported the reader once, so a new
child is ready in milliseconds and never inherits the server's threads or connections.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import threading
import time
from dataclasses import dataclass

from mailflow import ingest

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mailflow.reading"])


class BudgetExceeded(Exception):
    """Reading one message took longer than the budget, or killed its reader."""


@dataclass(frozen=True)
class Pending:
    """A message handed to the reader, to be read as soon as the child is free (see
    `BoundedReader.submit`)."""

    args: tuple[bytes, str, bytes | None]
    pool: multiprocessing.pool.Pool
    result: multiprocessing.pool.AsyncResult[tuple[ingest.Reading, float]]


def timed_read(raw: bytes, mail_from: str, original: bytes | None) -> tuple[ingest.Reading, float]:
    """`ingest.read`, and the seconds it took (run in the child)."""
    start = time.perf_counter()
    reading = ingest.read(raw, mail_from, original)
    return reading, time.perf_counter() - start


class BoundedReader:
    """Reads messages with `ingest.read` in a child process, each within `budget` seconds.

    Messages may be handed over before their reading is wanted (`submit`), so that the
    child reads the next ones while the caller records the last: the child takes them in
    the order given. A reading asked for (`result`) is waited for at most the budget; one
    that the child finished earlier but that took longer than the budget counts as over
    it all the same.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._pool: multiprocessing.pool.Pool | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Start the child (and, the first time, the fork server: a second or so) in the
        background now, so that the first message read after a start does not wait."""
        threading.Thread(target=self._warm_up, name="mailflow-reader-start", daemon=True).start()

    def _warm_up(self) -> None:
        with self._lock:
            if self._pool is None and not self._closed:
                self._pool = _CONTEXT.Pool(processes=1)

    def read(self, raw: bytes, mail_from: str, original: bytes | None = None) -> ingest.Reading:
        """The message's reading (`original`: the mail of ours it answers, if known);
        `BudgetExceeded` if it took too long (the child is replaced). An
        exception of the reader itself is raised as it is."""
        return self.result(self.submit(raw, mail_from, original))

    def submit(self, raw: bytes, mail_from: str, original: bytes | None = None) -> Pending:
        """Hand the message to the child, to be read after those handed over before."""
        with self._lock:
            return self._submit((raw, mail_from, original))

    def result(self, pending: Pending) -> ingest.Reading:
        """The reading of a message handed over (read again if its child has been
        replaced since); as `read`."""
        with self._lock:
            if pending.pool is not self._pool:
                pending = self._submit(pending.args)
            try:
                reading, seconds = pending.result.get(timeout=self.budget)
            except multiprocessing.TimeoutError:
                self._stop_pool()
                raise BudgetExceeded(f"reading it took over {self.budget:g} s") from None
            if seconds > self.budget:
                raise BudgetExceeded(f"reading it took over {self.budget:g} s")
            return reading

    def _submit(self, args: tuple[bytes, str, bytes | None]) -> Pending:
        if self._pool is None:
            self._pool = _CONTEXT.Pool(processes=1)
        return Pending(args, self._pool, self._pool.apply_async(timed_read, args))

    def close(self) -> None:
        """Stop the child process (a warm-up not yet done starts none)."""
        with self._lock:
            self._closed = True
            self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
