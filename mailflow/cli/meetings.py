"""`mailflow meetings ...`: plan, add, list and show meetings."""

from __future__ import annotations

import typer

from mailflow import meetings as meetings_
from mailflow import planning, rsvp, schedule
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.cli.outbox import deliver_now, print_skips
from mailflow.outbox import Skipped

group = typer.Typer(help="Plan, add, list, show, move and cancel meetings.", no_args_is_help=True)
app.add_typer(group, name="meetings")


@group.command("plan-term")
def plan_term(
    ctx: typer.Context, term: str = typer.Argument(..., help="A [[terms]] name.")
) -> None:
    """Create the term's meeting(s) from its [[terms]] entry; safe to re-run."""
    app_ = open_app(ctx)
    tz = app_.settings.group.tz
    with app_.session() as session:
        for meeting, created in meetings_.plan_term(session, app_.settings, term, now=app_.now()):
            verb = "planned" if created else "exists "
            when = schedule.human_local(meeting.start, tz)
            console.print(f"{verb} {meeting.ref}: {meeting.title}, {when}")


@group.command("add")
def add(
    ctx: typer.Context,
    title: str = typer.Option(..., "--title", help="What the meeting is called."),
    start: str = typer.Option(..., "--start", help='Local time "YYYY-MM-DD HH:MM".'),
    duration: int | None = typer.Option(None, "--duration", help="Minutes (default from config)."),
    location: str = typer.Option("", "--location", help="Where it happens (room or link)."),
) -> None:
    """Add an ad-hoc meeting."""
    app_ = open_app(ctx)
    with app_.session() as session:
        meeting = meetings_.add_meeting(
            session, app_.settings, title=title, start=start, duration=duration,
            location=location, now=app_.now(),
        )  # fmt: skip
        when = schedule.human_local(meeting.start, app_.settings.group.tz)
        console.print(f"added meeting {meeting.id} ({meeting.ref}): {meeting.title}, {when}")


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List meetings, soonest first."""
    app_ = open_app(ctx)
    with app_.session() as session:
        rows = meetings_.list_meetings(session)
        if as_json:
            print_json([meetings_.meeting_json(m, app_.settings) for m in rows])
            return
        table = new_table("id", "ref", "title", "start", "min", "location", "status")
        for m in rows:
            table.add_row(str(m.id), m.ref, m.title,
                          schedule.iso_local(m.start, app_.settings.group.tz),
                          str(m.duration_minutes), m.location, m.status)  # fmt: skip
        console.print(table)


@group.command("show")
def show(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show one meeting with everyone's attendance."""
    app_ = open_app(ctx)
    with app_.session() as session:
        m = meetings_.find_meeting(session, meeting)
        people = meetings_.attendance(session, m)
        rows = rsvp.answers(session, m)
        data = meetings_.meeting_json(m, app_.settings)
        data["theme"] = m.theme
        data["attendance"] = [
            {"email": p.email, "name": p.name, "status": s}
            | rsvp.details_json(rows.get(p.id), app_.settings)
            for p, s in people
        ]
        if as_json:
            print_json(data)
            return
        console.print(f"[bold]{m.title}[/bold] ({m.ref}, id {m.id})")
        console.print(f"{schedule.human_local(m.start, app_.settings.group.tz)}, "
                      f"{m.duration_minutes} minutes, {m.location or 'no location'}")  # fmt: skip
        console.print(f"status {m.status}, sequence {m.sequence}, uid {m.uid}")
        if m.theme:
            console.print(f"theme: {m.theme}")
        table = new_table("member", "attendance", "in their words")
        for (person, status), extra in zip(people, data["attendance"], strict=True):
            table.add_row(f"{person.name} <{person.email}>", status, extra["comment"])
        console.print(table)
        for row in rows.values():
            if row.proposed_start is not None:
                when = schedule.human_local(row.proposed_start, app_.settings.group.tz)
                console.print(f"{row.member.name} proposes a new time: {when}")


@group.command("move")
def move(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    start: str = typer.Option(..., "--start", help='New local time "YYYY-MM-DD HH:MM".'),
) -> None:
    """Move a meeting and send everyone an invite update."""
    app_ = open_app(ctx)
    skipped: list[Skipped] = []
    with app_.session() as session:
        m = meetings_.find_meeting(session, meeting)
        queued = planning.move_meeting(session, app_.settings, m, start, now=app_.now(),
                                       on_skip=skipped.append)  # fmt: skip
        when = schedule.human_local(m.start, app_.settings.group.tz)
        console.print(f"moved {m.ref} to {when} (sequence {m.sequence}); {queued} update(s) queued")
    print_skips(skipped)
    deliver_now(app_)


@group.command("cancel")
def cancel(
    ctx: typer.Context, meeting: str = typer.Argument(..., help="Meeting id or ref.")
) -> None:
    """Cancel a meeting and send everyone a calendar CANCEL."""
    app_ = open_app(ctx)
    skipped: list[Skipped] = []
    with app_.session() as session:
        m = meetings_.find_meeting(session, meeting)
        queued = planning.cancel_meeting(session, app_.settings, m, now=app_.now(),
                                         on_skip=skipped.append)  # fmt: skip
        console.print(f"cancelled {m.ref}; {queued} cancellation(s) queued")
    print_skips(skipped)
    deliver_now(app_)
