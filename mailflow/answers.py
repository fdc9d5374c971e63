"""Written answers: questions that did not fit the meeting, answered by a member by email.

A question for written answer is assigned to a member (`mailflow items assign ID EMAIL`,
or the member replies ``answer 5`` to volunteer). The assignee is mailed the question
from a signed address for that question (purpose ``w``, key ``answer:<item>:<member>``);
their reply there, cleaned of quotes and signature, becomes `Item.answer`, which is
mailed to the asker at once. A later reply replaces the answer and is sent again. The
minutes list the answers under "Questions answered in writing".

The loop is closed after the meeting too: answers that arrive after the minutes went out
reach every member in one "answers since the meeting" mail (`papers.due_answers`, by
`tick`) and are listed again in the next meeting's minutes (`since_last_meeting`); a
question still waiting is carried into the next meeting (`items.meeting_items`), and its
assignee is reminded once before it (`due_reminders`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import compose, mime, notices, planning
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.ingest import store_blob
from mailflow.items import get_item
from mailflow.members import find_member
from mailflow.models import Attachment, Item, Mailing, Meeting, Member


def waiting(item: Item) -> bool:
    """Whether `item` is a question waiting for a written answer."""
    return item.kind == "question" and item.status == "written-answer"


def asker_name(item: Item) -> str:
    """The name of the member who asked (or their address if they are not a member)."""
    return item.member.name if item.member else item.author


def request_answer(session: Session, settings: Settings, item: Item, member: Member, *,
                   now: datetime, before: Meeting | None = None) -> int:  # fmt: skip
    """Mail `member` the question from its signed answer address (once per assignee).

    With `before` (the next meeting), it is the one reminder the assignee gets (keyed
    per question and assignee, so a weekly meeting does not bring one a week).
    """
    context = {
        "group": settings.group.name, "question": item, "asker": asker_name(item),
        "meeting": item.meeting.title if item.meeting else "",
        "before": planning.common_context(settings, before) if before else None,
    }  # fmt: skip
    subject = f"{'Reminder: ' if before else ''}Would you answer in writing: {item.title}"
    key = f"answer:{item.id}:{member.id}" + (":reminder" if before else "")

    def build(to: Member) -> EmailMessage:
        personal = context | {"name": settings.group.greet(to.name)}
        text, html = compose.render("member/answer-request", personal)
        return compose.build_message(
            settings, to=planning.to_address(to), text=text, html=html, now=now,
            subject=subject, reply_to=planning.signed(settings, "w", item.id, to),
        )  # fmt: skip

    return planning.fan_out(session, key=key, kind="answer-request", meeting=item.meeting,
                            recipients=[member], build=build, now=now)  # fmt: skip


def _first_mailing(session: Session, kind: str, meeting: Meeting) -> Mailing | None:
    query = select(Mailing).where(Mailing.kind == kind, Mailing.meeting_id == meeting.id)
    return session.scalar(query.order_by(Mailing.id).limit(1))


def due_reminders(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Remind each assignee of an unanswered question once before the next meeting.

    Due when the next meeting's call for items is due (`call_for_items_days` before
    it), for questions assigned before then; once per question and assignee.
    """
    upcoming = session.scalar(
        select(Meeting).where(Meeting.start > now, Meeting.status != "cancelled")
        .order_by(Meeting.start).limit(1)
    )  # fmt: skip
    if upcoming is None:
        return []
    opens = upcoming.start - timedelta(days=settings.schedule.call_for_items_days)
    if now < opens:
        return []
    done = []
    for item in unanswered(session):
        asked = session.scalar(
            select(Mailing.created_at).where(Mailing.key == f"answer:{item.id}:{item.assignee_id}")
        )
        if item.assignee is None or not item.assignee.active or asked is None or asked >= opens:
            continue
        if request_answer(session, settings, item, item.assignee, now=now, before=upcoming):
            done.append(f"reminded {item.assignee.email} of question #{item.id}")
    session.commit()
    return done


def unanswered(session: Session) -> Sequence[Item]:
    """Questions waiting for a written answer that has not come, oldest first."""
    return session.scalars(
        select(Item)
        .where(Item.kind == "question", Item.status == "written-answer", Item.answer == "")
        .order_by(Item.id)
    ).all()


def pending_answers(session: Session) -> Sequence[Item]:
    """Answers that came after the latest minutes or answers mail (a changed answer comes
    again), oldest first; none before any minutes went out."""
    latest = session.scalar(
        select(func.max(Mailing.created_at)).where(Mailing.kind.in_(("minutes", "answers")))
    )
    return answered_between(session, latest, None) if latest is not None else []


def answered_between(session: Session, start: datetime, end: datetime | None) -> Sequence[Item]:
    """Questions answered in writing from `start` (inclusive) to `end` (exclusive)."""
    query = select(Item).where(Item.kind == "question", Item.answer != "",
                               Item.answered_at >= start)  # fmt: skip
    if end is not None:
        query = query.where(Item.answered_at < end)
    return session.scalars(query.order_by(Item.answered_at, Item.id)).all()


def since_last_meeting(session: Session, meeting: Meeting) -> list[Item]:
    """Answers to earlier meetings' questions that came after those minutes went out,
    for `meeting`'s minutes ("Answered in writing since the last meeting")."""
    before = session.scalar(
        select(Meeting).where(Meeting.start < meeting.start, Meeting.status != "cancelled")
        .order_by(Meeting.start.desc()).limit(1)
    )  # fmt: skip
    minutes = _first_mailing(session, "minutes", before) if before else None
    if minutes is None:
        return []
    return [i for i in answered_between(session, minutes.created_at, None)
            if i.meeting_id != meeting.id]  # fmt: skip


def assign(
    session: Session, settings: Settings, item_id: int, email: str, *, now: datetime
) -> tuple[Item, Member, int]:
    """The coordinator assigns a question for written answer to a member and mails them.

    Returns the item, the member and how many mails were queued (0 if already asked).
    Raises `UserError` for an unknown item or member, or an item not waiting for one.
    """
    item = get_item(session, item_id)
    member = find_member(session, email)
    if member is None or not member.active:
        raise UserError(f"{email} is not a member")
    if not waiting(item):
        raise UserError(f"item {item.id} is not a question for written answer ({item.status})")
    if item.answer:
        raise UserError(f"question {item.id} has already been answered")
    item.assignee_id = member.id
    session.flush()
    return item, member, request_answer(session, settings, item, member, now=now)


def volunteer(
    session: Session, settings: Settings, member: Member, item_id: int, *, now: datetime
) -> str:
    """A member's ``answer N``: take the question if it is free; returns what happened."""
    item = session.get(Item, item_id)
    if item is None or not waiting(item):
        return f"#{item_id} is not a question waiting for a written answer"
    if item.answer:
        return f"#{item.id} {item.title} has already been answered"
    if item.assignee_id not in (None, member.id):
        who = item.assignee.name if item.assignee else "another member"
        return f"#{item.id} {item.title} is already being answered by {who}"
    item.assignee_id = member.id
    session.flush()
    request_answer(session, settings, item, member, now=now)
    return f"thank you for answering #{item.id} {item.title}; we have mailed you the question"


def record_answer(
    session: Session, settings: Settings, item: Item, member: Member, text: str, *,
    now: datetime, files: Sequence[mime.Attachment] = (),
) -> str:  # fmt: skip
    """Keep `text` as the answer, with `files` (kept on the question, see `keep_files`),
    and mail it to the asker; returns where it went."""
    updated = bool(item.answer)
    item.answer, item.answered_at = text, now
    kept = keep_files(settings, item, files)
    asker: Member | str | None = item.member if item.member and item.member.active else None
    asker = asker or item.author
    if not asker:
        return "nobody to send it to (the asker is unknown)"
    notices.queue_mail(
        session, settings, to=asker, template="member/written-answer", now=now,
        context={"question": item, "answer": text, "by": member.name, "updated": updated},
        subject=f"{'Updated answer' if updated else 'Answer'}: {item.title}",
        reply_to=member.email,
        attachments=[compose.Part(f.data, f.content_type, f.filename) for f in kept],
    )  # fmt: skip
    return asker.email if isinstance(asker, Member) else asker


def keep_files(
    settings: Settings, item: Item, files: Sequence[mime.Attachment]
) -> list[mime.Attachment]:
    """Store the files sent with an answer on the question (once each); those over the
    size limit are left out, as for any reply. Returns the files kept."""
    kept = [f for f in files if f.size <= settings.storage.max_attachment_bytes]
    have = {a.sha256 for a in item.attachments}
    for f in kept[: settings.storage.max_attachments_per_message]:
        if f.sha256 in have:
            continue
        have.add(f.sha256)
        store_blob(settings.data_dir, f.data, f.sha256)
        item.attachments.append(Attachment(filename=f.filename, content_type=f.content_type,
                                           size=f.size, sha256=f.sha256))  # fmt: skip
    return kept[: settings.storage.max_attachments_per_message]
