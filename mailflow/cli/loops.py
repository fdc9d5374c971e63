"""`send-digest`, `items digest` and `items assign`: the mailings between meetings."""

from __future__ import annotations

import typer

from mailflow import answers, digest, votes
from mailflow.cli.base import app, console, open_app
from mailflow.cli.items import group as items_group
from mailflow.cli.outbox import announce_and_deliver, deliver_now, print_skips
from mailflow.meetings import find_meeting


@app.command("send-digest")
def send_digest(ctx: typer.Context) -> None:
    """Mail every member the news posted to the group address since the last digest."""
    app_ = open_app(ctx)
    with app_.session() as session:
        report = digest.send_digest(session, app_.settings, now=app_.now())
    if not report.posts:
        console.print("no new posts since the last digest; nothing sent")
        return
    print_skips(report.skipped)
    announce_and_deliver(app_, f"digest of {len(report.posts)} post(s)", report.queued,
                         why_none="already sent today")  # fmt: skip


@items_group.command("digest")
def items_digest(
    ctx: typer.Context, meeting: str = typer.Argument(..., help="Meeting id or ref.")
) -> None:
    """Mail members the numbered list of what has been proposed, to vote on (+1 3 7)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        m = find_meeting(session, meeting)
        queued = votes.send_proposed(session, app_.settings, m, now=app_.now())
    announce_and_deliver(app_, "proposed items", queued,
                         why_none="nothing proposed yet, or already sent")  # fmt: skip


@items_group.command("assign")
def assign(
    ctx: typer.Context,
    item_id: int = typer.Argument(..., metavar="ID", help="A question for written answer."),
    email: str = typer.Argument(..., help="The member who will answer it."),
) -> None:
    """Ask a member to answer a question in writing (they are mailed the question)."""
    app_ = open_app(ctx)
    with app_.session() as session:
        item, member, queued = answers.assign(session, app_.settings, item_id, email,
                                              now=app_.now())  # fmt: skip
        console.print(f"question {item.id} assigned to {member.name} <{member.email}>"
                      + ("" if queued else " (already asked)"))  # fmt: skip
    deliver_now(app_)
