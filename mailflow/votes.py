"""Priority votes: members reply ``+1 3 7`` / ``-1 4``, and the planner counts them.

A vote is per member per item, +1 or -1; a new vote replaces the old one. Votes are
taken on questions and agenda items that are still open (proposed, scheduled or
deferred) and whose meeting has not started. The planner orders items by the net total
after the coordinator's priority (see `planner`).

Halfway between the call for items and the deadline, members get a "what has been
proposed" mail listing the numbered items with their votes (key ``proposed:<meeting>``),
once there is something to vote on.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import compose, planning
from mailflow.commands import VoteCommand
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.members import active_members
from mailflow.models import Item, Mailing, Meeting, Member, Vote

OPEN_STATUSES = ("proposed", "scheduled", "deferred")


def open_for_votes(item: Item | None, now: datetime) -> bool:
    """Whether members may still vote on `item`."""
    if item is None or item.kind not in ("question", "agenda"):
        return False
    if item.status not in OPEN_STATUSES:
        return False
    return item.meeting is None or item.meeting.start > now


def cast(session: Session, member: Member, vote: VoteCommand, *, now: datetime) -> str:
    """Record (or replace) `member`'s vote; returns one line saying what happened."""
    item = session.get(Item, vote.item_id)
    if item is None or not open_for_votes(item, now):
        return f"#{vote.item_id} is not an item open for votes; vote not counted"
    row = session.scalar(select(Vote).where(Vote.item_id == item.id, Vote.member_id == member.id))
    if row is None:
        row = Vote(item=item, member_id=member.id, value=vote.value, updated_at=now)
        session.add(row)
    row.value, row.updated_at = vote.value, now
    session.flush()
    total = item.vote_total
    return f"your vote {vote.value:+d} on #{item.id} {item.title} is counted (total {total:+d})"


def _mailing(session: Session, key: str) -> Mailing | None:
    return session.scalar(select(Mailing).where(Mailing.key == key))


def send_proposed(
    session: Session, settings: Settings, meeting: Meeting, *, now: datetime,
    progress: planning.Progress = None,
) -> int:  # fmt: skip
    """Mail every active member the numbered list of proposed items, to vote on.

    Replies come to the member's call-for-items address, so they may also add items.
    Returns how many messages were queued now (0 when nothing is proposed yet or it was
    already sent).
    """
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.ref} is cancelled")
    proposed = [i for i in planning.proposed_items(session, meeting) if open_for_votes(i, now)]
    if not proposed:
        return 0
    context = planning.common_context(settings, meeting) | {"items": proposed}
    subject = f"What has been proposed for {meeting.title}: vote by {context['deadline']}"

    def build(member: Member) -> EmailMessage:
        personal = context | {"name": settings.group.greet(member.name)}
        text, html = compose.render("member/proposed", personal)
        return compose.build_message(
            settings, to=planning.to_address(member), subject=subject, text=text, html=html,
            now=now, reply_to=planning.signed(settings, "c", meeting.id, member),
        )  # fmt: skip

    return planning.fan_out(session, key=f"proposed:{meeting.id}", kind="proposed",
                            meeting=meeting, recipients=active_members(session), build=build,
                            now=now, progress=progress)  # fmt: skip


def due_proposed(
    session: Session, settings: Settings, meeting: Meeting, now: datetime
) -> list[str]:
    """Send the "what has been proposed" mail once it is due: halfway from the call to
    the deadline, and only before the deadline."""
    call = _mailing(session, f"call:{meeting.id}")
    sent = _mailing(session, f"proposed:{meeting.id}")
    if call is None or (sent is not None and sent.completed_at is not None):
        return []
    deadline = planning.deadline(settings, meeting)
    if not call.created_at + (deadline - call.created_at) / 2 <= now < deadline:
        return []
    count = send_proposed(session, settings, meeting, now=now)
    return [f"{meeting.ref}: proposed items mailed to {count} member(s) for votes"] if count else []
