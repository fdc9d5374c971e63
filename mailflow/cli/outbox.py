"""`mailflow outbox ...`: see, deliver and retry outgoing mail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from rich.progress import Progress
from sqlalchemy import select

from mailflow import outbox as outbox_
from mailflow.app import App
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.models import OutboxMessage

group = typer.Typer(help="See, deliver and retry outgoing mail.", no_args_is_help=True)
app.add_typer(group, name="outbox")


def _row_json(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "to": row.recipient,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "message_id": row.message_id,
        "next_attempt_at": row.next_attempt_at.isoformat(),
    }


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List outgoing mail with its delivery status."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        if as_json:
            print_json([_row_json(r) for r in rows])
            return
        table = new_table("id", "to", "subject", "status", "attempts", "last error")
        for r in rows:
            table.add_row(str(r.id), r.recipient, r.subject, r.status, str(r.attempts),
                          r.last_error)  # fmt: skip
        console.print(table)


def deliver_now(app_: App) -> outbox_.DeliveryReport:
    """Deliver everything due, with a progress bar; prints a one-line summary."""
    with app_.session() as session:
        due = session.query(OutboxMessage).filter(OutboxMessage.status == "queued").count()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("delivering", total=due or None)
            report = outbox_.deliver(
                session, app_.settings, now=app_.now(),
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
    print_delivery(report)
    return report


def print_skips(skipped: Sequence[outbox_.Skipped]) -> None:
    """Name the members a mailing left out (their stored data cannot make a message)."""
    if skipped:
        console.print(outbox_.describe_skips(skipped), soft_wrap=True)


def print_delivery(report: outbox_.DeliveryReport) -> None:
    """The outbox's totals for one delivery run, said apart from what a command queued."""
    console.print(f"outbox: sent {report.sent}, deferred {report.deferred}, "
                  f"failed {report.failed} (every message that was due)")  # fmt: skip


def announce_and_deliver(app_: App, what: str, queued: int, *, why_none: str) -> None:
    """Say how many messages `what` queued (or why none were), then deliver what is due."""
    console.print(f"{what}: {queued} message(s) queued" + ("" if queued else f" ({why_none})"))
    deliver_now(app_)


@group.command("flush")
def flush(ctx: typer.Context) -> None:
    """Deliver every queued message that is due now."""
    deliver_now(open_app(ctx))


@group.command("retry")
def retry(ctx: typer.Context) -> None:
    """Queue failed and deferred messages again and deliver them now."""
    app_ = open_app(ctx)
    with app_.session() as session:
        count = outbox_.retry_failed(session, now=app_.now())
    console.print(f"{count} message(s) queued again")
    deliver_now(app_)
