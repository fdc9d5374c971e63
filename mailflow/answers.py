"""Written answers: questions that did not fit the meeting, answered by a member by email.

A question for written answer is assigned to a member (`mailflow items assign ID EMAIL`,
or the member replies ``answer 5`` to volunteer). The assignee is mailed the question
from a signed address for that question (purpose ``w``, key ``answer:<item>:<member>``);
their reply there, cleaned of quotes and signature, becomes `Item.answer`, which is
mailed to the asker at once. A later reply replaces the answer and is sent again. The
minutes list the answers under "Questions answered in writing".
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from sqlalchemy.orm import Session

from mailflow import compose, notices, planning
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.items import get_item
from mailflow.members import find_member
from mailflow.models import Item, Member


def waiting(item: Item) -> bool:
    """Whether `item` is a question waiting for a written answer."""
    return item.kind == "question" and item.status == "written-answer"


def asker_name(item: Item) -> str:
    """The name of the member who asked (or their address if they are not a member)."""
    return item.member.name if item.member else item.author


def request_answer(session: Session, settings: Settings, item: Item, member: Member, *,
                   now: datetime) -> int:  # fmt: skip
    """Mail `member` the question from its signed answer address (once per assignee)."""
    context = {
        "group": settings.group.name, "question": item, "asker": asker_name(item),
        "meeting": item.meeting.title if item.meeting else "",
    }  # fmt: skip

    def build(to: Member) -> EmailMessage:
        text, html = compose.render("member/answer-request", context | {"name": to.name})
        return compose.build_message(
            settings, to=planning.to_address(to), text=text, html=html, now=now,
            subject=f"Would you answer in writing: {item.title}",
            reply_to=planning.signed(settings, "w", item.id, to),
        )  # fmt: skip

    return planning.fan_out(session, key=f"answer:{item.id}:{member.id}", kind="answer-request",
                            meeting=item.meeting, recipients=[member], build=build,
                            now=now)  # fmt: skip


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
    now: datetime,
) -> str:  # fmt: skip
    """Keep `text` as the answer and mail it to the asker; returns where it went."""
    updated = bool(item.answer)
    item.answer, item.answered_at = text, now
    asker: Member | str | None = item.member if item.member and item.member.active else None
    asker = asker or item.author
    if not asker:
        return "nobody to send it to (the asker is unknown)"
    notices.queue_mail(
        session, settings, to=asker, template="member/written-answer", now=now,
        context={"question": item, "answer": text, "by": member.name, "updated": updated},
        subject=f"{'Updated answer' if updated else 'Answer'}: {item.title}",
        reply_to=member.email,
    )  # fmt: skip
    return asker.email if isinstance(asker, Member) else asker
