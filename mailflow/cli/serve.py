"""`mailflow serve`: run the inbound mail server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer
from sqlalchemy import make_url

from mailflow.app import App
from mailflow.cli.base import app, console, open_app
from mailflow.errors import UserError
from mailflow.server import InboundServer
from mailflow.supervisor import LOG_FORMAT


@app.command()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on."),
    lmtp: bool = typer.Option(False, "--lmtp", help="Speak LMTP (behind Postfix/Exim)."),
    no_process: bool = typer.Option(
        False, "--no-process", help="Only store what arrives; `mailflow inbox process` runs it."
    ),
    no_deliver: bool = typer.Option(
        False, "--no-deliver", help="Leave the outbox to `mailflow tick` / `outbox flush`."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processing worker processes (more than one: PostgreSQL)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only warnings and errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every step (debug)."),
) -> None:
    """Run the inbound mail server until Ctrl-C / SIGTERM; it also delivers the outbox.

    The listener only stores; processing runs in worker processes and delivery in one
    more, each started again if it dies. Logs one line per message taken and per
    delivery batch to stderr.
    """
    app_ = open_app(ctx)
    if workers > 1 and app_.engine.dialect.name == "sqlite":
        raise UserError(f"--workers {workers} needs PostgreSQL: SQLite takes one writer at a "
                        "time, so one worker processes its mail")  # fmt: skip
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("mailflow").setLevel(level)
    deliver = not no_deliver and app_.settings.outbound.deliver_interval_seconds > 0
    server = InboundServer(app_, host=host, port=port, lmtp=lmtp or None,
                           process=not no_process, deliver=deliver,
                           workers=workers)  # fmt: skip
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        raise UserError(f"cannot listen on {server.host}:{server.port}: {exc}") from None
    console.print(
        _startup_line(app_, server, workers=0 if no_process else workers, deliver=deliver),
        soft_wrap=True,
    )
    while not stop.wait(0.5):
        pass
    console.print("stopping: finishing messages in flight")
    server.stop()
    console.print("stopped")


def _startup_line(app_: App, server: InboundServer, *, workers: int, deliver: bool) -> str:
    """Where the server listens, how it processes, which database it keeps mail in, and
    how mail leaves."""
    protocol = "LMTP" if server.lmtp else "SMTP"
    mode = f" ({workers} processing worker(s))" if workers else " (store only)"
    database = make_url(app_.settings.database_url).render_as_string(hide_password=True)
    out = app_.settings.outbound
    if not deliver:
        outgoing = "outbox left to `mailflow tick` / `mailflow outbox flush`"
    elif out.transport == "smtp":
        outgoing = f"delivering through SMTP relay {out.host}:{out.port}"
    else:
        outgoing = f"delivering to maildir {app_.settings.maildir}"
    return (f"mailflow {protocol} server listening on {server.host}:{server.port}{mode}; "
            f"database {database}; {outgoing}")  # fmt: skip
