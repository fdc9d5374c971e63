"""Members joining and leaving by mail: the welcome, leaving, rejoining.

* **Joining.** `welcome` mails a new member what the group is, the next meeting and
  its deadline, how to reply, and the minutes last sent (the HTML every member got,
  attached), from their reply address for the next meeting.
* **Leaving.** Mail to a member's List-Unsubscribe address (purpose ``u``), or a reply
  whose whole text asks to leave (`leaving`), deactivates the member at once (`leave`):
  one confirmation goes to them, from their rejoin address (purpose ``j``), and the
  coordinators are told. Nothing else is sent to them (`notices.queue_mail` and every
  fan-out skip members who have left).
* **Rejoining.** A reply to that confirmation that does not ask to leave again makes
  them a member again (`rejoin`); the coordinators are told. Only someone who left by
  mail (`Member.left_at`) comes back this way: a member the coordinator removed does not.
"""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import compose, notices, planning
from mailflow.config import Settings
from mailflow.ingest import next_meeting
from mailflow.models import Mailing, Meeting, Member, OutboxMessage


def _reply_address(session: Session, settings: Settings, member: Member, now: datetime) -> str:
    """Where a member's reply to a membership mail goes: their call-for-items address for
    the next meeting (so questions and items count), else their acknowledgement address."""
    meeting = next_meeting(session, now)
    if meeting is None:
        return planning.signed(settings, "a", 0, member)
    return planning.signed(settings, "c", meeting.id, member)


def _tell_coordinators(
    session: Session, settings: Settings, member: Member, *, event: str, how: str, now: datetime
) -> None:
    """One short mail to every coordinator: who left or came back, and how."""
    context = {"member": member, "event": event, "how": how}
    for coordinator in notices.coordinators(session, settings):
        notices.queue_mail(session, settings, to=coordinator, template="coordinator/membership",
                           context=context, now=now,
                           subject=f"{member.name} has {event} {settings.group.name}")  # fmt: skip


def leave(
    session: Session, settings: Settings, member: Member, *, how: str, now: datetime,
    subject: str = "", in_reply_to: str | None = None,
) -> None:  # fmt: skip
    """Deactivate `member` at once, confirm it to them and tell the coordinators.

    `how` says what they did ("mail to the unsubscribe address", ...), for the
    coordinators. The caller commits.
    """
    left = compose.reply_subject(subject) if subject else f"You have left {settings.group.name}"
    notices.queue_mail(
        session, settings, to=member, template="member/left", context={}, now=now,
        subject=left,
        reply_to=planning.signed(settings, "j", 0, member), in_reply_to=in_reply_to,
        auto_submitted="auto-replied",
    )  # fmt: skip
    # only now: the confirmation is the last mail a member who has left is sent
    member.active, member.left_at = False, now
    _tell_coordinators(session, settings, member, event="left", how=how, now=now)


def rejoin(
    session: Session, settings: Settings, member: Member, *, now: datetime,
    in_reply_to: str | None = None,
) -> None:  # fmt: skip
    """Make a member who left by mail a member again, tell them and the coordinators."""
    member.active, member.left_at = True, None
    lines = [
        f"Welcome back: you are a member of {settings.group.name} again, and will get its "
        "mail as before.",
        'To leave, reply "unsubscribe" to any of our emails.',
    ]
    notices.queue_mail(
        session, settings, to=member, template="member/reply", context={"lines": lines},
        now=now, subject=f"Welcome back to {settings.group.name}", in_reply_to=in_reply_to,
        reply_to=_reply_address(session, settings, member, now), auto_submitted="auto-replied",
    )  # fmt: skip
    _tell_coordinators(session, settings, member, event="rejoined",
                       how="a reply to the confirmation that they had left", now=now)  # fmt: skip


def last_minutes(session: Session, settings: Settings) -> compose.Part | None:
    """The minutes last sent, as the HTML page every member got (None if none were sent).

    The copy is a coordinator's if one got it (the one copy the group's organiser would
    forward), else the first queued; its personal lines are only the greeting and that
    person's actions, which the minutes list for everyone anyway.
    """
    mailing = session.scalar(
        select(Mailing).where(Mailing.kind == "minutes").order_by(Mailing.id.desc()).limit(1)
    )
    if mailing is None:
        return None
    copies = session.scalars(
        select(OutboxMessage).where(OutboxMessage.mailing_id == mailing.id)
        .order_by(OutboxMessage.id)
    ).all()  # fmt: skip
    wanted = {c.email.lower() for c in notices.coordinators(session, settings)}
    chosen = next(
        (c for c in copies if c.recipient.lower() in wanted), copies[0] if copies else None
    )
    if chosen is None:
        return None
    sent = message_from_bytes(chosen.raw, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    body = sent.get_body(("html",))
    if body is None:
        return None
    meeting = session.get(Meeting, mailing.meeting_id) if mailing.meeting_id else None
    name = f"minutes-{meeting.ref}.html" if meeting else "minutes.html"
    return compose.Part(str(body.get_content()).encode("utf-8"), "text/html", name)


def welcome(session: Session, settings: Settings, member: Member, *, now: datetime) -> None:
    """Queue the welcome for a new member (see the module docstring); the caller commits."""
    meeting = next_meeting(session, now)
    minutes = last_minutes(session, settings)
    context = {
        "meeting": planning.common_context(settings, meeting) if meeting else None,
        "minutes": minutes is not None,
        "address": settings.mail.address,
    }
    notices.queue_mail(
        session, settings, to=member, template="member/welcome", context=context, now=now,
        subject=f"Welcome to {settings.group.name}",
        reply_to=_reply_address(session, settings, member, now),
        attachments=[minutes] if minutes else [],
    )  # fmt: skip
