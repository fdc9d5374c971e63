"""`mailflow send-minutes`: the minutes to every member, with a progress bar."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, TaskID

from mailflow import planning, sendminutes
from mailflow.cli.base import app, console, new_table, open_app
from mailflow.cli.outbox import print_delivery, print_skips
from mailflow.meetings import find_meeting


@app.command("send-minutes")
def send_minutes(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    minutes: Path = typer.Option(..., "--minutes", help="The minutes in Markdown."),
    attach: list[Path] = typer.Option([], "--attach", help="A file to attach (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write .eml files; send nothing."),
    resend: bool = typer.Option(False, "--resend", help="Send again to everyone."),
    force: bool = typer.Option(False, "--force", help="Send even before the meeting."),
) -> None:
    """Mail the minutes, attendance, actions, answers and files to every active member."""
    app_ = open_app(ctx)
    if not (force or dry_run):
        with app_.session() as session:
            planning.check_minutes(app_.settings, find_meeting(session, meeting), app_.now())
    with Progress(console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, n: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.advance(tasks[stage], n)

        report = sendminutes.send_minutes(app_, meeting, minutes, attach, dry=dry_run,
                                          resend=resend, progress=progress)  # fmt: skip
    if dry_run:
        table = new_table("recipient", "bytes", "attachments")
        for to, size, files in report.dry_run:
            table.add_row(to, str(size), str(files))
        console.print(table)
        console.print(f"dry run: nothing sent; {len(report.dry_run)} message(s) written to "
                      f"{report.dry_run_dir}")  # fmt: skip
        print_skips(report.skipped)
        return
    if report.queued == 0 and report.already_sent:
        console.print("the minutes were already sent to every member (use --resend to send again)")
    console.print(f"minutes: {report.queued} queued now for {report.recipients} member(s); "
                  f"delivered {report.sent}, retrying {report.deferred}, "
                  f"failed {len(report.failed)}")  # fmt: skip
    print_skips(report.skipped)
    print_delivery(report.delivery)
    for to, error in report.failed:
        console.print(f"  failed: {to}: {error}")
