"""The processing worker: stored messages through the ingest pipeline.

The listener stores a message, answers 250 and wakes the worker; the database is the
queue. The worker takes the oldest new messages a few at a time, reads each (in a child
process, within `[inbound] processing_budget_seconds`: see `reading`) and runs the
pipeline over them in one transaction; on SQLite (one worker) the next batch is handed
to the reader before this one is recorded, so reading and recording overlap. It runs as
a thread (`mailflow inbox process`, a server embedded in a program) or as the main job
of a worker process that `mailflow serve` starts and supervises (see `supervisor`). On
PostgreSQL several workers share the queue: each takes its batch with `FOR UPDATE SKIP
LOCKED`, so they never wait on each other's messages (and `ingest.process_batch` never
processes one twice).

No message can stop the others:
- one that takes too long to read is set aside as failed with the reason;
- one whose processing met a failure of the moment (a locked database, a full disk, no
  file handles) stays `new`, and is taken up again after `[inbound] retry_seconds`,
  waiting twice as long after each failure, and the log says so;
- one still `new` when a worker starts is counted, and set aside once it has been
  taken up at `[inbound] max_start_attempts` starts (it may be what stopped the worker).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import addresses, ingest, sentmail
from mailflow.app import App
from mailflow.models import InboundMessage
from mailflow.reading import BoundedReader, BudgetExceeded, Pending

log = logging.getLogger(__name__)


class Wakeup(Protocol):
    """What wakes a worker: a `threading.Event`, or a `multiprocessing` one shared with
    the listener's process."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def take_up_leftovers(app: App) -> list[int]:
    """At a worker's start: count every message still new as taken up once more, set
    aside those taken up too often (logged), and return the ids of all of them."""
    inbound = app.settings.inbound
    with app.writing() as session:
        again, aside = ingest.take_up_leftovers(
            session, max_attempts=inbound.max_start_attempts, now=app.now()
        )
    for inbound_id in aside:
        log.warning("message %d set aside: still unprocessed after %d start(s)",
                    inbound_id, inbound.max_start_attempts)  # fmt: skip
    return sorted(again + aside)


class Processor:
    """A thread that processes new stored messages, oldest first, whenever woken (and
    every `POLL_SECONDS`, for mail stored by another process).

    Up to `BATCH` messages (and no more than `BATCH_BYTES` of mail) are processed in one
    transaction (see `ingest.process_batch`).
    """

    BATCH = 5  # bench_load: 5 takes more mail with a lower p99 to 250 than 20 (SQLite)
    BATCH_BYTES = 2 * 1024 * 1024  # and no more than this much mail (bench_memory)
    POLL_SECONDS = 1.0
    MAX_RETRY_WAIT = 3600.0  # seconds: the longest a message waits between tries

    def __init__(
        self, app: App, *, wakeup: Wakeup | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.wakeup: Wakeup = wakeup if wakeup is not None else threading.Event()
        self.after_batch = after_batch  # e.g. wake delivery: acknowledgements are queued
        self.stopping = threading.Event()
        self.idle = threading.Event()  # set while nothing is claimable
        self.thread = threading.Thread(target=self._run, name="mailflow-ingest", daemon=True)
        self.reader = BoundedReader(app.settings.inbound.processing_budget_seconds)
        self.retries: dict[int, tuple[int, float]] = {}  # id -> (failures, next try)
        self.ahead: dict[int, Pending] = {}  # the next batch, handed to the reader early
        self.skip_locked = app.engine.dialect.name == "postgresql"

    def start(self) -> None:
        """Start the worker (callers take up leftovers first: `take_up_leftovers`)."""
        self.reader.start()
        self.thread.start()

    def wake(self) -> None:
        """A message was stored: process it now."""
        self.idle.clear()
        self.wakeup.set()

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.wakeup.clear()
            try:
                while not self.stopping.is_set() and self._process_next():
                    pass
            except Exception:  # the database is away: try again after the poll
                log.exception("could not take up new messages")
            self.wakeup.wait(self._wait())

    def _wait(self) -> float:
        """Seconds until the next poll, or until a message waiting to be retried is due."""
        now = time.monotonic()
        later = [next_try - now for _, next_try in self.retries.values() if next_try > now]
        return min([self.POLL_SECONDS, *later])

    def _process_next(self) -> bool:
        """Take and process the next batch; False when there was nothing to take."""
        with self.app.session() as session:
            ids = self._next(session, lock=self.skip_locked)
            if not ids:
                self.ahead = {}
                self.idle.set()
                return False
            self.idle.clear()
            for inbound_id in ids:
                if inbound_id in self.retries:
                    log.info("message %d was left unprocessed by an earlier failure; trying "
                             "again (try %d)", inbound_id, self.retries[inbound_id][0])  # fmt: skip
            ahead, self.ahead = self.ahead, {}
            pending = ahead | self._submit(session, [i for i in ids if i not in ahead])
            readings, aside = [], {}
            for inbound_id in ids:
                try:
                    readings.append((inbound_id, self._reading(pending.get(inbound_id))))
                except BudgetExceeded as exc:
                    aside[inbound_id] = f"{exc}; set aside unread"
            if not self.skip_locked:
                # SQLite has one worker: the reader reads the next batch meanwhile
                self.ahead = self._submit(session, self._next(session, after=ids[-1]))
                session.rollback()  # the write below takes its own turn
            with self.app.write_guard():
                if aside:
                    self._set_aside(session, aside)
                ingest.process_batch(session, self.app.settings, readings, now=self.app.now())
        self._after(ids)
        if self.after_batch is not None:
            self.after_batch()
        return True

    def _next(self, session: Session, *, after: int = 0, lock: bool = False) -> list[int]:
        """The ids of the next batch: the oldest new messages (after id `after`) not
        waiting to be retried; with `lock`, locked by this transaction (PostgreSQL:
        others skip them)."""
        query = (
            select(InboundMessage.id, func.length(InboundMessage.raw))
            .where(InboundMessage.status == "new", InboundMessage.id > after,
                   InboundMessage.id.not_in(self._waiting()))
            .order_by(InboundMessage.id)
            .limit(self.BATCH)
        )  # fmt: skip
        if lock:
            query = query.with_for_update(skip_locked=True)
        ids: list[int] = []
        size = 0
        for inbound_id, length in session.execute(query):
            if ids and size + (length or 0) > self.BATCH_BYTES:
                break
            ids.append(inbound_id)
            size += length or 0
        return ids

    def _submit(self, session: Session, ids: Sequence[int]) -> dict[int, Pending]:
        """Hand the stored messages `ids` to the reader, each with the mail of ours it
        answers (so the pipeline need not look it up and read the message again), oldest
        first as the child reads them."""
        if not ids:
            return {}
        stored = session.execute(
            select(InboundMessage.id, InboundMessage.raw, InboundMessage.mail_from,
                   InboundMessage.rcpt)
            .where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)
        ).all()  # fmt: skip
        settings = self.app.settings
        return {
            inbound_id: self.reader.submit(
                raw, mail_from, sentmail.original_mail(session, settings, rcpt.split("\n"))
            )
            for inbound_id, raw, mail_from, rcpt in stored
        }

    def _waiting(self) -> list[int]:
        """Messages waiting to be retried, not to be taken before their time."""
        now = time.monotonic()
        return [i for i, (_, next_try) in list(self.retries.items()) if next_try > now]

    def _reading(self, pending: Pending | None) -> ingest.Reading | None:
        """A message's reading, read before the write so stores are not kept waiting
        (None: the pipeline reads it, and meets any problem of the reader's and records
        it); `BudgetExceeded` if that took longer than the budget."""
        if pending is None:
            return None
        try:
            reading = self.reader.result(pending)
        except BudgetExceeded:
            raise
        except Exception:
            return None
        return dataclasses.replace(reading, looked_up=True)  # none found: not looked up again

    def _set_aside(self, session: Session, reasons: dict[int, str]) -> None:
        """Set aside, committed at once, the messages that could not be read in time."""
        for inbound_id, reason in reasons.items():
            row = session.get(InboundMessage, inbound_id)
            if row is not None and row.status == "new":
                ingest.set_aside(row, reason, self.app.now())
        session.commit()

    def _after(self, ids: Sequence[int]) -> None:
        """Log one line per message taken (its id, what it was sent to, what became of
        it); a message left new by a failure of the moment waits to be tried again."""
        mail = self.app.settings.mail
        with self.app.session() as session:
            rows = session.execute(
                select(InboundMessage.id, InboundMessage.rcpt, InboundMessage.status,
                       InboundMessage.outcome, InboundMessage.error)
                .where(InboundMessage.id.in_(ids))
            ).all()  # fmt: skip
        wait = float(self.app.settings.inbound.retry_seconds)
        for inbound_id, rcpt, status, outcome, error in rows:
            if status == "new":
                tries, _ = self.retries.get(inbound_id, (0, 0.0))
                delay = min(wait * 2**tries, self.MAX_RETRY_WAIT)
                self.retries[inbound_id] = (tries + 1, time.monotonic() + delay)
                continue
            self.retries.pop(inbound_id, None)
            if log.isEnabledFor(logging.INFO):
                purpose = addresses.describe_recipients(rcpt.split("\n"), mail.address,
                                                        mail.secret)  # fmt: skip
                log.info("message %d to %s: %s (%s)", inbound_id, purpose, status,
                         outcome or error or "-")  # fmt: skip

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Wait until nothing stored is left to process now (messages waiting to be
        retried apart); False on timeout (None: wait as long as it takes)."""
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while time.monotonic() < deadline:
            if self.idle.wait(0.01) and not self.wakeup.is_set() and not self._claimable():
                return True
        return False

    def _claimable(self) -> bool:
        with self.app.session() as session:
            found = session.scalar(
                select(InboundMessage.id)
                .where(InboundMessage.status == "new",
                       InboundMessage.id.not_in(self._waiting()))
                .limit(1)
            )  # fmt: skip
        if found is not None:
            self.idle.clear()
            self.wakeup.set()
        return found is not None

    def stop(self) -> None:
        """Finish the batch in hand, then stop the worker and its reader."""
        self.stopping.set()
        self.wakeup.set()
        if self.thread.is_alive():
            self.thread.join(timeout=60)
        self.reader.close()
