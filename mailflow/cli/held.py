"""`mailflow held ...`: the moderation queue."""

from __future__ import annotations

from typing import Any

import typer
from sqlalchemy import select

from mailflow import ingest
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.errors import UserError
from mailflow.models import Held

group = typer.Typer(help="Messages held for moderation: list, release, discard.",
                    no_args_is_help=True)  # fmt: skip
app.add_typer(group, name="held")


def _json(held: Held) -> dict[str, Any]:
    row = held.inbound
    return {"id": held.id, "received_at": row.received_at.isoformat(), "mail_from": row.mail_from,
            "rcpt": ", ".join(row.rcpt.split("\n")), "subject": row.subject, "reason": held.reason,
            "inbound_id": row.id}  # fmt: skip


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List messages waiting for a decision."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = session.scalars(select(Held).where(Held.status == "held").order_by(Held.id)).all()
        if as_json:
            print_json([_json(h) for h in rows])
            return
        table = new_table("id", "received", "from", "subject", "reason")
        for h in rows:
            table.add_row(str(h.id), h.inbound.received_at.strftime("%Y-%m-%d %H:%M"),
                          h.inbound.mail_from, h.inbound.subject, h.reason)  # fmt: skip
        console.print(table)


def _find(session: Any, held_id: int) -> Held:
    held = session.get(Held, held_id)
    if held is None or held.status != "held":
        raise UserError(f"no held message {held_id} (see `mailflow held list`)")
    assert isinstance(held, Held)
    return held


@group.command("release")
def release(ctx: typer.Context, held_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Act on a held message as if it had passed the checks."""
    app_ = open_app(ctx)
    with app_.session() as session:
        held = _find(session, held_id)
        held.status = "released"
        inbound_id = held.inbound_id
        session.commit()
        status = ingest.process(session, app_.settings, inbound_id, now=app_.now(), trusted=True)
        row = held.inbound
        console.print(f"released {held_id}: {status} ({row.outcome or row.error})")


@group.command("discard")
def discard(ctx: typer.Context, held_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Drop a held message from the queue (it stays in the inbox as discarded)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        held = _find(session, held_id)
        held.status = "discarded"
        held.inbound.status = "discarded"
        console.print(f"discarded {held_id}")
