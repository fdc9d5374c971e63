"""The delivery loop of `mailflow serve`: the outbox is delivered while the server runs.

A member who replies hears back within seconds, with no cron: the processing worker wakes
the loop as soon as a batch is committed, its acknowledgements queued (the event may be
shared between processes: see `supervisor`), and the loop also looks every `[outbound]
deliver_interval_seconds` for anything else that has fallen due (retries after a 4xx,
mail queued by other commands). Rows are claimed exactly as `mailflow tick` and
`mailflow outbox flush` claim them (`outbox.deliver` takes a lease per row), so all
three can run at the same time without sending anything twice. The loop keeps one transport, so
its relay connections serve pass after pass (see `SmtpTransport`).
"""

from __future__ import annotations

import logging
import threading

from mailflow import outbox
from mailflow.app import App
from mailflow.worker import Wakeup

log = logging.getLogger(__name__)


class DeliveryLoop:
    """A thread that delivers whatever is due in the outbox, when woken or every interval."""

    def __init__(self, app: App, *, interval: float, wakeup: Wakeup | None = None) -> None:
        self.app = app
        self.interval = interval
        self.wakeup: Wakeup = wakeup if wakeup is not None else threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mailflow-delivery", daemon=True)
        self.transport = outbox.make_transport(app.settings)

    def start(self) -> None:
        """Start delivering (at once: mail may have been left queued by a previous run)."""
        self.wakeup.set()
        self.thread.start()

    def wake(self) -> None:
        """Ask for a delivery pass now (new mail was queued)."""
        self.wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Deliver what is due one last time, then stop."""
        self.stopping.set()
        self.wakeup.set()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)
        self.transport.close()

    def _run(self) -> None:
        while True:
            self.wakeup.wait(self.interval)
            self.wakeup.clear()
            self.deliver_due()
            if self.stopping.is_set():
                return

    def deliver_due(self) -> None:
        """One pass over the outbox; logs one line when anything was delivered or failed.
        A pass that cannot run is logged and the next one tries again, so a database
        hiccup never stops the loop."""
        try:
            with self.app.session() as session:
                report = outbox.deliver(session, self.app.settings, now=self.app.now(),
                                        transport=self.transport,
                                        guard=self.app.write_guard)  # fmt: skip
        except Exception:
            log.exception("outbox delivery failed; trying again in %s s", self.interval)
            return
        if report.sent or report.deferred or report.failed:
            log.info("outbox: sent %d, deferred %d, failed %d",
                     report.sent, report.deferred, report.failed)  # fmt: skip
