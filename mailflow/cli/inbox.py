"""`mailflow inbox ...`: received mail, reprocessing, and parsing a reply offline."""

from __future__ import annotations

from pathlib import Path

import typer

from mailflow import replies
from mailflow.cli.base import app, console, print_json
from mailflow.errors import UserError

group = typer.Typer(help="Received mail: list, reprocess, parse a reply.", no_args_is_help=True)
app.add_typer(group, name="inbox")


@group.command("parse")
def parse(
    file: Path = typer.Argument(..., help="A message as an .eml file."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show what a reply would record, without storing anything."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    result = replies.parse_reply(raw)
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
    attachments = result["attachments"]
    assert isinstance(attachments, list)
    for att in attachments:
        console.print(f"attachment: {att['filename']} ({att['content_type']}, {att['size']} bytes)")
