"""`mailflow members export` and `members erase`: one member's data, out or gone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mailflow import files, privacy
from mailflow.cli.base import console, new_table, open_app, print_json
from mailflow.cli.members import group
from mailflow.errors import UserError


@group.command("export")
def export(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The member's address."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON (files base64)."),
    folder: Path | None = typer.Option(
        None, "--dir", help="Write member.json and the mail and files into this new folder."
    ),
) -> None:
    """Everything held about one member: record, items, votes, attendance, mail, files."""
    if as_json and folder is not None:
        raise UserError("give --json or --dir, not both")
    app_ = open_app(ctx)
    with app_.session() as session:
        data = privacy.export_member(session, app_.settings, email)
    if as_json:
        print_json(data.as_json())
    elif folder is not None:
        _write(folder, data)
        console.print(f"wrote {len(data.files) + 1} file(s) to {folder} (readable by you only)")
    else:
        _summary(data)


def _write(folder: Path, data: privacy.MemberExport) -> None:
    """The export as files in a new owner-only folder (it is personal data)."""
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} is not empty; choose a new folder")
    files.private_dir(folder)
    text = json.dumps(data.records, indent=2, ensure_ascii=False) + "\n"
    files.write_private(folder / "member.json", text.encode("utf-8"))
    for name, content in data.files.items():
        path = folder / name
        files.private_dir(path.parent)
        files.write_private(path, content)


def _summary(data: privacy.MemberExport) -> None:
    member = data.records["member"]
    console.print(f"{member['name']} <{member['email']}>, {member['role']}, "
                  f"{'active' if member['active'] else 'inactive'}")  # fmt: skip
    table = new_table("kind", "records")
    for key, value in data.records.items():
        if isinstance(value, list):
            table.add_row(key.replace("_", " "), str(len(value)))
    console.print(table)
    console.print("use --json or --dir DIR for the records themselves and their mail and files")


@group.command("erase")
def erase(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The member's address."),
    items: str | None = typer.Option(
        None, "--items", help="anonymise or delete their items (default: [retention] erase_items)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask, even at a terminal."),
) -> None:
    """Erase one member's data for good; their items stay for the group, anonymised.

    At a terminal it asks first; run by a script (no terminal) it does as it is told,
    as `mailflow members erase EMAIL` is documented.
    """
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Erase everything held about {email}? This cannot be undone", abort=True)
    app_ = open_app(ctx)
    with app_.writing() as session:
        report = privacy.erase_member(session, app_.settings, email, mode=items)
    privacy.compact(app_.engine)
    for line in report.lines():
        console.print(line)
