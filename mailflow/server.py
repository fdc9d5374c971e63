"""The inbound mail server: aiosmtpd (SMTP or LMTP) in front of the ingest pipeline.

Recipients are checked at RCPT: only the bare group address and verified reply
addresses are accepted (550 otherwise, so we are never a relay). At DATA the raw
message is committed to the database *before* we answer 250 (messages that arrive
while a commit is being written share the next one: `Storer`); processing runs after,
off the SMTP path: in worker processes (`supervisor`, as `mailflow serve` runs) or on a
worker thread (`worker.Processor`, a server embedded in a program or a test). Any
exception of ours answers 451 4.3.0 with no internal detail, so the sender retries
instead of bouncing.

Limits (`[inbound]`), so that no sender can take the server from the others:
- `max_connections` at once: one more is answered 421 and closed;
- `idle_timeout_seconds` between commands (aiosmtpd's timer, which a DATA phase does
  not reset: a sender trickling a byte at a time inside DATA is cut off by it), and
  `connection_time_limit_seconds` in all, per connection (421);
- `max_message_bytes` per message, and `stranger_max_message_bytes` for mail to the
  bare group address from an envelope sender who is not a member (552 at DATA);
- `max_bytes_in_flight`: what all transactions in DATA may hold at once. Each reserves
  its size limit (or, smaller, the SIZE its client declared, with a margin, which then
  becomes its limit); one that does not fit is answered 451 and its sender retries.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailflow import addresses, ingest, senders
from mailflow.app import App
from mailflow.delivery_loop import DeliveryLoop
from mailflow.members import find_member
from mailflow.supervisor import Supervisor
from mailflow.worker import Processor, take_up_leftovers

log = logging.getLogger(__name__)

TEMPFAIL = "451 4.3.0 Temporary error; please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down; please try again later"
TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections; please try again later\r\n"
TIME_LIMIT = b"421 4.4.2 Connection time limit exceeded; please try again later\r\n"
TOO_MUCH_IN_FLIGHT = "451 4.3.1 Too much mail arriving at once; please try again later"
SIZE_MARGIN = 16384  # bytes over a declared SIZE (and 10%) still taken: dot-stuffing, estimates


@dataclass
class Gate:
    """What all connections share: how many are open, how many bytes are reserved."""

    max_connections: int
    max_bytes_in_flight: int
    connections: int = 0
    bytes_in_flight: int = 0

    def reserve(self, size: int) -> bool:
        """Reserve `size` bytes for one transaction in DATA; False if they do not fit
        (one transaction alone always fits, so no setting can refuse every message)."""
        if self.bytes_in_flight and self.bytes_in_flight + size > self.max_bytes_in_flight:
            return False
        self.bytes_in_flight += size
        return True


class LimitedSMTP(SMTP):
    """aiosmtpd's protocol with the limits in the module docstring. Everything here runs
    on the server's event loop, so the shared `Gate` needs no lock."""

    gate: Gate
    time_limit: float
    max_message_bytes: int
    transaction_limit: int  # this transaction's size limit, set at MAIL and RCPT
    _counted = False
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # a new connection, not STARTTLS's second layer
            if self.gate.connections >= self.gate.max_connections:
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(TOO_MANY_CONNECTIONS)
                transport.close()
                return
            self.gate.connections += 1
            self._counted = True
            self._deadline = self.loop.call_later(self.time_limit, self._over_time)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._counted:
            return  # refused at connection_made: nothing was set up
        self._counted = False
        self.gate.connections -= 1
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(error)

    def _over_time(self) -> None:
        log.info("%r: connection time limit of %g s reached", self.session and self.session.peer,
                 self.time_limit)  # fmt: skip
        if self.transport is not None:
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(TIME_LIMIT)
            self.transport.close()

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        if arg or envelope is None or not envelope.rcpt_tos:
            await super().smtp_DATA(arg)  # its own 501/503 answers
            return
        size = min(self.transaction_limit, _declared_size(envelope) or self.transaction_limit)
        if not self.gate.reserve(size):
            await self.push(TOO_MUCH_IN_FLIGHT)
            return
        self.data_size_limit = size
        try:
            await super().smtp_DATA(arg)
        finally:
            self.gate.bytes_in_flight -= size
            self.data_size_limit = self.max_message_bytes


class LimitedLMTP(LimitedSMTP, LMTP):
    """LMTP with the server's limits."""


def _declared_size(envelope: Envelope) -> int | None:
    """The SIZE the client declared at MAIL FROM (RFC 1870), with a margin; None if none."""
    for option in envelope.mail_options:
        name, _, value = str(option).partition("=")
        if name.upper() == "SIZE" and value.isdigit() and len(value) < 16:
            return int(value) + int(value) // 10 + SIZE_MARGIN
    return None


class Storer:
    """Commits arriving messages, several in one transaction: those that arrive while a
    commit is being written wait for it to end and then share the next (a group commit,
    one INSERT), so a burst costs few disk syncs. Each caller gets its message's id only
    once its commit is done. A failed commit of several messages is tried again one
    message at a time, so one bad message cannot refuse the others.

    `store` is called on the server's event loop only, so `waiting` needs no lock; the
    commits run on the loop's thread pool.
    """

    MAX_MESSAGES = 50
    MAX_BYTES = 16 * 1024 * 1024

    def __init__(self, app: App) -> None:
        self.app = app
        self.waiting: list[tuple[ingest.Arrival, asyncio.Future[int]]] = []
        self.single = 0  # how many of the next batches hold one message (after a failure)
        self.task: asyncio.Task[None] | None = None

    async def store(self, arrival: ingest.Arrival) -> int:
        """Commit `arrival`; returns its id once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self.waiting.append((arrival, future))
        if self.task is None:
            self.task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                batch = self._take()
                try:
                    ids = await loop.run_in_executor(None, self._commit, [a for a, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                    else:
                        self.waiting[:0] = batch
                        self.single = len(batch)
                    continue
                for (_, future), inbound_id in zip(batch, ids, strict=True):
                    _settle(future, inbound_id)
        finally:
            self.task = None

    def _take(self) -> list[tuple[ingest.Arrival, asyncio.Future[int]]]:
        """The next batch: waiting messages up to MAX_MESSAGES and MAX_BYTES (at least one)."""
        limit = self.MAX_MESSAGES
        if self.single:
            self.single, limit = self.single - 1, 1
        size, count = 0, 0
        for arrival, _ in self.waiting[:limit]:
            if count and size + len(arrival.raw) > self.MAX_BYTES:
                break
            size, count = size + len(arrival.raw), count + 1
        batch, self.waiting = self.waiting[:count], self.waiting[count:]
        return batch

    def _commit(self, arrivals: list[ingest.Arrival]) -> list[int]:
        with self.app.writing() as session:
            return ingest.store_many(session, arrivals, now=self.app.now())


def _settle(future: asyncio.Future[int], outcome: int | Exception) -> None:
    """Give a waiting caller its id or its error (unless it has gone: a closed connection)."""
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class InboundHandler:
    """aiosmtpd handler: RCPT checks, store-then-250, and safe exception answers."""

    def __init__(self, app: App, stored: Callable[[], None] | None, *, lmtp: bool = False) -> None:
        self.app = app
        self.stored = stored  # wakes processing; None: store only (`serve --no-process`)
        self.lmtp = lmtp
        self.closing = False
        self.in_flight = 0
        self.storer = Storer(app)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return SHUTTING_DOWN
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in address):  # NUL, CR, ESC...
            return "501 5.1.7 Bad sender address syntax"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        if isinstance(server, LimitedSMTP):
            server.transaction_limit = server.max_message_bytes
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
        if found.bare and isinstance(server, LimitedSMTP):
            await self._limit_strangers(server, envelope.mail_from or "")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def _limit_strangers(self, server: LimitedSMTP, mail_from: str) -> None:
        """Mail to the bare group address from an envelope sender who is not an active
        member may be no larger than `stranger_max_message_bytes`."""
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._is_member, mail_from):
            cap = self.app.settings.inbound.stranger_max_message_bytes
            server.transaction_limit = min(server.transaction_limit, cap)

    def _is_member(self, address: str) -> bool:
        with self.app.session() as session:
            member = find_member(session, senders.envelope_address(address))
            return member is not None and member.active

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.in_flight += 1
        try:
            inbound_id = await self.storer.store(
                ingest.Arrival(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
            )
        except Exception:
            log.exception("could not store an inbound message")
            return self._per_recipient(envelope, TEMPFAIL)
        finally:
            self.in_flight -= 1
        if self.stored is not None:
            self.stored()
        return self._per_recipient(envelope, f"250 2.0.0 Stored as message {inbound_id}")

    def _per_recipient(self, envelope: Envelope, status: str) -> str:
        # RFC 2033: after DATA, an LMTP server answers once per accepted recipient.
        if self.lmtp and len(envelope.rcpt_tos) > 1:
            return "\r\n".join([status] * len(envelope.rcpt_tos))
        return status

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return TEMPFAIL


class _Controller(Controller):
    """aiosmtpd's threaded controller, making limited SMTP or LMTP protocol objects."""

    def __init__(self, handler: InboundHandler, *, lmtp: bool, **kwargs: Any) -> None:
        self.lmtp = lmtp
        cfg = handler.app.settings.inbound
        self.gate = Gate(cfg.max_connections, cfg.max_bytes_in_flight)
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        cfg = self.handler.app.settings.inbound
        protocol = (LimitedLMTP if self.lmtp else LimitedSMTP)(self.handler, **self.SMTP_kwargs)
        protocol.gate = self.gate
        protocol.time_limit = cfg.connection_time_limit_seconds
        protocol.max_message_bytes = protocol.transaction_limit = cfg.max_message_bytes
        return protocol


class InboundServer:
    """The running inbound server: listener, handler, processing and delivery together.

    With ``workers=N``, processing runs in N worker processes and delivery in one more,
    supervised (`supervisor`: what `mailflow serve` does); with ``workers=None``, on a
    thread each in this process (`worker.Processor`, `DeliveryLoop`), so that a program
    or a test embedding the server keeps its clock. With ``process=False`` the server
    only stores (several storing front ends, and one `mailflow inbox process` that
    processes what they stored). With ``deliver=True`` it also delivers the outbox,
    woken after every processed batch so that acknowledgements leave within seconds.
    """

    def __init__(
        self, app: App, *, host: str | None = None, port: int | None = None,
        lmtp: bool | None = None, process: bool = True, deliver: bool = False,
        workers: int | None = None,
    ) -> None:  # fmt: skip
        cfg = app.settings.inbound
        self.app = app
        self.host = host or cfg.host
        self.port = cfg.port if port is None else port
        self.lmtp = cfg.protocol == "lmtp" if lmtp is None else lmtp
        self.processor: Processor | None = None
        self.delivery: DeliveryLoop | None = None
        self.supervisor: Supervisor | None = None
        stored: Callable[[], None] | None = None
        if workers is not None:
            self.supervisor = Supervisor(app, workers=workers if process else 0, deliver=deliver)
            stored = self.supervisor.wake if process else None
        else:
            if deliver:
                interval = app.settings.outbound.deliver_interval_seconds
                self.delivery = DeliveryLoop(app, interval=interval)
            if process:
                self.processor = Processor(
                    app, after_batch=self.delivery.wake if self.delivery else None
                )
                stored = self.processor.wake
        self.handler = InboundHandler(app, stored, lmtp=self.lmtp)
        self.controller = _Controller(
            self.handler, lmtp=self.lmtp, hostname=self.host, port=self.port,
            data_size_limit=cfg.max_message_bytes, enable_SMTPUTF8=True,
            timeout=cfg.idle_timeout_seconds,
            tls_context=_tls_context(app), require_starttls=cfg.require_starttls,
            ident="mailflow ESMTP",
        )  # fmt: skip

    def start(self) -> None:
        """Listen, then take up leftovers and start processing (unless only storing) and
        delivery: a port that cannot be had leaves nothing running."""
        _check_file_handles(self.app.settings.inbound.max_connections)
        self.controller.start()
        if self.supervisor is not None:
            self.supervisor.start()
        if self.processor is not None:
            take_up_leftovers(self.app)
            self.processor.start()
        if self.delivery is not None:
            self.delivery.start()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every stored message has been taken (see `Processor.drain`; with
        worker processes: until none is left new); False on timeout."""
        if self.processor is not None:
            return self.processor.drain(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.app.session() as session:
                if not ingest.unprocessed(session):
                    return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new mail, finish the messages in flight, then shut down."""
        self.handler.closing = True
        deadline = time.monotonic() + timeout
        while self.handler.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        self.controller.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.processor is not None:
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


def _check_file_handles(max_connections: int) -> None:
    """Raise the open-file limit towards what `max_connections` needs; warn if it cannot.

    Each connection holds a socket, and the database, the outbox and attachments need
    some more: with too few, a burst of idle connections would refuse members' mail.
    """
    needed = 2 * max_connections + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, raised), hard))
        soft = max(soft, raised)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("only %d file handles may be open (ulimit -n); max_connections = %d "
                    "needs about %d", soft, max_connections, needed)  # fmt: skip
