"""`mailflow inbox ...`: received mail, reprocessing, and parsing a reply offline."""

from __future__ import annotations

from collections import Counter
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select

from mailflow import config, ingest, replies, sentmail
from mailflow.cli.base import (
    app,
    config_path,
    console,
    err_console,
    new_table,
    open_app,
    print_json,
)
from mailflow.errors import UserError
from mailflow.models import InboundMessage
from mailflow.worker import Processor, take_up_leftovers

group = typer.Typer(help="Received mail: list, reprocess, parse a reply.", no_args_is_help=True)
app.add_typer(group, name="inbox")


_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")


def _original(ctx: typer.Context, raw: bytes) -> str | None:
    """The mail of ours the message answers, when a config and its database are at hand
    and the message went to one of our signed reply addresses; else None (the reply is
    read by the rules alone, as for mail to the bare address)."""
    if not config.resolve_path(config_path(ctx)).is_file():
        return None
    try:
        headers = BytesHeaderParser().parsebytes(raw)
        values = [str(v) for h in _RECIPIENT_HEADERS for v in headers.get_all(h) or []]
        recipients = [address for _, address in getaddresses(values) if "@" in address]
        app_ = open_app(ctx)
        with app_.session() as session:
            return sentmail.original_text(session, app_.settings, recipients)
    except Exception as exc:  # the file is still read, by the rules alone
        err_console.print(f"note: the mail it answers was not looked up ({exc})")
        return None


@group.command("parse")
def parse(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A message as an .eml file."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show what a reply would record, without storing anything. With a config, a reply
    to one of our signed addresses is read knowing the mail of ours it answers."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    result = replies.parse_reply(raw, original=_original(ctx, raw))
    if as_json:
        print_json(result)
        return
    if result["automatic"]:
        console.print(f"automatic mail ({result['automatic']}): nothing would be recorded")
    items = result["items"]
    assert isinstance(items, list)
    for n, item in enumerate(items, 1):
        minutes = f" [{item['minutes']}m]" if item.get("minutes") else ""
        console.print(f"{n}. {item['kind']}: {item['title']}{minutes}")
        if item.get("body"):
            console.print("   " + str(item["body"]).replace("\n", "\n   "))
    votes, volunteers = result["votes"], result["volunteers"]
    assert isinstance(votes, list) and isinstance(volunteers, list)
    for vote in votes:
        console.print(f"vote: {vote['value']:+d} on #{vote['item']}")
    for number in volunteers:
        console.print(f"volunteers to answer #{number}")
    done, themes = result["done"], result["themes"]
    assert isinstance(done, list) and isinstance(themes, list)
    for number in done:
        console.print(f"action #{number} done")
    for theme in themes:
        console.print(f"theme proposed: {theme}")
    attachments = result["attachments"]
    assert isinstance(attachments, list)
    for att in attachments:
        console.print(f"attachment: {att['filename']} ({att['content_type']}, {att['size']} bytes)")


def _row_json(row: InboundMessage) -> dict[str, Any]:
    return {"id": row.id, "received_at": row.received_at.isoformat(), "mail_from": row.mail_from,
            "rcpt": ", ".join(row.rcpt.split("\n")), "subject": row.subject, "status": row.status,
            "outcome": row.outcome, "error": row.error}  # fmt: skip


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List received messages and what became of each."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        if as_json:
            print_json([_row_json(r) for r in rows])
            return
        table = new_table("id", "received", "from", "subject", "status", "outcome / error")
        for r in rows:
            table.add_row(str(r.id), r.received_at.strftime("%Y-%m-%d %H:%M"), r.mail_from,
                          r.subject, r.status, r.error or r.outcome)  # fmt: skip
        console.print(table)


@group.command("process")
def process(ctx: typer.Context) -> None:
    """Process every stored message that is still new (behind `serve --no-process`), each
    read within `[inbound] processing_budget_seconds`, as the server does."""
    app_ = open_app(ctx)
    ids = take_up_leftovers(app_)
    processor = Processor(app_)
    processor.start()
    processor.drain(timeout=None)
    processor.stop()
    with app_.session() as session:
        statuses = session.scalars(select(InboundMessage.status)
                                   .where(InboundMessage.id.in_(ids))).all()  # fmt: skip
    counts = Counter(statuses)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    console.print(f"{len(ids)} new message(s): {summary}" if ids else "nothing new to process")


@group.command("reprocess")
def reprocess(
    ctx: typer.Context,
    message_id: int | None = typer.Argument(None, metavar="[ID]", help="Inbound message id."),
    failed: bool = typer.Option(False, "--failed", help="Reprocess every failed message."),
) -> None:
    """Run the pipeline again over one message, or over every failed one."""
    if (message_id is None) == (not failed):
        raise UserError("give a message ID or --failed (not both)")
    app_ = open_app(ctx)
    with app_.session() as session:
        if failed:
            ids = list(session.scalars(select(InboundMessage.id)
                                       .where(InboundMessage.status == "failed")))  # fmt: skip
        else:
            row = session.get(InboundMessage, message_id)
            if row is None:
                raise UserError(f"no inbound message {message_id}")
            if row.status == "processed":
                raise UserError(f"message {message_id} was already processed")
            ids = [row.id]
        for inbound_id in ids:
            status = ingest.process(session, app_.settings, inbound_id, now=app_.now())
            console.print(f"message {inbound_id}: {status}")
        if not ids:
            console.print("nothing to reprocess")
