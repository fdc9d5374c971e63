"""The outbox: every outgoing mail is queued here before anything is delivered.

`enqueue` stores one message; `fan_out` queues one message per recipient of a mailing,
idempotently (a row per (mailing, recipient)) and resumably (committed in batches); a
recipient whose message cannot be built (an address stored before it was validated) is
skipped with a warning, and everyone else still gets theirs.
`deliver` claims due rows (safe with several workers: one conditional UPDATE, and
``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and hands them to a transport: a maildir
folder of `.eml` files, or an SMTP relay over a small pool of connections that stay
open from one batch to the next (and, in the server's delivery loop, from one pass to
the next while they are in use). 4xx replies and connection failures are retried with
exponential backoff; 5xx replies mark the message failed with the server's answer.
Claims and outcomes are committed on a connection of their own that does not wait for
the disk on SQLite (`db.relaxed_connection`: a power cut may send a mail again, never
lose one).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import os
import queue
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import cast

from sqlalchemy import ColumnElement, Connection, Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow import compose, db, files
from mailflow.config import Settings
from mailflow.models import Blob, Mailing, MailingRecipient, OutboxMessage

LEASE = timedelta(minutes=10)  # a claimed row that was never finished is retried after this
BATCH = 200

log = logging.getLogger(__name__)


def _address(msg: EmailMessage, header: str) -> str:
    """The address (addr-spec) of `msg`'s `header`, "" if it has none."""
    return parseaddr(str(msg[header] or ""))[1]


def store_blob(session: Session, data: bytes) -> str:
    """Encode `data` once as base64 lines and keep it for sharing; returns its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    if session.get(Blob, sha) is None:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        session.add(Blob(sha256=sha, encoded=encoded, size=len(data)))
        session.flush()
    return sha


@dataclass(frozen=True)
class Delivery:
    """One claimed message on its way out; shared blobs are put in place only when sent."""

    outbox_id: int
    recipient: str
    raw: bytes
    blobs: Mapping[str, bytes]

    def message(self) -> bytes:
        """The message as it goes out, with every shared blob in place of its marker."""
        raw = self.raw
        for sha, encoded in self.blobs.items():
            raw = raw.replace(compose.blob_marker(sha) + b"\r\n", encoded, 1)
        return raw


def _deliveries(conn: Connection, ids: Sequence[int]) -> list[Delivery]:
    """The messages of these outbox rows as they go out (columns read, no ORM objects)."""
    rows = conn.execute(
        select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.raw, OutboxMessage.blobs)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()
    needed = {sha for row in rows for sha in row.blobs.split(",") if sha}
    found: dict[str, bytes] = {}
    if needed:
        query = select(Blob.sha256, Blob.encoded).where(Blob.sha256.in_(needed))
        found = {sha: encoded for sha, encoded in conn.execute(query)}
    missing = needed - found.keys()
    if missing:
        raise LookupError(f"shared attachment {sorted(missing)[0]} is missing")
    return [
        Delivery(r.id, r.recipient, r.raw, {s: found[s] for s in r.blobs.split(",") if s})
        for r in rows
    ]


OUTBOX = cast(Table, OutboxMessage.__table__)
# `enqueue`'s statement: built once, run with each row's values; on the table directly
_ENQUEUE = insert(OUTBOX).returning(OUTBOX.c.id)


def enqueue(
    session: Session,
    msg: EmailMessage | compose.Wire,
    *,
    now: datetime,
    mailing: Mailing | None = None,
    blobs: Sequence[str] = (),
) -> int:
    """Store `msg` (as built, or already written: `compose.build_wire`) as a queued
    outbox row, the caller commits; returns the row's id.

    One INSERT on the table, built once: no ORM object is made for the row. `mailing`
    must be stored already; `blobs` names the shared parts (see `store_blob`) the
    message refers to.
    """
    values = _queued(msg, now=now, mailing=mailing, blobs=blobs)
    return int(session.execute(_ENQUEUE, values).scalar_one())


def _queued(
    msg: EmailMessage | compose.Wire, *, now: datetime, mailing: Mailing | None,
    blobs: Sequence[str],
) -> dict[str, object]:  # fmt: skip
    """The outbox row's values for `msg`, queued and due at `now`."""
    if isinstance(msg, EmailMessage):
        msg = compose.Wire(compose.to_bytes(msg), _address(msg, "To"), str(msg["Subject"] or ""),
                           str(msg["Message-ID"] or ""), _address(msg, "Reply-To"))  # fmt: skip
    return {
        "mailing_id": mailing.id if mailing else None,
        "recipient": msg.recipient,
        "subject": msg.subject,
        "message_id": msg.message_id,
        "reply_address": msg.reply_address.lower() or None,
        "blobs": ",".join(blobs),
        "raw": msg.raw,
        "status": "queued",
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": now,
        "claimed_by": "",
        "created_at": now,
    }


def get_mailing(
    session: Session, *, key: str, kind: str, now: datetime, meeting_id: int | None = None,
    content_hash: str = "",
) -> Mailing:  # fmt: skip
    """The mailing with this key, created (and committed) if it does not exist yet.

    Two processes creating the same mailing at once both end up with the one row.
    """
    for _ in range(2):
        mailing = session.scalar(select(Mailing).where(Mailing.key == key))
        if mailing is not None:
            return mailing
        session.add(Mailing(key=key, kind=kind, meeting_id=meeting_id,
                            content_hash=content_hash, created_at=now))  # fmt: skip
        try:
            session.commit()
        except IntegrityError:  # someone else created it first
            session.rollback()
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    assert mailing is not None
    return mailing


def pending_recipients(session: Session, mailing: Mailing, recipients: Iterable[str]) -> list[str]:
    """Those of `recipients` not yet queued for `mailing`, in the given order."""
    done = set(
        session.scalars(
            select(MailingRecipient.recipient).where(MailingRecipient.mailing_id == mailing.id)
        )
    )
    return [r for r in recipients if r.lower() not in done]


@dataclass(frozen=True)
class Skipped:
    """A recipient left out of a mailing because their message could not be built."""

    recipient: str
    reason: str

    def __str__(self) -> str:
        return f"{self.recipient!r}: {self.reason}"


SkipHook = Callable[[Skipped], None] | None


def describe_skips(skipped: Sequence[Skipped]) -> str:
    """One line naming every skipped recipient and why, e.g. for a command to print."""
    return f"skipped {len(skipped)}: " + "; ".join(str(s) for s in skipped)


def try_build(build: Callable[[str], EmailMessage], recipient: str) -> EmailMessage | Skipped:
    """`build(recipient)`, or why it could not be built from the stored data.

    Only the errors bad data causes (an address or header value the email package
    refuses) are caught; anything else is a fault that stops the run.
    """
    try:
        return build(recipient)
    except (ValueError, MessageError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Skipped(recipient, f"cannot build the message: {reason}")


def fan_out(
    session: Session,
    mailing: Mailing,
    recipients: Sequence[str],
    build: Callable[[str], EmailMessage],
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    blobs: Sequence[str] = (),
    on_skip: SkipHook = None,
) -> int:
    """Queue `build(recipient)` for every recipient not yet queued for `mailing`.

    `blobs` names the shared parts (see `store_blob`) every message refers to.
    A recipient whose message cannot be built is logged, passed to `on_skip` and left
    pending (a re-run after the data is fixed queues theirs); the others are queued.

    Each recipient's outbox row and its (mailing, recipient) row are written in the same
    transaction, committed every `BATCH` recipients, so a crash loses nothing and a
    re-run queues only the rest. If another process queues the same recipients at the
    same time, the unique (mailing, recipient) row makes one of the two batches roll
    back whole, and this run carries on with what is still pending.
    Returns how many messages this run queued.
    """
    queued = 0
    skipped: dict[str, Skipped] = {}  # by recipient: a retried batch meets them again
    for _attempt in range(5):
        batch: list[tuple[str, EmailMessage]] = []
        try:
            for recipient in pending_recipients(session, mailing, recipients):
                msg = try_build(build, recipient)
                if isinstance(msg, Skipped):
                    skipped[recipient] = msg
                else:
                    batch.append((recipient, msg))
                    if len(batch) == BATCH:
                        queued += _queue_batch(session, mailing, batch, now=now, blobs=blobs)
                        batch = []
                if progress:
                    progress(1)
            queued += _queue_batch(session, mailing, batch, now=now, blobs=blobs)
            mailing.completed_at = now
            session.commit()
            _report_skips(mailing, skipped.values(), on_skip)
            return queued
        except IntegrityError:
            session.rollback()
    raise RuntimeError(f"mailing {mailing.key}: recipients kept colliding with another run")


def _queue_batch(
    session: Session, mailing: Mailing, batch: Sequence[tuple[str, EmailMessage]], *,
    now: datetime, blobs: Sequence[str],
) -> int:  # fmt: skip
    """Insert the outbox rows and their (mailing, recipient) rows of a batch, each kind
    in one statement, and commit; returns how many were queued."""
    if not batch:
        return 0
    values = [_queued(msg, now=now, mailing=mailing, blobs=blobs) for _, msg in batch]
    ids = session.scalars(
        insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True), values
    ).all()
    session.execute(insert(MailingRecipient), [
        {"mailing_id": mailing.id, "recipient": recipient.lower(), "outbox_id": outbox_id}
        for (recipient, _), outbox_id in zip(batch, ids, strict=True)
    ])  # fmt: skip
    session.commit()
    return len(batch)


def _report_skips(mailing: Mailing, skipped: Iterable[Skipped], on_skip: SkipHook) -> None:
    for skip in skipped:
        log.warning("mailing %s: skipped %s", mailing.key, skip)
        if on_skip:
            on_skip(skip)


# --- delivery -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to."""

    outbox_id: int
    ok: bool
    permanent: bool = False
    error: str = ""


class Transport:
    """Something that delivers outbox rows and reports each outcome."""

    def send_all(self, rows: Iterable[Delivery]) -> Iterator[list[Outcome]]:
        """Deliver each message, yielding outcomes as soon as they are known: each list
        holds those known since the previous one (so the caller writes them together).

        `rows` is taken from as the transport needs more (between yields, so a lazy
        iterable may claim more rows from the database the caller uses). Never raises
        for one message's failure.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Let go of anything kept open between batches (connections)."""


class MaildirTransport(Transport):
    """Writes each message as one owner-only `.eml` file, atomically (temp file, then rename)."""

    GROUP = 20  # files written per reported group: writing one again only replaces it

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send_all(self, rows: Iterable[Delivery]) -> Iterator[list[Outcome]]:
        """Write every message to `<folder>/<id>.eml`."""
        pending = iter(rows)
        while group := list(itertools.islice(pending, self.GROUP)):
            yield list(self._write(group))

    def _write(self, rows: Sequence[Delivery]) -> Iterator[Outcome]:
        tmp = files.private_dir(self.folder / ".tmp")
        for row in rows:
            outbox_id = row.outbox_id
            final = self.folder / f"{outbox_id:06d}.eml"
            partial = tmp / f"{outbox_id:06d}.{os.getpid()}.eml"
            try:
                with files.open_private(partial) as fh:
                    fh.write(row.message())
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(partial, final)
                yield Outcome(outbox_id, ok=True)
            except OSError as exc:
                yield Outcome(outbox_id, ok=False, error=f"maildir: {exc}")


class SmtpTransport(Transport):
    """Sends through an SMTP relay over `connections` sessions in parallel.

    Sessions stay open between batches (and between calls) until `close`: a fan-out
    of many batches opens `connections` sessions, not that many per batch. A session
    idle for over `CHECK_IDLE` seconds is checked with NOOP before it is used again,
    and one idle for over `MAX_IDLE` is closed (relays drop idle clients themselves).
    """

    CHECK_IDLE = 2.0
    MAX_IDLE = 60.0
    AHEAD = BATCH  # messages taken from `send_all`'s rows before earlier ones are answered

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.outbound
        self.sender = settings.mail.address
        self.idle: list[tuple[smtplib.SMTP, float]] = []  # open sessions, last used at
        self.lock = threading.Lock()
        self.opened = 0  # sessions opened so far

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=60)
        with self.lock:
            self.opened += 1
        if self.cfg.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if self.cfg.username:
            smtp.login(self.cfg.username, self.cfg.password())
        return smtp

    def _take(self) -> smtplib.SMTP | None:
        """An open session to reuse (checked if it has been idle), or None."""
        while True:
            with self.lock:
                if not self.idle:
                    return None
                smtp, used = self.idle.pop()
            idle = time.monotonic() - used
            if idle > self.MAX_IDLE:
                _close(smtp)
            elif idle <= self.CHECK_IDLE or _alive(smtp):
                return smtp

    def _give_back(self, smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            with self.lock:
                self.idle.append((smtp, time.monotonic()))

    def close(self) -> None:
        """Quit every session kept open."""
        with self.lock:
            sessions, self.idle = self.idle, []
        for smtp, _used in sessions:
            _close(smtp)

    def _work(self, work: queue.Queue[Delivery | None], done: queue.Queue[Outcome | None]) -> None:
        """Send what `work` holds until a None, on one session (reused, or opened when
        first needed); each outcome goes to `done`, then a None."""
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._take()
            while (row := work.get()) is not None:
                outcome, smtp = self._send_one(smtp, row)
                done.put(outcome)
        except Exception:
            log.exception("an SMTP session stopped")
        finally:
            self._give_back(smtp)
            done.put(None)  # always: the reader counts finished workers

    def _send_one(
        self, smtp: smtplib.SMTP | None, row: Delivery
    ) -> tuple[Outcome, smtplib.SMTP | None]:
        """Send one message on the session (opened if need be); returns the session to reuse."""
        try:
            if smtp is None:
                smtp = self._connect()
            smtp.sendmail(self.sender, [row.recipient], row.message())
            return Outcome(row.outbox_id, ok=True), smtp
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _smtp_outcome(row.outbox_id, code, reply), smtp
        except smtplib.SMTPResponseException as exc:
            return _smtp_outcome(row.outbox_id, exc.smtp_code, exc.smtp_error), _reset(smtp)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            _close(smtp)
            return Outcome(row.outbox_id, ok=False, error=f"connection: {exc}"), None

    def send_all(self, rows: Iterable[Delivery]) -> Iterator[list[Outcome]]:
        """Send over up to `connections` sessions, each taking the next message as soon
        as it is free, so no session waits on another; `rows` is read ahead by up to
        `AHEAD` messages (a claim of the next batch happens while this one is sent).

        Outcomes are yielded as messages are answered: whatever was answered while the
        caller wrote down the previous ones, so a crash repeats at most the messages
        answered during one such write. If the caller stops early, the messages not yet
        handed to a session are not sent.
        """
        work: queue.Queue[Delivery | None] = queue.Queue()
        done: queue.Queue[Outcome | None] = queue.Queue()
        pending, workers, finished, ahead, more = iter(rows), 0, 0, 0, True
        try:
            while True:
                while more and ahead < self.AHEAD:
                    row = next(pending, None)
                    if row is None:
                        more = False
                        break
                    work.put(row)
                    ahead += 1
                    if workers < min(max(1, self.cfg.connections), ahead):
                        threading.Thread(target=self._work, args=(work, done), daemon=True,
                                         name="mailflow-smtp").start()  # fmt: skip
                        workers += 1
                if not more and ahead == 0:
                    return
                ready = [done.get()]
                while not done.empty():
                    ready.append(done.get_nowait())
                finished += ready.count(None)
                outcomes = [o for o in ready if o is not None]
                ahead -= len(outcomes)
                if outcomes:
                    yield outcomes
                if finished:  # a session stopped before it was told to: a fault
                    raise RuntimeError("an SMTP session stopped (see the log)")
        finally:
            _drain(work)  # on an early stop; empty otherwise
            for _ in range(workers):
                work.put(None)
            while finished < workers:
                finished += done.get() is None


def _drain(work: queue.Queue[Delivery | None]) -> None:
    """Take every message still waiting out of `work`."""
    while True:
        try:
            work.get_nowait()
        except queue.Empty:
            return


def _smtp_outcome(outbox_id: int, code: int, reply: bytes | str) -> Outcome:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return Outcome(outbox_id, ok=False, permanent=500 <= code < 600, error=f"{code} {text}")


def _reset(smtp: smtplib.SMTP | None) -> smtplib.SMTP | None:
    """After a refused message, RSET keeps the session; a broken one is dropped."""
    if smtp is None:
        return None
    try:
        smtp.rset()
        return smtp
    except (smtplib.SMTPException, OSError):
        _close(smtp)
        return None


def _alive(smtp: smtplib.SMTP) -> bool:
    """Whether a session kept open still answers (closed if it does not)."""
    try:
        if smtp.noop()[0] == 250:
            return True
    except (smtplib.SMTPException, OSError):
        pass
    _close(smtp)
    return False


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def make_transport(settings: Settings) -> Transport:
    """The transport `[outbound] transport` names."""
    if settings.outbound.transport == "smtp":
        return SmtpTransport(settings)
    return MaildirTransport(settings.maildir)


def worker_id() -> str:
    """Who claims outbox rows: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_local_workers(executor: Session | Connection, now: datetime) -> list[str]:
    """Claimers on this host whose process is gone (killed mid-delivery)."""
    claimers = executor.scalars(
        select(OutboxMessage.claimed_by)
        .where(OutboxMessage.status == "queued", OutboxMessage.claimed_until >= now)
        .distinct()
    ).all()
    host = socket.gethostname()
    dead = []
    for claimer in claimers:
        claim_host, _, pid = claimer.rpartition(":")
        if claim_host != host or not pid.isdigit() or claimer == worker_id():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(claimer)
        except PermissionError:  # alive, someone else's
            pass
    return dead


def _unclaimed(executor: Session | Connection, now: datetime) -> ColumnElement[bool]:
    """Rows no live worker holds: never claimed, lease run out, or claimer gone."""
    return or_(
        OutboxMessage.claimed_until.is_(None),
        OutboxMessage.claimed_until < now,
        OutboxMessage.claimed_by.in_(_dead_local_workers(executor, now)),
    )


def _claim_ids(executor: Session | Connection, *, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows for this worker, commit, and return their ids.

    A row is claimed by setting its lease with a conditional UPDATE, so two workers
    never take the same row; on PostgreSQL the candidates are also locked with
    ``FOR UPDATE SKIP LOCKED`` so workers do not even wait on each other. A lease runs
    out after `LEASE`; rows claimed by a process on this host that no longer exists are
    free at once.
    """
    free = _unclaimed(executor, now)
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now)
        .where(free)
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    candidates = list(executor.scalars(due))
    claimed: list[int] = []
    if candidates:
        claimed = list(executor.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), OutboxMessage.status == "queued")
            .where(free)
            .values(claimed_until=now + LEASE, claimed_by=worker_id())
            .returning(OutboxMessage.id)  # exactly the rows this statement took
            # Not evaluated against every row a session holds (quadratic over a run).
            .execution_options(synchronize_session=False)
        ))  # fmt: skip
    executor.commit()
    return sorted(claimed)


# Sent rows: one statement run once per row (cheaper than an expanding IN list to run).
_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"))
    .values(status="sent", sent_at=bindparam("now"), last_error="", claimed_until=None,
            attempts=OUTBOX.c.attempts + 1)
)  # fmt: skip


def record(
    conn: Connection, outcomes: Sequence[Outcome], *, settings: Settings, now: datetime
) -> int:
    """Write delivery outcomes back and commit: sent, queued again with backoff, or
    failed. Core statements on `conn`, no ORM objects; returns how many failed for good."""
    sent = [{"outbox_id": o.outbox_id, "now": now} for o in outcomes if o.ok]
    if sent:
        conn.execute(_SENT, sent)
    failed = 0
    refused = {o.outbox_id: o for o in outcomes if not o.ok}
    if refused:
        query = select(OUTBOX.c.id, OUTBOX.c.attempts).where(OUTBOX.c.id.in_(list(refused)))
        for outbox_id, attempts in conn.execute(query).all():
            outcome, attempts = refused[outbox_id], attempts + 1
            values: dict[str, object] = {"attempts": attempts, "claimed_until": None,
                                         "last_error": outcome.error}  # fmt: skip
            if outcome.permanent or attempts >= settings.outbound.max_attempts:
                values["status"] = "failed"
                failed += 1
            else:
                delay = settings.outbound.retry_base_seconds * 2 ** (attempts - 1)
                values["next_attempt_at"] = now + timedelta(seconds=delay)
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(values))
    conn.commit()
    return failed


@dataclass
class DeliveryReport:
    """Totals of one `deliver` run."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0


def deliver(
    session: Session,
    settings: Settings,
    *,
    now: datetime,
    transport: Transport | None = None,
    progress: Callable[[int], None] | None = None,
    guard: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> DeliveryReport:
    """Deliver everything due at `now`, claiming it batch by batch (the next batch while
    the transport still sends the last), until nothing due is left.

    `session` is committed first; rows are then claimed and their outcomes written on a
    connection of its own whose commits survive a crash of this process but not
    necessarily a power cut (`db.relaxed_connection`: a power cut may roll back the last
    few claims and marks, and those mails are sent again, as after a crash between a
    relay's 250 and the mark). Whatever `session` holds of the rows is read again when
    next used.

    `guard` is held around each write (each claim, each group of outcomes) and never
    while a message is on its way: `App.write_guard` in a process that also stores
    inbound mail. A `transport` given is left open (its sessions serve the next call);
    one made here is closed at the end.
    """
    own = transport is None
    transport = transport or make_transport(settings)
    report = DeliveryReport()
    try:
        with guard():
            session.commit()
        with db.relaxed_connection(session.get_bind().engine) as conn:
            for outcomes in transport.send_all(_claimed(conn, now, guard)):
                with guard():
                    failed = record(conn, outcomes, settings=settings, now=now)
                _count(outcomes, failed, report)
                if progress:
                    progress(len(outcomes))
        return report
    finally:
        _expire(session)
        if own:
            transport.close()


def _claimed(
    conn: Connection, now: datetime, guard: Callable[[], AbstractContextManager[None]]
) -> Iterator[Delivery]:
    """The messages due at `now`, claimed a batch at a time as they are asked for."""
    while True:
        with guard():
            ids = _claim_ids(conn, now=now, limit=BATCH)
        if not ids:
            return
        yield from _deliveries(conn, ids)


def _count(outcomes: Sequence[Outcome], failed: int, report: DeliveryReport) -> None:
    sent = sum(o.ok for o in outcomes)
    report.sent += sent
    report.failed += failed
    report.deferred += len(outcomes) - sent - failed


def _expire(session: Session) -> None:
    """Outbox rows the session holds are read again when next used (written elsewhere)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, OutboxMessage):
            session.expire(obj)


def retry_failed(session: Session, *, now: datetime) -> int:
    """Queue failed messages again (with fresh attempts) and make deferred ones due now.

    A row a live worker has claimed is left alone: that worker is sending it and will
    record the outcome, so releasing its lease would let a second worker send it again.
    Returns how many messages are queued for delivery now.
    """
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .values(status="queued", attempts=0, next_attempt_at=now, claimed_until=None)
    )
    deferred = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "queued", _unclaimed(session, now))
        .values(next_attempt_at=now)
    )
    session.commit()
    return int(deferred.rowcount)  # type: ignore[attr-defined]
