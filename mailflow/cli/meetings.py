"""`mailflow meetings ...`: plan, add, list and show meetings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session
from typer.core import TyperCommand

from mailflow import meetings as meetings_
from mailflow import planning, rsvp, schedule, series
from mailflow.app import App
from mailflow.cli.base import app, console, new_table, open_app, print_json
from mailflow.cli.outbox import deliver_now, print_skips
from mailflow.cli.planning import DRY_RUN, FORCE, print_preview
from mailflow.errors import UserError
from mailflow.models import Member
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
        series.ensure_coming(session, app_.settings, now=app_.now())


@group.command("add")
def add(
    ctx: typer.Context,
    title: str = typer.Option(..., "--title", help="What the meeting is called."),
    start: str | None = typer.Option(
        None, "--start", help='Local time "YYYY-MM-DD HH:MM" (a series: default the next one).'
    ),
    duration: int | None = typer.Option(None, "--duration", help="Minutes (default from config)."),
    location: str = typer.Option("", "--location", help="Where it happens (room or link)."),
    every: str | None = typer.Option(
        None, "--every", help=f"A series, e.g. {schedule.EVERY_FORMS}."
    ),
    until: str | None = typer.Option(None, "--until", help="A series' last day, YYYY-MM-DD."),
    ref: str | None = typer.Option(None, "--ref", help="Its ref (default from the title)."),
    force: bool = FORCE,
) -> None:
    """Add an ad-hoc meeting, or a series (one calendar series, a record per occurrence)."""
    app_ = open_app(ctx)
    now, tz = app_.now(), app_.settings.group.tz
    with app_.session() as session:
        meeting = meetings_.add_meeting(
            session, app_.settings, title=title, start=start, duration=duration,
            location=location, now=now, every=every, until=until, ref=ref,
        )  # fmt: skip
        if not force:
            planning.check_start(app_.settings, meeting.start, now)
        when = schedule.human_local(meeting.start, tz)
        if meeting.rrule is None:
            console.print(f"added meeting {meeting.id} ({meeting.ref}): {meeting.title}, {when}")
            return
        series.ensure_coming(session, app_.settings, now=now)
        coming = series.coming(session, meeting, now=now, count=1)
        console.print(f"added series {meeting.id} ({meeting.ref}): {meeting.title}, "
                      f"from {when} ({meeting.rrule})")  # fmt: skip
        if coming:
            console.print(f"next occurrence: {coming[0].ref}")


@group.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List meetings, soonest first (of a series, its next few occurrences)."""
    app_ = open_app(ctx)
    now = app_.now()
    with app_.session() as session:
        series.ensure_coming(session, app_.settings, now=now)
        session.commit()
        shown = app_.settings.series.list_occurrences
        rows = meetings_.list_meetings(session, now=now, occurrences=shown)
        if as_json:
            print_json([meetings_.meeting_json(m, app_.settings) for m in rows])
            return
        table = new_table("id", "ref", "title", "start", "min", "location", "status")
        for m in rows:
            table.add_row(str(m.id), m.ref, m.heading,
                          schedule.iso_local(m.start, app_.settings.group.tz),
                          str(m.duration_minutes), m.location, m.status)  # fmt: skip
        console.print(table)


@group.command("show")
def show(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show one meeting: everyone's calendar answer and, once recorded, who came."""
    app_ = open_app(ctx)
    with app_.session() as session:
        m = meetings_.find_meeting(session, meeting)
        people = meetings_.attendance(session, m)
        rows = rsvp.answers(session, m)
        came = meetings_.roll(session, m)
        data = meetings_.meeting_json(m, app_.settings)
        data["theme"] = m.theme
        data["attendance"] = [
            {"email": p.email, "name": p.name, "status": s}
            | rsvp.details_json(rows.get(p.id), app_.settings)
            for p, s in people
        ]
        data["present"] = [p.email for p in came.present]
        data["apologies"] = [p.email for p in came.apologies]
        data["absent"] = [p.email for p in came.absent]
        if as_json:
            print_json(data)
            return
        console.print(f"[bold]{m.title}[/bold] ({m.ref}, id {m.id})")
        console.print(f"{schedule.human_local(m.start, app_.settings.group.tz)}, "
                      f"{m.duration_minutes} minutes, {m.location or 'no location'}")  # fmt: skip
        console.print(f"status {m.status}, sequence {m.sequence}, uid {m.uid}")
        if m.theme:
            console.print(f"theme: {m.theme}")
        table = new_table("member", "calendar answer", "came", "in their words")
        for (person, status), extra in zip(people, data["attendance"], strict=True):
            table.add_row(f"{person.name} <{person.email}>", status, _came(came, person),
                          extra["comment"])  # fmt: skip
        console.print(table)
        if not came.recorded:
            console.print("who came is not recorded yet (`mailflow meetings attendance`)")
        for row in rows.values():
            if row.proposed_start is not None:
                when = schedule.human_local(row.proposed_start, app_.settings.group.tz)
                console.print(f"{row.member.name} proposes a new time: {when}")


def _came(came: meetings_.Roll, person: Member) -> str:
    if person in came.present:
        return "present"
    if person in came.apologies:
        return "apologies"
    return "absent" if person in came.absent else ""


class _ManyValues(TyperCommand):
    """Lets `--present a@x b@x` give several values after one option, as well as
    `--present a@x --present b@x` and `--present a@x,b@x`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, spread_values(args, ATTENDANCE_OPTIONS))


ATTENDANCE_OPTIONS = ("--present", "--apologies", "--absent")


def spread_values(args: list[str], options: tuple[str, ...]) -> list[str]:
    """Repeat the option before each of the values that follow it (until the next option),
    and split comma-separated values."""
    out: list[str] = []
    current = None
    for arg in args:
        name, _, value = arg.partition("=")
        if arg.startswith("-"):
            current = name if name in options else None
            if current and value:
                out += [x for v in value.split(",") if v.strip() for x in (current, v.strip())]
                continue
            if current is None:
                out.append(arg)
            continue
        if current is None:
            out.append(arg)
            continue
        out += [x for v in arg.split(",") if v.strip() for x in (current, v.strip())]
    return out


@group.command("attendance", cls=_ManyValues)
def attendance(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting id or ref."),
    present: list[str] = typer.Option(
        [], "--present", help="Who came: addresses or names (several values, or repeat)."
    ),
    apologies: list[str] = typer.Option([], "--apologies", help="Who sent apologies."),
    absent: list[str] = typer.Option([], "--absent", help="Who did not come."),
    force: bool = typer.Option(False, "--force", help="Record it before the meeting starts."),
) -> None:
    """Record who actually came to a meeting (calendar answers stay as they were)."""
    if not (present or apologies or absent):
        raise UserError("name at least one member with --present, --apologies or --absent")
    app_ = open_app(ctx)
    with app_.session() as session:
        m = meetings_.find_meeting(session, meeting)
        if m.start > app_.now() and m.status != "cancelled" and not force:
            when = schedule.human_local(m.start, app_.settings.group.tz)
            raise UserError(f"{m.ref} starts {when}, so nobody has come yet; "
                            "use --force to record attendance now")  # fmt: skip
        named = {
            option: meetings_.members_named(session, values, where=option)
            for option, values in (("--present", present), ("--apologies", apologies),
                                   ("--absent", absent))
        }  # fmt: skip
        meetings_.record_presence(session, m, present=named["--present"],
                                  apologies=named["--apologies"], absent=named["--absent"],
                                  now=app_.now())  # fmt: skip
        came = meetings_.roll(session, m)
        console.print(f"{m.ref} is {m.status}: {len(came.present)} present, "
                      f"{len(came.apologies)} apologies, {len(came.absent)} absent")  # fmt: skip
        for label, people in (("present", came.present), ("apologies", came.apologies),
                              ("absent", came.absent)):  # fmt: skip
            if people:
                console.print(f"  {label}: {', '.join(p.name for p in people)}")


@contextmanager
def _session(app_: App, *, dry_run: bool) -> Iterator[Session]:
    """The command's session; for a dry run, one whose commits are savepoints inside a
    transaction that is rolled back at the end, so nothing it does is kept."""
    if not dry_run:
        with app_.session() as session:
            yield session
        return
    with app_.engine.connect() as connection:
        outer = connection.begin()
        if connection.dialect.name == "sqlite":  # pysqlite begins only before a write
            connection.exec_driver_sql("BEGIN")
        session = Session(bind=connection, join_transaction_mode="create_savepoint",
                          expire_on_commit=False, info={"settings": app_.settings})  # fmt: skip
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@group.command("move")
def move(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting, series or occurrence (id or ref)."),
    start: str = typer.Option(..., "--start", help='New local time "YYYY-MM-DD HH:MM".'),
    force: bool = FORCE,
    dry_run: bool = DRY_RUN,
) -> None:
    """Move a meeting or one occurrence (an update for that date), or a series from that
    date on (its new day and time), and send the update."""
    app_ = open_app(ctx)
    settings, now = app_.settings, app_.now()
    skipped: list[Skipped] = []
    preview = planning.Preview() if dry_run else None
    with _session(app_, dry_run=dry_run) as session:
        m = meetings_.find_meeting(session, meeting)
        when = schedule.parse_local(start, settings.group.tz)
        if not force:
            planning.check_start(settings, when, now)
        if m.rrule is not None and m.series is not None:
            raise UserError(f"{m.ref} is {m.series.ref} before a move; move {m.series.ref} "
                            "or one of its dates")  # fmt: skip
        if m.rrule is not None:
            moved = series.move_series(session, settings, m, when, now=now,
                                       on_skip=skipped.append, preview=preview)  # fmt: skip
            queued, ref = moved.queued, moved.series.ref
            ended = f"; the series so far is {moved.ended.ref}" if moved.ended else ""
        else:
            queued = planning.move_meeting(session, settings, m, when, now=now,
                                           on_skip=skipped.append, preview=preview)  # fmt: skip
            ref, ended = m.ref, ""
        if preview is not None:
            print_preview(preview, f"the update for {ref}")
            return
        told = f"{queued} update(s) queued" if planning.announced(session, m) else (
            "nothing sent: members were never told of it")  # fmt: skip
        console.print(f"moved {ref} to {schedule.human_local(when, settings.group.tz)}"
                      f"{ended}; {told}")  # fmt: skip
    print_skips(skipped)
    deliver_now(app_)


@group.command("cancel")
def cancel(
    ctx: typer.Context,
    meeting: str = typer.Argument(..., help="Meeting, series or occurrence (id or ref)."),
    dry_run: bool = DRY_RUN,
) -> None:
    """Cancel a meeting, one occurrence of a series or a whole series, and send a CANCEL."""
    app_ = open_app(ctx)
    skipped: list[Skipped] = []
    preview = planning.Preview() if dry_run else None
    with _session(app_, dry_run=dry_run) as session:
        m = meetings_.find_meeting(session, meeting)
        told = planning.announced(session, m)
        queued = planning.cancel_meeting(session, app_.settings, m, now=app_.now(),
                                         on_skip=skipped.append, preview=preview)  # fmt: skip
        if preview is not None:
            print_preview(preview, f"the cancellation of {m.ref}")
            return
        if not told:
            console.print(f"cancelled {m.ref}; nothing sent: no invites or call for items "
                          "had gone out")  # fmt: skip
            return
        console.print(f"cancelled {m.ref}; {queued} cancellation(s) queued")
    print_skips(skipped)
    deliver_now(app_)
