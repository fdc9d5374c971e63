"""`mailflow items ...` and `mailflow agenda`: what members sent, and the agenda it makes."""

from __future__ import annotations

import typer

from mailflow import compose, coordinator, late, planner, schedule
from mailflow import items as items_
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.cli.outbox import announce_and_deliver
from mailflow.errors import UserError
from mailflow.meetings import find_meeting

group = typer.Typer(help="Items members sent: list, adjust, merge.", no_args_is_help=True)
app.add_typer(group, name="items")


@group.command("list")
def list_(
    ctx: typer.Context,
    meeting: str | None = typer.Argument(None, help="Meeting id or ref."),
    unplaced: bool = typer.Option(
        False, "--unplaced", help="Items waiting for a meeting to be planned."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List a meeting's items (and those carried to it), or with --unplaced the items
    waiting for a meeting to be planned."""
    if meeting is None and not unplaced:
        raise UserError("give a MEETING, or --unplaced for the items waiting for one")
    app_ = open_app(ctx)
    with app_.session() as session:
        found = find_meeting(session, meeting) if meeting is not None else None
        late.place_waiting(session, app_.now())  # a meeting planned since takes them
        session.commit()
        rows = late.waiting(session) if unplaced or found is None else (
            items_.meeting_items(session, found))  # fmt: skip
        if as_json:
            print_json([items_.item_json(i) for i in rows])
            return
        table = new_table("id", "kind", "title", "member", "status", "min", "votes", "files")
        for i in rows:
            who = i.member.email if i.member else i.author
            table.add_row(str(i.id), i.kind, i.title, who, i.status, str(i.minutes or ""),
                          f"{i.vote_total:+d}" if i.votes else "",
                          str(len(i.attachments) or ""))  # fmt: skip
        console.print(table)


@group.command("set")
def set_(
    ctx: typer.Context,
    item_id: int = typer.Argument(..., metavar="ID"),
    minutes: int | None = typer.Option(None, "--minutes", help="Time on the agenda."),
    status: str | None = typer.Option(None, "--status", help=", ".join(items_.STATUSES)),
    priority: int | None = typer.Option(None, "--priority", help="Higher comes first."),
    meeting: str | None = typer.Option(None, "--meeting", help="Move to another meeting."),
    title: str | None = typer.Option(None, "--title", help="A corrected title."),
    kind: str | None = typer.Option(None, "--kind", help="question or agenda."),
) -> None:
    """Adjust one item: its minutes, status, priority, meeting, title or kind."""
    if all(v is None for v in (minutes, status, priority, meeting, title, kind)):
        raise UserError("nothing to set: give --minutes, --status, --priority, --meeting, "
                        "--title or --kind")  # fmt: skip
    app_ = open_app(ctx)
    with app_.session() as session:
        item = items_.set_item(session, item_id, minutes=minutes, status=status,
                               priority=priority, meeting=meeting, title=title,
                               kind=kind)  # fmt: skip
        console.print(f"item {item.id}: {item.kind} \"{item.title}\", {item.status}, "
                      f"{item.minutes or 'default'} min, priority {item.priority}")  # fmt: skip


@group.command("merge")
def merge(
    ctx: typer.Context,
    keep: int = typer.Argument(..., metavar="ID", help="The item to keep."),
    other: int = typer.Argument(..., metavar="ID", help="The duplicate to fold into it."),
) -> None:
    """Merge a duplicate item into another (the duplicate is withdrawn, its words kept)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        kept = items_.merge_items(session, keep, other)
        console.print(f"merged item {other} into item {kept.id}")


@app.command()
def agenda(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    fmt: str = typer.Option("text", "--format", help="text, markdown, html or json."),
    mail: bool = typer.Option(
        False, "--mail", help="Mail the draft to the coordinator, who may reply with commands."
    ),
) -> None:
    """Show the meeting's time-boxed agenda as it stands now (or mail it as a draft)."""
    if fmt not in ("text", "markdown", "html", "json"):
        raise UserError(f"unknown format {fmt!r} (expected text, markdown, html or json)")
    app_ = open_app(ctx)
    if mail:
        with app_.session() as session:
            m = find_meeting(session, meeting)
            queued = coordinator.send_draft(session, app_.settings, m, now=app_.now())
        announce_and_deliver(app_, "agenda draft", queued,
                             why_none="this draft was already mailed")  # fmt: skip
        return
    with app_.session() as session:
        m = find_meeting(session, meeting)
        built, by_id = items_.plan_agenda(session, app_.settings, m)
        heading = f"{m.heading} ({m.ref})"
        if fmt == "json":
            print_json(built.to_json(m.ref))
        elif fmt == "markdown":
            typer.echo(planner.render_markdown(built, by_id, heading=heading))
        elif fmt == "html":
            local_start = schedule.to_local(m.start, app_.settings.group.tz)
            table = planner.table_context(built, by_id, start=local_start)
            page = compose.template_environment().get_template("agenda.html.j2")
            typer.echo(page.render(heading=heading, table=table))
        else:
            typer.echo(planner.render_text(built, by_id, heading=heading))
