"""The processing worker of `mailflow serve`: stored messages through the ingest pipeline.

The listener stores a message and answers 250; this worker then reads it (in a child
process, within `[inbound] processing_budget_seconds`: see `reading`) and runs the
pipeline over it, a few messages per transaction. No message can stop the others:

- one that takes too long to read is set aside as failed with the reason;
- one whose processing met a failure of the moment (a locked database, a full disk, no
  file handles) stays `new`, and a sweep every `[inbound] retry_seconds` takes it up
  again, waiting twice as long after each failure, and says so in the log;
- one still `new` when the server starts again is counted, and set aside once it has
  been taken up at `[inbound] max_start_attempts` starts (it may be what stopped us).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from mailflow import addresses, ingest, sentmail
from mailflow.app import App
from mailflow.models import InboundMessage
from mailflow.reading import BoundedReader, BudgetExceeded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """A stored message waiting to be processed; `raw` is None when it must be read back
    from the database (messages left over from before a restart, or swept up)."""

    inbound_id: int
    raw: bytes | None = None
    mail_from: str = ""
    size: int = 0  # bytes, when known: large messages are processed one at a time
    rcpt: tuple[str, ...] = ()  # envelope recipients, when `raw` is given


class Processor:
    """A worker thread that runs the ingest pipeline over stored messages in order.

    Whatever has queued up while it worked is processed together, up to `BATCH`
    messages in one transaction (see `ingest.process_batch`).
    """

    BATCH = 5  # bench_load: 5 takes more mail with a lower p99 to 250 than 20 (SQLite)
    BATCH_BYTES = 2 * 1024 * 1024  # and no more than this much mail (bench_memory)
    MAX_RETRY_WAIT = 3600.0  # seconds: the longest a swept message waits between tries

    def __init__(self, app: App, *, after_batch: Callable[[], None] | None = None) -> None:
        self.app = app
        self.after_batch = after_batch  # e.g. wake the delivery loop: acknowledgements are queued
        self.queue: queue.Queue[Stored | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="mailflow-ingest", daemon=True)
        self.reader = BoundedReader(app.settings.inbound.processing_budget_seconds)
        self.busy = 0
        self.lock = threading.Lock()
        self.queued: set[int] = set()  # ids queued or in hand: the sweep leaves them alone
        self.failures: dict[int, tuple[int, float]] = {}  # swept id -> (tries, next try)
        self.next_sweep = time.monotonic() + app.settings.inbound.retry_seconds

    def start(self) -> list[int]:
        """Start the worker and queue whatever was stored but never processed; returns
        the ids of those messages (processed from now on, or set aside at once)."""
        inbound = self.app.settings.inbound
        with self.app.writing() as session:
            again, aside = ingest.take_up_leftovers(
                session, max_attempts=inbound.max_start_attempts, now=self.app.now()
            )
        for inbound_id in aside:
            log.warning("message %d set aside: still unprocessed after %d start(s)",
                        inbound_id, inbound.max_start_attempts)  # fmt: skip
        for inbound_id in again:
            self.submit(Stored(inbound_id))
        self.thread.start()
        return sorted(again + aside)

    def submit(self, stored: Stored) -> None:
        """Queue a stored message for processing."""
        with self.lock:
            self.busy += 1
            self.queued.add(stored.inbound_id)
        self.queue.put(stored)

    def _run(self) -> None:
        while batch := self._next_batch():
            ids = [stored.inbound_id for stored in batch]
            try:
                readings = [(stored.inbound_id, self._read(stored)) for stored in batch]
                with self.app.writing() as session:
                    ingest.process_batch(session, self.app.settings, readings,
                                         now=self.app.now())  # fmt: skip
            except Exception:  # left 'new': the sweep takes them up again
                log.exception("could not process inbound messages %s", ids)
            else:
                self._log_outcomes(ids)
                if self.after_batch is not None:
                    self.after_batch()
            finally:
                with self.lock:
                    self.busy -= len(batch)
                    self.queued.difference_update(ids)

    def _next_batch(self) -> list[Stored]:
        """Wait for a message (sweeping now and then), then take whatever else is queued
        (up to BATCH messages or BATCH_BYTES); [] once the worker is told to stop."""
        batch: list[Stored] = []
        interval = self.app.settings.inbound.retry_seconds
        while True:
            if interval and time.monotonic() >= self.next_sweep:  # busy or idle alike
                self.next_sweep = time.monotonic() + interval
                self._sweep()
            try:
                stored = self.queue.get(timeout=interval or None)
                break
            except queue.Empty:
                continue
        size = 0
        while stored is not None:
            batch.append(stored)
            size += stored.size
            if len(batch) == self.BATCH or size >= self.BATCH_BYTES:
                break
            try:
                stored = self.queue.get_nowait()
            except queue.Empty:
                break
        if stored is None:
            self.queue.put(None)  # stop after this batch
        return batch

    def _sweep(self) -> None:
        """Queue again the messages a failure of the moment left `new`, each after a wait
        that doubles with every failure."""
        wait = float(self.app.settings.inbound.retry_seconds)
        now = time.monotonic()
        try:
            with self.app.session() as session:
                left = ingest.unprocessed(
                    session, received_before=self.app.now() - timedelta(seconds=wait)
                )
        except Exception:
            log.exception("could not look for messages left unprocessed")
            return
        self.failures = {i: f for i, f in self.failures.items() if i in left}
        with self.lock:
            due = [i for i in left if i not in self.queued]
        for inbound_id in due:
            tries, next_try = self.failures.get(inbound_id, (0, now))
            if next_try > now:
                continue
            self.failures[inbound_id] = (tries + 1, now + min(wait * 2**tries, self.MAX_RETRY_WAIT))
            log.info("message %d was left unprocessed by an earlier failure; trying again "
                     "(try %d)", inbound_id, tries + 1)  # fmt: skip
            self.submit(Stored(inbound_id))

    def _read(self, stored: Stored) -> ingest.Reading | None:
        """Read the message before taking the write lock, so stores are not kept waiting;
        one that takes longer than the budget is set aside here and never processed."""
        raw, mail_from, rcpt = stored.raw, stored.mail_from, stored.rcpt
        with self.app.session() as session:
            if raw is None:
                row = session.get(InboundMessage, stored.inbound_id)
                if row is None:
                    return None
                raw, mail_from, rcpt = row.raw, row.mail_from, tuple(row.rcpt.split("\n"))
            # read once, knowing the mail of ours it answers (the pipeline would otherwise
            # read a reply to a signed address a second time)
            original = sentmail.original_mail(session, self.app.settings, rcpt)
        try:
            reading = self.reader.read(raw, mail_from, original)
        except BudgetExceeded as exc:
            self._set_aside(stored.inbound_id, f"{exc}; set aside unread")
            return None
        except Exception:  # the pipeline will meet the same problem and record it
            return None
        return dataclasses.replace(reading, looked_up=True)  # none found: not looked up again

    def _set_aside(self, inbound_id: int, reason: str) -> None:
        with self.app.writing() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is not None and row.status == "new":
                ingest.set_aside(row, reason, self.app.now())

    def _log_outcomes(self, ids: list[int]) -> None:
        """One line per message taken: its id, what it was sent to, and what became of it."""
        if not log.isEnabledFor(logging.INFO):
            return
        mail = self.app.settings.mail
        with self.app.session() as session:
            rows = session.execute(
                select(InboundMessage.id, InboundMessage.rcpt, InboundMessage.status,
                       InboundMessage.outcome, InboundMessage.error)
                .where(InboundMessage.id.in_(ids))
            ).all()  # fmt: skip
        for inbound_id, rcpt, status, outcome, error in rows:
            if status == "new":
                continue  # not processed this time: the sweep says when it tries again
            purpose = addresses.describe_recipients(rcpt.split("\n"), mail.address, mail.secret)
            log.info("message %d to %s: %s (%s)", inbound_id, purpose, status,
                     outcome or error or "-")  # fmt: skip

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued message has been processed; False on timeout (None:
        wait as long as it takes)."""
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while time.monotonic() < deadline:
            with self.lock:
                if self.busy == 0:
                    return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Finish what is queued, then stop the worker and its reader."""
        self.queue.put(None)
        if self.thread.is_alive():
            self.thread.join(timeout=60)
        self.reader.close()
