"""`mailflow serve`: run the inbound mail server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from mailflow.cli.base import app, console, open_app
from mailflow.errors import UserError
from mailflow.server import InboundServer


@app.command()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on."),
    lmtp: bool = typer.Option(False, "--lmtp", help="Speak LMTP (behind Postfix/Exim)."),
    no_process: bool = typer.Option(
        False, "--no-process", help="Only store what arrives; `mailflow inbox process` runs it."
    ),
) -> None:
    """Run the inbound mail server until Ctrl-C / SIGTERM."""
    app_ = open_app(ctx)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("mailflow").setLevel(logging.INFO)
    server = InboundServer(app_, host=host, port=port, lmtp=lmtp or None, process=not no_process)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        raise UserError(f"cannot listen on {server.host}:{server.port}: {exc}") from None
    protocol = "LMTP" if server.lmtp else "SMTP"
    mode = " (store only)" if no_process else ""
    console.print(f"mailflow {protocol} server listening on {server.host}:{server.port}{mode}")
    while not stop.wait(0.5):
        pass
    console.print("stopping: finishing messages in flight")
    server.stop()
    console.print("stopped")
