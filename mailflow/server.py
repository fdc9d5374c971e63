"""The inbound mail server: aiosmtpd (SMTP or LMTP) in front of the ingest pipeline.

Recipients are checked at RCPT: only the bare group address and verified reply
addresses are accepted (550 otherwise, so we are never a relay). At DATA the raw
message is committed to the database *before* we answer 250; processing runs after,
on a worker thread, off the SMTP path. Any exception of ours answers 451 4.3.0 with no
internal detail, so the sender retries instead of bouncing.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from mailflow import addresses, ingest
from mailflow.app import App
from mailflow.delivery_loop import DeliveryLoop
from mailflow.models import InboundMessage

log = logging.getLogger(__name__)

TEMPFAIL = "451 4.3.0 Temporary error; please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down; please try again later"


@dataclass(frozen=True)
class Stored:
    """A stored message waiting to be processed; `raw` is None when it must be read back
    from the database (messages left over from before a restart)."""

    inbound_id: int
    raw: bytes | None = None
    mail_from: str = ""


class Processor:
    """A worker thread that runs the ingest pipeline over stored messages in order.

    Whatever has queued up while it worked is processed together, up to `BATCH`
    messages in one transaction (see `ingest.process_batch`).
    """

    BATCH = 5  # bench_load: 5 takes more mail with a lower p99 to 250 than 20 (SQLite)

    def __init__(self, app: App, *, after_batch: Callable[[], None] | None = None) -> None:
        self.app = app
        self.after_batch = after_batch  # e.g. wake the delivery loop: acknowledgements are queued
        self.queue: queue.Queue[Stored | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="mailflow-ingest", daemon=True)
        self.busy = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the worker and queue whatever was stored but never processed."""
        with self.app.session() as session:
            for inbound_id in ingest.unprocessed(session):
                self.submit(Stored(inbound_id))
        self.thread.start()

    def submit(self, stored: Stored) -> None:
        """Queue a stored message for processing."""
        with self.lock:
            self.busy += 1
        self.queue.put(stored)

    def _run(self) -> None:
        while batch := self._next_batch():
            try:
                readings = [(stored.inbound_id, self._read(stored)) for stored in batch]
                with self.app.writing() as session:
                    ingest.process_batch(session, self.app.settings, readings,
                                         now=self.app.now())  # fmt: skip
            except Exception:  # the messages stay 'new' and are retried at the next start
                log.exception("could not process inbound messages %s",
                              [stored.inbound_id for stored in batch])  # fmt: skip
            else:
                self._log_outcomes([stored.inbound_id for stored in batch])
                if self.after_batch is not None:
                    self.after_batch()
            finally:
                with self.lock:
                    self.busy -= len(batch)

    def _log_outcomes(self, ids: list[int]) -> None:
        """One line per message taken: its id, what it was sent to, and what became of it."""
        if not log.isEnabledFor(logging.INFO):
            return
        mail = self.app.settings.mail
        with self.app.session() as session:
            rows = session.execute(
                select(InboundMessage.id, InboundMessage.rcpt, InboundMessage.status,
                       InboundMessage.outcome).where(InboundMessage.id.in_(ids))
            ).all()  # fmt: skip
        for inbound_id, rcpt, status, outcome in rows:
            purpose = addresses.describe_recipients(rcpt.split("\n"), mail.address, mail.secret)
            log.info("message %d to %s: %s (%s)", inbound_id, purpose, status, outcome or "-")

    def _next_batch(self) -> list[Stored]:
        """Wait for a message, then take whatever else is queued (up to BATCH); [] once
        the worker is told to stop."""
        batch: list[Stored] = []
        stored = self.queue.get()
        while stored is not None:
            batch.append(stored)
            if len(batch) == self.BATCH:
                break
            try:
                stored = self.queue.get_nowait()
            except queue.Empty:
                break
        if stored is None:
            self.queue.put(None)  # stop after this batch
        return batch

    def _read(self, stored: Stored) -> ingest.Reading | None:
        """Parse the message before taking the write lock, so stores are not kept waiting."""
        raw, mail_from = stored.raw, stored.mail_from
        if raw is None:
            with self.app.session() as session:
                row = session.get(InboundMessage, stored.inbound_id)
                if row is None:
                    return None
                raw, mail_from = row.raw, row.mail_from
        try:
            return ingest.read(raw, mail_from)
        except Exception:  # the pipeline will meet the same problem and record it
            return None

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued message has been processed; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.busy == 0:
                    return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        self.queue.put(None)
        if self.thread.is_alive():
            self.thread.join(timeout=60)


class InboundHandler:
    """aiosmtpd handler: RCPT checks, store-then-250, and safe exception answers."""

    def __init__(self, app: App, processor: Processor | None, *, lmtp: bool = False) -> None:
        self.app = app
        self.processor = processor  # None: store only (`mailflow serve --no-process`)
        self.lmtp = lmtp
        self.closing = False
        self.in_flight = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return SHUTTING_DOWN
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in address):  # NUL, CR, ESC...
            return "501 5.1.7 Bad sender address syntax"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        mail = self.app.settings.mail
        found = addresses.classify_recipient(address, mail.address, mail.secret)
        if found is None:
            domain = address.rpartition("@")[2].strip(">").lower()
            if domain != mail.domain:
                return "550 5.7.1 Relaying denied"
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from, rcpt_tos = envelope.mail_from or "", list(envelope.rcpt_tos)
        self.in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            inbound_id = await loop.run_in_executor(None, self._store, mail_from, rcpt_tos, raw)
        except Exception:
            log.exception("could not store an inbound message")
            return self._per_recipient(envelope, TEMPFAIL)
        finally:
            self.in_flight -= 1
        if self.processor is not None:
            self.processor.submit(Stored(inbound_id, raw, mail_from))
        return self._per_recipient(envelope, f"250 2.0.0 Stored as message {inbound_id}")

    def _per_recipient(self, envelope: Envelope, status: str) -> str:
        # RFC 2033: after DATA, an LMTP server answers once per accepted recipient.
        if self.lmtp and len(envelope.rcpt_tos) > 1:
            return "\r\n".join([status] * len(envelope.rcpt_tos))
        return status

    def _store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> int:
        with self.app.writing() as session:
            return ingest.store(session, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw,
                                now=self.app.now())  # fmt: skip

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return TEMPFAIL


class _Controller(Controller):
    """aiosmtpd's threaded controller, making an LMTP server when asked."""

    def __init__(self, handler: InboundHandler, *, lmtp: bool, **kwargs: Any) -> None:
        self.lmtp = lmtp
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cls = LMTP if self.lmtp else SMTP
        return cls(self.handler, **self.SMTP_kwargs)


class InboundServer:
    """The running inbound server: listener, handler and ingest worker together.

    With ``process=False`` the server only stores (the scale path: several storing front
    ends, and one `mailflow inbox process` that processes what they stored). With
    ``deliver=True`` it also delivers the outbox (`DeliveryLoop`), woken after every
    processed batch so that acknowledgements leave within seconds.
    """

    def __init__(
        self, app: App, *, host: str | None = None, port: int | None = None,
        lmtp: bool | None = None, process: bool = True, deliver: bool = False,
    ) -> None:  # fmt: skip
        cfg = app.settings.inbound
        self.app = app
        self.host = host or cfg.host
        self.port = cfg.port if port is None else port
        self.lmtp = cfg.protocol == "lmtp" if lmtp is None else lmtp
        self.process = process
        interval = app.settings.outbound.deliver_interval_seconds
        self.delivery = DeliveryLoop(app, interval=interval) if deliver else None
        self.processor = Processor(app, after_batch=self.delivery.wake if self.delivery else None)
        self.handler = InboundHandler(app, self.processor if process else None, lmtp=self.lmtp)
        self.controller = _Controller(
            self.handler, lmtp=self.lmtp, hostname=self.host, port=self.port,
            data_size_limit=cfg.max_message_bytes, enable_SMTPUTF8=True,
            tls_context=_tls_context(app), require_starttls=cfg.require_starttls,
            ident="mailflow ESMTP",
        )  # fmt: skip

    def start(self) -> None:
        """Start processing leftovers (unless only storing), then listen."""
        if self.process:
            self.processor.start()
        if self.delivery is not None:
            self.delivery.start()
        self.controller.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new mail, finish the messages in flight, then shut down."""
        self.handler.closing = True
        deadline = time.monotonic() + timeout
        while self.handler.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        self.controller.stop()
        self.processor.stop()
        if self.delivery is not None:
            self.delivery.stop()


def _tls_context(app: App) -> ssl.SSLContext | None:
    cfg = app.settings.inbound
    if not cfg.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(app.settings.path(cfg.tls_cert), app.settings.path(cfg.tls_key))
    return context
