"""The coordinator by email: the agenda draft, and the commands they reply with.

The draft (`mailflow agenda MEETING --mail`, or `tick` `[schedule] agenda_draft_days`
before the invites) goes to every coordinator from their signed address for the meeting
(purpose ``k``), listing the agenda and every item with its number. A reply there may
say, one per line: ``approve`` (send the invites), ``defer N`` (move item N to the next
meeting), ``merge A B`` (fold B into A), ``minutes N M`` (give agenda item N M minutes).

A reply is obeyed only if it comes to that signed address from a coordinator (a member
with the coordinator role, or the ``[group] coordinator`` address) and is authentic for
that address as `senders` defines it: the envelope sender is the same address and, when
``[inbound] trusted_authserv_id`` is set, that server's Authentication-Results show a
dkim, spf or dmarc pass for its domain. The signed address alone is not enough here:
``approve`` mails every member. Otherwise the reply is held with the reason.

Every reply is answered with what was done, what could not be done and why, and every
line that was not understood, which is never guessed at. ``approve`` waits if a line not
understood looks like a command (it has a number or a command word in it): the invites
are the one thing that cannot be taken back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import items, notices, planner, planning, rsvp, schedule, senders
from mailflow.commands import Command, CoordinatorReply
from mailflow.config import Settings
from mailflow.corrections import next_meeting_after
from mailflow.errors import Hold, UserError
from mailflow.models import Attendance, Item, Mailing, Meeting, Member


@dataclass(frozen=True)
class Outcome:
    """What became of one command: the line as written, whether it was done, and how."""

    line: str
    done: bool
    text: str


# --- the draft ---------------------------------------------------------------------------


def _place(item_id: int, agenda: planner.Agenda) -> str:
    """Where the planner put an item, in a few words."""
    reason = agenda.reasons.get(item_id, "")
    if item_id in agenda.deferred:
        return f"deferred: {reason}"
    if item_id in agenda.written_answer:
        return f"for written answer: {reason}"
    return "on the agenda" if item_id in agenda.scheduled else ""


def draft_context(session: Session, settings: Settings, meeting: Meeting) -> dict[str, Any]:
    """What the draft shows: the agenda, numbered items, apologies and proposed times."""
    agenda, text = planning.agenda_text(session, settings, meeting)
    rows = [i for i in items.meeting_items(session, meeting) if i.kind in ("question", "agenda")
            and i.status != "withdrawn"]  # fmt: skip
    proposals = session.scalars(
        select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.proposed_start.is_not(None)
        )
    ).all()
    tz = settings.group.tz
    return planning.common_context(settings, meeting) | {
        "agenda": text,
        "items": [(i, _place(i.id, agenda)) for i in rows],
        "apologies": rsvp.apologies(session, meeting),
        "proposals": [(a.member, schedule.human_local(a.proposed_start, tz), a.comment)
                      for a in proposals if a.proposed_start is not None],
        "outcomes": [], "unknown": [],
    }  # fmt: skip


def _fingerprint(context: dict[str, Any]) -> str:
    listed = "\n".join(f"{i.id}:{i.minutes}:{place}" for i, place in context["items"])
    return hashlib.sha256(f"{context['agenda']}\n{listed}".encode()).hexdigest()[:16]


def send_draft(session: Session, settings: Settings, meeting: Meeting, *, now: datetime) -> int:
    """Mail the agenda draft to every coordinator; the same draft is mailed once."""
    context = draft_context(session, settings, meeting)
    subject = f"Agenda draft: {meeting.heading} ({context['when']})"

    return notices.mail_coordinators(
        session, settings, key=f"draft:{meeting.id}:{_fingerprint(context)}",
        kind="agenda-draft", meeting=meeting, template="coordinator/draft", context=context,
        subject=subject, now=now,
        reply_to=lambda member: planning.signed(settings, "k", meeting.id, member),
    )  # fmt: skip


def _exists(session: Session, pattern: str) -> bool:
    query = select(Mailing.id).where(Mailing.key.like(pattern)).limit(1)
    return session.scalar(query) is not None


def due_draft(session: Session, settings: Settings, meeting: Meeting, now: datetime) -> list[str]:
    """Mail the first draft `agenda_draft_days` before the invites (once per meeting)."""
    days = settings.schedule.agenda_draft_days
    invite_at = planning.deadline(settings, meeting)
    if days <= 0 or not invite_at - timedelta(days=days) <= now < invite_at:
        return []
    if _exists(session, f"draft:{meeting.id}:%") or _exists(session, f"invite:{meeting.id}:%"):
        return []
    if not notices.coordinators(session, settings):
        return []
    count = send_draft(session, settings, meeting, now=now)
    return [f"{meeting.ref}: agenda draft mailed to {count} coordinator(s)"]


# --- who may command ---------------------------------------------------------------------


def verify(
    settings: Settings, *, raw: bytes, envelope: str, sender: str, member: Member | None
) -> None:
    """Hold a command reply unless it comes from a coordinator and is authentic for their
    address (`senders.doubt`, given the SMTP `envelope` sender)."""
    if not notices.is_coordinator(settings, member, sender):
        raise Hold(
            f"agenda commands from {sender or 'an unknown sender'}, who is not a coordinator"
        )
    why = senders.doubt(raw, envelope=envelope, address=sender,
                        authserv_id=settings.inbound.trusted_authserv_id)  # fmt: skip
    if why is not None:
        raise Hold(f"agenda commands not taken as the coordinator's: {why}")


# --- the commands --------------------------------------------------------------------------


def _on_agenda(session: Session, meeting: Meeting) -> dict[int, Item]:
    return {i.id: i for i in items.meeting_items(session, meeting)
            if i.kind in ("question", "agenda") and i.status != "withdrawn"}  # fmt: skip


def _defer(session: Session, meeting: Meeting, item: Item) -> str:
    later = next_meeting_after(session, meeting)
    if later is None:
        raise UserError("no later meeting is planned to defer it to")
    item.meeting_id, item.status, item.carried = later.id, "deferred", item.carried + 1
    return f"#{item.id} {item.title} deferred to {later.title} ({later.ref})"


def _minutes(meeting: Meeting, item: Item, minutes: int) -> str:
    if item.kind == "question":
        raise UserError("it is a question; questions share the Questions slot")
    if not 1 <= minutes <= meeting.duration_minutes:
        raise UserError(f"{minutes} minutes is not between 1 and {meeting.duration_minutes}")
    item.minutes = minutes
    return f"#{item.id} {item.title} now has {minutes} minutes"


def _apply(session: Session, meeting: Meeting, command: Command) -> Outcome:
    ids = command.args[:2] if command.verb == "merge" else command.args[:1]
    present = _on_agenda(session, meeting)
    missing = [n for n in ids if n not in present]
    if missing:
        return Outcome(command.line, False, f"#{missing[0]} is not an item of this meeting")
    item = present[ids[0]]
    try:
        if command.verb == "defer":
            text = _defer(session, meeting, item)
        elif command.verb == "minutes":
            text = _minutes(meeting, item, command.args[1])
        else:
            kept = items.merge_items(session, ids[0], ids[1])
            text = f"#{ids[1]} merged into #{kept.id} {kept.title}"
    except UserError as exc:
        return Outcome(command.line, False, str(exc))
    session.flush()
    return Outcome(command.line, True, text)


def _approve(
    session: Session, settings: Settings, meeting: Meeting, command: Command, doubtful: bool,
    now: datetime,
) -> Outcome:  # fmt: skip
    if doubtful:
        return Outcome(command.line, False, "invitations not sent: part of your reply was not "
                       "understood (below); reply \"approve\" once the rest is right")  # fmt: skip
    if meeting.status == "cancelled":
        return Outcome(command.line, False, "the meeting is cancelled")
    if _exists(session, f"invite:{meeting.id}:{meeting.sequence}"):
        return Outcome(command.line, True, "the invitations had already gone out")
    report = planning.send_invites(session, settings, meeting, now=now)
    return Outcome(command.line, True, f"invitations sent to {report.invites} member(s)")


def apply_commands(
    session: Session, settings: Settings, meeting: Meeting, reply: CoordinatorReply, *,
    now: datetime,
) -> list[Outcome]:  # fmt: skip
    """Carry out the understood commands in order, ``approve`` last, and say how each went."""
    outcomes = [_apply(session, meeting, c) for c in reply.commands if c.verb != "approve"]
    approvals = [c for c in reply.commands if c.verb == "approve"]
    if approvals:
        outcomes.append(_approve(session, settings, meeting, approvals[0], reply.doubtful, now))
    return outcomes


def confirm(
    session: Session, settings: Settings, meeting: Meeting, to: Member, *,
    reply: CoordinatorReply, outcomes: list[Outcome], now: datetime, subject: str,
    in_reply_to: str | None,
) -> None:  # fmt: skip
    """Answer the coordinator: each command's outcome, what was not understood, the agenda."""
    context = draft_context(session, settings, meeting) | {
        "outcomes": outcomes, "unknown": list(reply.not_understood),
    }  # fmt: skip
    notices.queue_mail(
        session, settings, to=to, template="coordinator/draft", context=context, now=now,
        subject=subject, reply_to=planning.signed(settings, "k", meeting.id, to),
        in_reply_to=in_reply_to, auto_submitted="auto-replied",
    )  # fmt: skip
