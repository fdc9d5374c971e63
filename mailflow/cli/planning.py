"""`call-for-items`, `send-invites` and `tick`: the mailings before a meeting."""

from __future__ import annotations

from pathlib import Path

import typer

from mailflow import planning
from mailflow import tick as tick_
from mailflow.cli.base import app, console, new_table, open_app
from mailflow.cli.outbox import announce_and_deliver, deliver_now, print_skips
from mailflow.errors import UserError
from mailflow.meetings import find_meeting
from mailflow.outbox import Skipped

FORCE = typer.Option(False, "--force", help="Go ahead even at an unusual moment.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show who would get what; send nothing.")


def print_preview(preview: planning.Preview, what: str) -> None:
    """A dry run's table of recipients and subjects, and the count."""
    table = new_table("recipient", "subject")
    for to, subject in preview.rows:
        table.add_row(to, subject)
    console.print(table)
    console.print(f"dry run: nothing sent; {what} would go to {len(preview.rows)} recipient(s)")


@app.command("call-for-items")
def call_for_items(
    ctx: typer.Context, meeting: str = typer.Argument(..., help="Meeting id or ref."),
    force: bool = FORCE, dry_run: bool = DRY_RUN,
) -> None:  # fmt: skip
    """Mail every active member the call for items, from their own reply address."""
    app_ = open_app(ctx)
    skipped: list[Skipped] = []
    preview = planning.Preview() if dry_run else None
    with app_.session() as session:
        m = find_meeting(session, meeting)
        if not (force or dry_run):
            planning.check_call(app_.settings, m, app_.now())
        queued = planning.call_for_items(session, app_.settings, m, now=app_.now(),
                                         on_skip=skipped.append, preview=preview)  # fmt: skip
    print_skips(skipped)
    if preview is not None:
        print_preview(preview, "the call for items")
        return
    announce_and_deliver(app_, "call for items", queued, why_none="already sent to everyone")


@app.command("send-invites")
def send_invites(
    ctx: typer.Context, meeting: str = typer.Argument(..., help="Meeting id or ref."),
    force: bool = FORCE, dry_run: bool = DRY_RUN,
) -> None:  # fmt: skip
    """Fix the agenda and mail it with a calendar invite to every active member."""
    app_ = open_app(ctx)
    preview = planning.Preview() if dry_run else None
    with app_.session() as session:
        m = find_meeting(session, meeting)
        if not (force or dry_run):
            planning.check_invites(app_.settings, m, app_.now())
        report = planning.send_invites(session, app_.settings, m, now=app_.now(),
                                       preview=preview)  # fmt: skip
    agenda = report.agenda
    console.print(f"agenda: {len(agenda.scheduled)} scheduled, {len(agenda.deferred)} deferred, "
                  f"{len(agenda.written_answer)} for written answer")  # fmt: skip
    print_skips(report.skipped)
    if preview is not None:
        print_preview(preview, "the invites and notices")
        return
    console.print(f"invites: {report.invites} queued; {report.outcomes} member(s) told "
                  "about deferred or written-answer items")  # fmt: skip
    deliver_now(app_)


@app.command()
def tick(ctx: typer.Context) -> None:
    """Do everything that is due now (safe to run from cron every few minutes)."""
    app_ = open_app(ctx)
    done = tick_.run(app_)
    for line in done:
        console.print(line)
    if not done:
        console.print("nothing due")


calendar = typer.Typer(help="Calendar files for members.", no_args_is_help=True)
app.add_typer(calendar, name="calendar")


@calendar.command("export")
def export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Where to write the .ics file."),
    term: str | None = typer.Option(None, "--term", help="Only this term's meetings."),
) -> None:
    """Write every meeting as one calendar members can import or subscribe to."""
    app_ = open_app(ctx)
    with app_.session() as session:
        data = planning.export_calendar(session, app_.settings, now=app_.now(), term=term)
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {file}: {exc.strerror or exc}") from None
    console.print(f"wrote {file}")
