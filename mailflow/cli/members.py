"""`mailflow members ...`: add (with a welcome), import, edit, list and remove members."""

from __future__ import annotations

from pathlib import Path

import typer

from mailflow import members as members_
from mailflow import membership
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.cli.outbox import deliver_now
from mailflow.errors import UserError

group = typer.Typer(help="Add, import, edit, list and remove members.", no_args_is_help=True)
QUIET = typer.Option(False, "--quiet", help="Send no welcome mail.")
app.add_typer(group, name="members")


@group.command("add")
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The member's email address."),
    name: str = typer.Option(..., "--name", help="Full name, as shown to others."),
    org: str = typer.Option("", "--org", help="School or organisation."),
    role: str = typer.Option("member", "--role", help="member or coordinator."),
    quiet: bool = QUIET,
) -> None:
    """Add one member (or re-activate a removed one) and mail them a welcome."""
    app_ = open_app(ctx)
    with app_.session() as session:
        member = members_.add_member(
            session, email=email, name=name, organisation=org, role=role, now=app_.now()
        )
        if not quiet:
            membership.welcome(session, app_.settings, member, now=app_.now())
        console.print(f"added {member.name} <{member.email}>")
    if not quiet:
        deliver_now(app_)


@group.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with header email,name,organisation,role."),
    quiet: bool = QUIET,
) -> None:
    """Import members from a CSV file: all rows or none; each new member is welcomed."""
    text = _read_csv(file)
    app_ = open_app(ctx)
    with app_.session() as session:
        report = members_.import_members(session, text, now=app_.now())
        for address in [] if quiet else report.added:
            member = members_.find_member(session, address)
            assert member is not None  # imported in this transaction
            membership.welcome(session, app_.settings, member, now=app_.now())
    for line in report.skipped:
        console.print(f"skipped {line}")
    console.print(f"imported {len(report.added)} member(s), skipped {len(report.skipped)}")
    if report.added and not quiet:
        deliver_now(app_)


@group.command("edit")
def edit(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The member's current address."),
    name: str | None = typer.Option(None, "--name", help="New full name."),
    org: str | None = typer.Option(None, "--org", help="New school or organisation."),
    role: str | None = typer.Option(None, "--role", help="member or coordinator."),
    new_email: str | None = typer.Option(None, "--email", help="New address."),
) -> None:
    """Change a member's details; their items, votes and attendance stay theirs."""
    if name is None and org is None and role is None and new_email is None:
        raise UserError("nothing to change: give --name, --org, --role or --email")
    app_ = open_app(ctx)
    with app_.session() as session:
        member = members_.edit_member(session, email, name=name, organisation=org, role=role,
                                      new_email=new_email)  # fmt: skip
        console.print(f"edited {member.name} <{member.email}> ({member.organisation or '-'}, "
                      f"{member.role})")  # fmt: skip


def _read_csv(file: Path) -> str:
    """The file's text: UTF-8 (with or without Excel's byte-order mark), else Windows-1252,
    which is what Excel on Windows writes as plain "CSV" (said in a note)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise UserError(f"{file} is neither UTF-8 nor Windows-1252 text; "
                        "save it as \"CSV UTF-8\"") from None  # fmt: skip
    console.print(f"note: {file} is not UTF-8; read it as Windows-1252 (Excel's plain CSV)")
    return text


@group.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List members (removed ones show as inactive)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = members_.list_members(session)
        if as_json:
            print_json([members_.member_json(m) for m in rows])
            return
        table = new_table("email", "name", "organisation", "role", "active", "bounces")
        for m in rows:
            warn = " (keeps bouncing)" if m.bounces >= members_.BOUNCE_WARNING else ""
            table.add_row(m.email, m.name, m.organisation, m.role,
                          "yes" if m.active else "no", f"{m.bounces}{warn}")  # fmt: skip
        console.print(table)


@group.command("remove")
def remove(ctx: typer.Context, email: str = typer.Argument(..., help="Address to remove.")) -> None:
    """Deactivate a member; their history stays."""
    app_ = open_app(ctx)
    with app_.session() as session:
        member = members_.remove_member(session, email)
        console.print(f"removed {member.email} (history kept)")
