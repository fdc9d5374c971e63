"""Late items go forward: where a question, agenda item or resource that arrives is kept.

A question or agenda item sent for a meeting whose agenda is fixed (its invites have
gone out) or which has started cannot be raised there any more: it goes to the next
meeting that is still open (planned, not started, invites not sent), or, when none is
planned yet, waits unplaced (no meeting) until one is; `place_waiting` puts the waiting
items on it (when a meeting is added or planned, and at every `tick`). A resource
still counts for its meeting until the meeting starts (it is sent round as a paper
before it); after that it goes forward too. Apologies are not items and never move.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mailflow import schedule
from mailflow.config import Settings
from mailflow.models import Item, Mailing, Meeting

FORWARDED = ("question", "agenda")


# a meeting's invite mailing, if any: built once, run with the meeting's id
INVITE_MAILING = (
    select(Mailing.id)
    .where(Mailing.kind == "invite", Mailing.meeting_id == bindparam("meeting"))
    .limit(1)
)


def agenda_fixed(session: Session, meeting: Meeting) -> bool:
    """Whether the meeting's invites (which fix its agenda) have gone out."""
    return session.scalar(INVITE_MAILING, {"meeting": meeting.id}) is not None


def is_open(session: Session, meeting: Meeting, now: datetime) -> bool:
    """Whether items can still be added to the meeting's agenda."""
    return (meeting.status != "cancelled" and now < meeting.start
            and not agenda_fixed(session, meeting))  # fmt: skip


def next_open(session: Session, after: Meeting | None, now: datetime) -> Meeting | None:
    """The first open meeting later than `after` (and than now), or None."""
    since = max(after.start, now) if after is not None else now
    later = session.scalars(
        select(Meeting)
        .where(Meeting.start > since, Meeting.status != "cancelled")
        .order_by(Meeting.start, Meeting.id)
    )
    return next((m for m in later if not agenda_fixed(session, m)), None)


def destination(
    session: Session, meeting: Meeting | None, kind: str, now: datetime
) -> Meeting | None:
    """The meeting an item of `kind` sent for `meeting` now belongs to (None: it waits)."""
    if meeting is None:
        return next_open(session, None, now)
    if kind in FORWARDED:
        late = not is_open(session, meeting, now)
    else:
        late = kind == "resource" and now >= meeting.start
    return next_open(session, meeting, now) if late else meeting


def forward_note(settings: Settings, item: Item, sent_for: Meeting, now: datetime) -> str:
    """What the acknowledgement says about an item that went past `sent_for`."""
    why = ("has already taken place" if now >= sent_for.start
           else "already has its agenda fixed")  # fmt: skip
    if item.meeting is None:
        return (f"#{item.id} will be raised at the next meeting: {sent_for.title} {why}, "
                "and the next meeting is not planned yet")  # fmt: skip
    when = schedule.human_local(item.meeting.start, settings.group.tz)
    return f"#{item.id} goes to {item.meeting.title} on {when}: {sent_for.title} {why}"


def waiting(session: Session) -> Sequence[Item]:
    """Questions and agenda items waiting for a meeting to be planned, oldest first."""
    return session.scalars(
        select(Item)
        .where(Item.meeting_id.is_(None), Item.kind.in_(FORWARDED), Item.status != "withdrawn")
        .order_by(Item.id)
    ).all()


def place_waiting(session: Session, now: datetime) -> list[Item]:
    """Put the waiting items on the next open meeting, if there is one; returns them."""
    items = list(waiting(session))
    target = next_open(session, None, now) if items else None
    if target is None:
        return []
    for item in items:
        item.meeting_id = target.id
        item.meeting = target
    session.flush()
    return items
