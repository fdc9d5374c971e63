"""`mailflow polls ...`: ask members to choose (e.g. the weekly chat's theme) by reply."""

from __future__ import annotations

import typer

from mailflow import polls as polls_
from mailflow import schedule
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.cli.outbox import deliver_now
from mailflow.meetings import find_meeting

group = typer.Typer(help="Polls members answer by reply: create, list, show, options, close.",
                    no_args_is_help=True)  # fmt: skip
app.add_typer(group, name="polls")


@group.command("create")
def create(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref whose theme the poll decides."),
    question: str = typer.Argument(..., help='e.g. "Theme for next session"'),
    option: list[str] = typer.Option(..., "--option", help="One choice; give two or more."),
    closes: str = typer.Option(..., "--closes", help='Local time "YYYY-MM-DD HH:MM".'),
) -> None:
    """Create a poll and mail it to every active member."""
    app_ = open_app(ctx)
    with app_.session() as session:
        m = find_meeting(session, meeting)
        poll = polls_.create_poll(session, app_.settings, meeting=m, question=question,
                                  options=option, closes=closes, now=app_.now())  # fmt: skip
        session.commit()
        queued = polls_.send_poll(session, app_.settings, poll, now=app_.now())
        console.print(f"poll {poll.id}: {queued} message(s) queued; closes "
                      f"{polls_.closes_text(app_.settings, poll)}")  # fmt: skip
    deliver_now(app_)


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List polls, newest first."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = polls_.list_polls(session)
        if as_json:
            print_json([polls_.poll_json(p, app_.settings) for p in rows])
            return
        table = new_table("id", "meeting", "question", "closes", "status", "voters", "winner")
        for p in rows:
            table.add_row(str(p.id), p.meeting.ref if p.meeting else "", p.question,
                          schedule.iso_local(p.closes_at, app_.settings.group.tz), p.status,
                          str(len(p.votes)), p.winner)  # fmt: skip
        console.print(table)


@group.command("show")
def show(
    ctx: typer.Context,
    poll: str = typer.Argument(..., help="Poll id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a poll's tally (each member's latest vote counts once)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        p = polls_.find_poll(session, poll)
        data = polls_.poll_json(p, app_.settings)
        if as_json:
            print_json(data)
            return
        console.print(f"[bold]{p.question}[/bold] (poll {p.id}, {p.status}, closes "
                      f"{polls_.closes_text(app_.settings, p)})")  # fmt: skip
        for entry in data["options"]:
            console.print(f"{entry['number']:>3}. {entry['option']}: {entry['votes']}")
        if p.winner:
            console.print(f"winner: {p.winner}")


@group.command("close")
def close(ctx: typer.Context, poll: str = typer.Argument(..., help="Poll id.")) -> None:
    """Close a poll now; the winner becomes its meeting's theme (invites are updated)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        p = polls_.find_poll(session, poll)
        winner = polls_.close_poll(session, app_.settings, p, now=app_.now())
        console.print(f"poll {p.id} closed: {winner or 'no votes, no winner'}")
    deliver_now(app_)


@group.command("options")
def options(
    ctx: typer.Context,
    poll: str = typer.Argument(..., help="Poll id."),
    approve: list[int] = typer.Option([], "--approve", help="Add proposal N to the options."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List a poll's options and the themes members proposed; --approve N adds one."""
    app_ = open_app(ctx)
    with app_.session() as session:
        p = polls_.find_poll(session, poll)
        for number in approve:
            console.print(polls_.approve(session, p, number))
        proposals = p.proposals or []
        if as_json:
            print_json({"options": p.options, "proposals": proposals})
            return
        for n, option in enumerate(p.options, 1):
            console.print(f"{n:>3}. {option}")
        table = new_table("proposal", "theme", "from", "approved")
        for n, entry in enumerate(proposals, 1):
            table.add_row(str(n), entry["option"], entry["member"],
                          "yes" if entry["approved"] else "no")  # fmt: skip
        console.print(table)
