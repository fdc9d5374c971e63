"""`mailflow actions ...`: the actions the minutes recorded, and marking them done."""

from __future__ import annotations

import typer

from mailflow import actions as actions_
from mailflow.cli.base import app, console, new_table, open_app, print_json

group = typer.Typer(help="Actions from the minutes: list them, mark one done.",
                    no_args_is_help=True)  # fmt: skip
app.add_typer(group, name="actions")


@group.command("list")
def list_(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only the actions not done yet."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the actions from every meeting's minutes, oldest first."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = actions_.list_actions(session, open_only=open_only)
        if as_json:
            print_json([actions_.action_json(a) for a in rows])
            return
        table = new_table("id", "meeting", "owner", "action", "due", "status")
        for a in rows:
            owner = f"{a.owner_name} <{a.owner.email}>" if a.owner else a.owner_name
            table.add_row(str(a.id), a.meeting.ref, owner, a.text,
                          a.due.isoformat() if a.due else "", a.status)  # fmt: skip
        console.print(table)


@group.command("done")
def done(
    ctx: typer.Context, action: int = typer.Argument(..., help="The action's number.")
) -> None:
    """Mark an action done (as its owner would by replying "done N")."""
    app_ = open_app(ctx)
    with app_.session() as session:
        actions_.find_action(session, action)
        console.print(actions_.close(session, action, by=None, now=app_.now()))
