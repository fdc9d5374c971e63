"""The planning mailings: call for items, reminders, agenda with invites, moves, cancels.

Every mailing is a fan-out through the outbox keyed so that running it twice (or in two
overlapping `tick`s) queues each member's copy once: ``call:<meeting>``,
``reminder:<meeting>``, ``invite:<meeting>:<sequence>``, ``cancel:<meeting>:<sequence>``,
``outcome:<meeting>``. A member whose copy cannot be built is skipped (see
`outbox.fan_out`) and handed to the caller's `on_skip`, or listed in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailflow import actions, addresses, compose, itip, late, outbox, planner, schedule
from mailflow.addresses import ReplyToken
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.items import apply_agenda, meeting_items, plan_agenda, with_apologies
from mailflow.members import active_members
from mailflow.models import Attendance, Item, Mailing, Meeting, Member

Progress = Callable[[int], None] | None


@dataclass
class Preview:
    """A dry run's record of who would get what: (recipient, subject), queuing nothing."""

    rows: list[tuple[str, str]] = field(default_factory=list)


def to_address(member: Member) -> Address:
    """A member as a To: address, their name made one line (see `compose.mailbox`).

    Raises `ValueError` if the stored address cannot go into a header.
    """
    return compose.mailbox(member.email, member.name)


def signed(settings: Settings, purpose: str, target_id: int, member: Member) -> str:
    """The member's signed reply address for this purpose and target."""
    token = ReplyToken(purpose, target_id, member.id)
    return addresses.reply_address(settings.mail.address, settings.mail.secret, token)


def deadline(settings: Settings, meeting: Meeting) -> datetime:
    """When items must be in: the day the agenda and invites go out."""
    return meeting.start - timedelta(days=settings.schedule.invite_days)


def _when(settings: Settings, when: datetime) -> str:
    return schedule.human_local(when, settings.group.tz)


def common_context(settings: Settings, meeting: Meeting) -> dict[str, object]:
    """What every member mail about `meeting` shows: group, title, when, where, deadline."""
    return {
        "group": settings.group.name,
        "meeting_id": meeting.id,
        "title": meeting.title,
        "theme": meeting.theme,
        "when": _when(settings, meeting.start),
        "location": meeting.location,
        "duration": meeting.duration_minutes,
        "deadline": _when(settings, deadline(settings, meeting)),
    }


def proposed_items(session: Session, meeting: Meeting) -> list[Item]:
    """The meeting's questions and agenda items that are still wanted (not withdrawn)."""
    return [
        i
        for i in meeting_items(session, meeting)
        if i.kind in ("question", "agenda") and i.status != "withdrawn"
    ]


def fan_out(
    session: Session, *, key: str, kind: str, meeting: Meeting | None,
    recipients: Sequence[Member], build: Callable[[Member], EmailMessage], now: datetime,
    progress: Progress = None, on_skip: outbox.SkipHook = None, preview: Preview | None = None,
    blobs: Sequence[str] = (),
) -> int:  # fmt: skip
    """Queue `build(member)` once per member for the mailing `key` (see `outbox.fan_out`;
    `blobs` names the shared attachments every message refers to).

    Returns how many messages this run queued; members already queued are not queued
    again, and members whose message cannot be built go to `on_skip`. With `preview`,
    nothing is stored: each message that would be queued is built and listed there.
    """
    by_email = {m.email.lower(): m for m in recipients}
    if preview is not None:
        return _preview(session, key, by_email, build, preview, on_skip)
    mailing = outbox.get_mailing(session, key=key, kind=kind, now=now,
                                 meeting_id=meeting.id if meeting else None)  # fmt: skip
    return outbox.fan_out(
        session, mailing, list(by_email), lambda e: build(by_email[e]), now=now,
        progress=progress, on_skip=on_skip, blobs=blobs,
    )  # fmt: skip


def _preview(
    session: Session, key: str, by_email: dict[str, Member],
    build: Callable[[Member], EmailMessage], preview: Preview, on_skip: outbox.SkipHook,
) -> int:  # fmt: skip
    """List what `fan_out` would queue for the mailing `key`, storing nothing."""
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    pending = outbox.pending_recipients(session, mailing, by_email) if mailing else list(by_email)
    count = 0
    for email in pending:
        msg = outbox.try_build(lambda e: build(by_email[e]), email)
        if isinstance(msg, outbox.Skipped):
            if on_skip:
                on_skip(msg)
            continue
        preview.rows.append((by_email[email].email, str(msg["Subject"])))
        count += 1
    return count


def call_for_items(
    session: Session, settings: Settings, meeting: Meeting, *, now: datetime,
    reminder: bool = False, progress: Progress = None, on_skip: outbox.SkipHook = None,
    preview: Preview | None = None,
) -> int:  # fmt: skip
    """Mail the call for items from each member's own reply address.

    The call goes to every active member; with `reminder`, only to those who have not
    replied yet. Returns how many messages were queued now (with `preview`, would be);
    a member whose message cannot be built goes to `on_skip` and the others still get
    theirs.
    """
    _require_open(meeting)
    if preview is None:
        late.place_waiting(session, now)  # items waiting for a meeting join this one
    context = common_context(settings, meeting) | {"proposed": proposed_items(session, meeting),
                                            "reminder": reminder}  # fmt: skip
    open_actions = [actions.view(a) for a in actions.open_before(session, meeting)]
    context["open_actions"] = open_actions  # each owner's are highlighted in their own call
    if reminder:
        key, recipients = f"reminder:{meeting.id}", members_without_reply(session, meeting)
        subject = f"Reminder: items for {meeting.title} by {context['deadline']}"
    else:
        key, recipients = f"call:{meeting.id}", list(active_members(session))
        subject = f"Call for items: {meeting.title} ({_when(settings, meeting.start)})"

    def build(member: Member) -> EmailMessage:
        mine = [a for a in open_actions if a["email"] == member.email]
        personal = {"name": settings.group.greet(member.name), "your_actions": mine}
        text, html = compose.render("member/call-for-items", context | personal)
        return compose.build_message(
            settings, to=to_address(member), now=now, text=text, html=html, subject=subject,
            reply_to=signed(settings, "c", meeting.id, member),
        )  # fmt: skip

    return fan_out(session, key=key, kind="reminder" if reminder else "call-for-items",
                    meeting=meeting, recipients=recipients, build=build, now=now,
                    progress=progress, on_skip=on_skip, preview=preview)  # fmt: skip


def members_without_reply(session: Session, meeting: Meeting) -> list[Member]:
    """Active members who sent nothing for the meeting (no item, no attendance answer)."""
    sent = set(session.scalars(select(Item.member_id).where(Item.meeting_id == meeting.id)))
    answered = set(
        session.scalars(select(Attendance.member_id).where(Attendance.meeting_id == meeting.id))
    )
    return [m for m in active_members(session) if m.id not in sent | answered]


def _require_open(meeting: Meeting) -> None:
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.ref} is cancelled")


# --- the coordinator's slips ----------------------------------------------------------
# A step the coordinator runs by hand at the wrong moment is refused with one line
# naming `--force`. `tick` never meets these checks: it runs each step when it is due.


def check_call(settings: Settings, meeting: Meeting, now: datetime) -> None:
    """Refuse a call for items whose deadline has already passed."""
    due = deadline(settings, meeting)
    if now >= due:
        raise UserError(f"the items deadline for {meeting.ref} ({_when(settings, due)}) has "
                        "passed; use --force to send the call anyway")  # fmt: skip


def check_invites(settings: Settings, meeting: Meeting, now: datetime) -> None:
    """Refuse invites (which fix the agenda) before the items deadline."""
    due = deadline(settings, meeting)
    if now < due:
        raise UserError(f"members may send items for {meeting.ref} until {_when(settings, due)}; "
                        "use --force to fix the agenda and send the invites now")  # fmt: skip


def check_minutes(settings: Settings, meeting: Meeting, now: datetime) -> None:
    """Refuse minutes for a meeting that has not started yet."""
    if now < meeting.start:
        raise UserError(f"{meeting.ref} is on {_when(settings, meeting.start)} and has not "
                        "happened yet; use --force to send the minutes anyway")  # fmt: skip


# --- agenda and invites ---------------------------------------------------------------


@dataclass(frozen=True)
class InviteReport:
    """What `send_invites` queued, and whom it skipped (their mail could not be built)."""

    invites: int
    outcomes: int
    agenda: planner.Agenda
    skipped: tuple[outbox.Skipped, ...] = ()


def agenda_views(
    session: Session, settings: Settings, meeting: Meeting
) -> tuple[planner.Agenda, str, dict[str, object]]:
    """The meeting's agenda, its plain-text rendering, and the context of its HTML table
    (`agenda-table.html.j2`)."""
    agenda, by_id = plan_agenda(session, settings, meeting)
    heading = f"{meeting.heading}, {_when(settings, meeting.start)}"
    local_start = schedule.to_local(meeting.start, settings.group.tz)
    table = planner.table_context(agenda, by_id, start=local_start)
    return agenda, planner.render_text(agenda, by_id, heading=heading), table


def agenda_text(
    session: Session, settings: Settings, meeting: Meeting
) -> tuple[planner.Agenda, str]:
    """The meeting's agenda and its plain-text rendering."""
    agenda, text, _ = agenda_views(session, settings, meeting)
    return agenda, text


def _event(
    settings: Settings, meeting: Meeting, description: str, member: Member
) -> itip.EventInfo:
    # The organizer is the member's signed invite address, so that every calendar's
    # RSVP comes back to mailflow and is matched to the member it was sent to. An
    # occurrence is its series' UID with its RECURRENCE-ID, from the series' organizer.
    head = meeting.series if meeting.recurrence_id is not None else None
    return itip.EventInfo(
        uid=(head or meeting).uid, sequence=meeting.sequence, title=meeting.heading,
        description=description, location=meeting.location, start=meeting.start,
        duration_minutes=meeting.duration_minutes, tz=settings.group.tz,
        organizer_email=signed(settings, "i", (head or meeting).id, member),
        organizer_name=settings.group.name, sent_by=None, rrule=meeting.rrule,
        exdates=meeting.skipped(), recurrence_id=meeting.recurrence_id,
        alarm_minutes=settings.schedule.reminder_alarm_minutes,
    )  # fmt: skip


def _calendar_message(
    settings: Settings, meeting: Meeting, member: Member, *, method: str, subject: str,
    template: str, context: dict[str, object], description: str, now: datetime,
    attachments: Sequence[compose.Part] = (),
) -> EmailMessage:  # fmt: skip
    event = _event(settings, meeting, description, member)
    ics = itip.build_calendar(event, [itip.Attendee(member.email, member.name)], method=method,
                              stamp=now)  # fmt: skip
    text, html = compose.render(template, context | {"name": settings.group.greet(member.name)})
    return compose.build_message(
        settings, to=to_address(member), subject=subject, text=text, html=html, now=now,
        reply_to=signed(settings, "i", meeting.id, member),
        calendar=compose.Part(ics, "text/calendar", "invite.ics", {"method": method}),
        attachments=attachments,
    )  # fmt: skip


def send_invites(
    session: Session, settings: Settings, meeting: Meeting, *, now: datetime,
    progress: Progress = None, preview: Preview | None = None,
) -> InviteReport:  # fmt: skip
    """Fix the agenda, mail it with a calendar REQUEST, and tell askers what moved.

    With `preview`, the agenda is not fixed and nothing is queued: the messages that
    would be are listed there.
    """
    _require_open(meeting)
    if preview is None:
        late.place_waiting(session, now)
    agenda, text, table = agenda_views(session, settings, meeting)
    if preview is None:
        apply_agenda(session, meeting, agenda)
        session.commit()
    verb = "Invitation" if meeting.sequence == 0 else "Updated invitation"
    subject = f"{verb}: {meeting.heading} ({_when(settings, meeting.start)})"
    written = _open_questions(session, agenda)
    from mailflow import papers as papers_  # papers builds on this module

    shared = papers_.invite_papers(session, settings, meeting)
    parts: list[compose.Part] = []
    blobs: list[str] = []
    if preview is None:  # a dry run stores nothing, the shared files' blobs included
        parts, blobs = shared.parts(session)
        session.commit()
    absent = with_apologies(session, meeting)
    context = common_context(settings, meeting) | {"agenda": text, "table": table,
                                                   "written": written,
                                                   "papers": shared.listing()}  # fmt: skip

    def build(member: Member) -> EmailMessage:
        return _calendar_message(settings, meeting, member, method="REQUEST", subject=subject,
                                 template="member/invite", description=text, now=now,
                                 context=context | {"apologies": member.id in absent},
                                 attachments=parts)  # fmt: skip

    skipped: list[outbox.Skipped] = []
    invites = fan_out(session, key=f"invite:{meeting.id}:{meeting.sequence}", kind="invite",
                       meeting=meeting, recipients=active_members(session), build=build,
                       now=now, progress=progress, on_skip=skipped.append,
                       preview=preview, blobs=blobs)  # fmt: skip
    outcomes = notify_outcomes(session, settings, meeting, agenda, now=now,
                               on_skip=skipped.append, preview=preview)  # fmt: skip
    return InviteReport(invites=invites, outcomes=outcomes, agenda=agenda,
                        skipped=tuple(skipped))  # fmt: skip


def _open_questions(session: Session, agenda: planner.Agenda) -> list[Item]:
    """The questions sent for a written answer that nobody has answered yet."""
    found = [session.get(Item, i) for i in agenda.written_answer]
    return [i for i in found if i is not None and i.kind == "question" and not i.answer]


def notify_outcomes(
    session: Session, settings: Settings, meeting: Meeting, agenda: planner.Agenda, *,
    now: datetime, on_skip: outbox.SkipHook = None, preview: Preview | None = None,
) -> int:  # fmt: skip
    """Tell each member whose items were deferred or sent for written answer, and why."""
    left_out = [*agenda.deferred, *agenda.written_answer]
    by_member: dict[int, list[Item]] = {}
    for item_id in left_out:
        item = session.get(Item, item_id)
        if item is not None and item.member is not None and item.member.active:
            by_member.setdefault(item.member.id, []).append(item)
    members = [session.get(Member, mid) for mid in by_member]
    context = common_context(settings, meeting) | {"reasons": dict(agenda.reasons)}

    def build(member: Member) -> EmailMessage:
        text, html = compose.render(
            "member/item-outcome",
            context | {"name": settings.group.greet(member.name), "items": by_member[member.id]},
        )
        return compose.build_message(
            settings, to=to_address(member), now=now, text=text, html=html,
            subject=f"Your items for {meeting.title}",
            reply_to=signed(settings, "a", meeting.id, member),
        )  # fmt: skip

    return fan_out(session, key=f"outcome:{meeting.id}", kind="item-outcome", meeting=meeting,
                    recipients=[m for m in members if m is not None], build=build,
                    now=now, on_skip=on_skip, preview=preview)  # fmt: skip


def announced(session: Session, meeting: Meeting) -> bool:
    """Whether members have heard of the meeting: its invites or its call for items went
    out (for an occurrence, also its series' invites)."""
    ids = [meeting.id]
    if meeting.recurrence_id is not None and meeting.series_id is not None:
        ids.append(meeting.series_id)
    keys = [Mailing.key.like(f"invite:{i}:%") for i in ids] + [Mailing.key == f"call:{meeting.id}"]
    return session.scalar(select(Mailing.id).where(or_(*keys)).limit(1)) is not None


def check_start(settings: Settings, start: datetime, now: datetime) -> None:
    """Refuse a new or moved meeting that would start in the past."""
    if start <= now:
        raise UserError(f"{_when(settings, start)} is in the past; use --force to set it anyway")


def move_meeting(
    session: Session, settings: Settings, meeting: Meeting, start: datetime, *, now: datetime,
    on_skip: outbox.SkipHook = None, preview: Preview | None = None,
) -> int:  # fmt: skip
    """Move a meeting (or one occurrence of a series) and send an update.

    The update has the same UID and SEQUENCE+1; for an occurrence, the series' UID and
    its RECURRENCE-ID, so calendars move that date only. Nothing is sent for a meeting
    members have not heard of (see `announced`). Returns how many invites were queued
    (with `preview`, would be: nothing is committed, the caller rolls back).
    """
    _require_open(meeting)
    meeting.start = start
    meeting.sequence += 1
    if not announced(session, meeting):
        if preview is None:
            session.commit()
        return 0
    if preview is None:
        session.commit()
    report = send_invites(session, settings, meeting, now=now, preview=preview)
    if on_skip:
        for skip in report.skipped:
            on_skip(skip)
    return report.invites


def cancel_meeting(
    session: Session, settings: Settings, meeting: Meeting, *, now: datetime,
    on_skip: outbox.SkipHook = None, preview: Preview | None = None,
) -> int:  # fmt: skip
    """Cancel a meeting, one occurrence or a whole series, and send a CANCEL.

    The CANCEL is the whole event with SEQUENCE+1; for an occurrence, the series' UID
    with its RECURRENCE-ID, and the series skips that date from then on (EXDATE). A
    series' coming occurrences are cancelled with it. Nothing is sent for a meeting
    members have not heard of (see `announced`). Returns how many were queued (with
    `preview`, would be: nothing is committed, the caller rolls back).
    """
    _require_open(meeting)
    meeting.status = "cancelled"
    meeting.sequence += 1
    if meeting.recurrence_id is not None and meeting.series is not None:
        skipped = {*meeting.series.skipped(), meeting.recurrence_id}
        meeting.series.exdates = ",".join(d.isoformat() for d in sorted(skipped))
    if meeting.rrule is not None:
        coming = select(Meeting).where(Meeting.series_id == meeting.id, Meeting.start > now,
                                       Meeting.recurrence_id.is_not(None))  # fmt: skip
        for occurrence in session.scalars(coming):
            occurrence.status = "cancelled"
    if preview is None:
        session.commit()
    if not announced(session, meeting):
        return 0
    _, text = agenda_text(session, settings, meeting)
    subject = f"Cancelled: {meeting.title} ({_when(settings, meeting.start)})"
    context = common_context(settings, meeting)

    def build(member: Member) -> EmailMessage:
        return _calendar_message(settings, meeting, member, method="CANCEL", subject=subject,
                                 template="member/cancel", context=context, description=text,
                                 now=now)  # fmt: skip

    return fan_out(session, key=f"cancel:{meeting.id}:{meeting.sequence}", kind="cancel",
                    meeting=meeting, recipients=active_members(session), build=build,
                    now=now, on_skip=on_skip, preview=preview)  # fmt: skip


def export_calendar(
    session: Session, settings: Settings, *, now: datetime, term: str | None = None
) -> bytes:
    """Every meeting (of one term, or all) as one calendar a member can subscribe to.

    A series is one event; of its occurrences only those moved on their own are added
    (with RECURRENCE-ID), as calendars keep them."""
    query = select(Meeting).order_by(Meeting.start)
    if term:
        query = query.where(Meeting.term == term)
    events = [
        itip.EventInfo(
            uid=m.series.uid if m.series is not None and m.recurrence_id else m.uid,
            recurrence_id=m.recurrence_id,
            sequence=m.sequence,
            title=m.title,
            description="",
            location=m.location,
            start=m.start,
            duration_minutes=m.duration_minutes,
            tz=settings.group.tz,
            organizer_email=settings.mail.address,
            organizer_name=settings.group.name,
            sent_by=None,
            rrule=m.rrule,
            exdates=m.skipped(),
        )
        for m in session.scalars(query)
        if m.status != "cancelled" and (m.recurrence_id is None or m.start != m.recurrence_id)
    ]
    if not events:
        raise UserError("no meetings to export")
    return itip.build_calendar_feed(events, stamp=now, name=settings.group.name)
