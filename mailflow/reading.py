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

from mailflow import ingest

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mailflow.ingest"])


class BudgetExceeded(Exception):
    """Reading one message took longer than the budget, or killed its reader."""


class BoundedReader:
    """Reads messages with `ingest.read` in a child process, each within `budget` seconds."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._pool: multiprocessing.pool.Pool | None = None
        self._lock = threading.Lock()

    def read(self, raw: bytes, mail_from: str, original: bytes | None = None) -> ingest.Reading:
        """The message's reading (`original`: the mail of ours it answers, if known);
        `BudgetExceeded` if it took too long (the child is replaced). An
        exception of the reader itself is raised as it is."""
        with self._lock:
            if self._pool is None:
                self._pool = _CONTEXT.Pool(processes=1)
            pending = self._pool.apply_async(ingest.read, (raw, mail_from, original))
            try:
                return pending.get(timeout=self.budget)
            except multiprocessing.TimeoutError:
                self._stop_pool()
                raise BudgetExceeded(f"reading it took over {self.budget:g} s") from None

    def close(self) -> None:
        """Stop the child process."""
        with self._lock:
            self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
