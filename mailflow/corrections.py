"""Corrections to the minutes: a member's reply to the minutes becomes an agenda item.

The minutes go out from each member's signed address for that meeting (purpose ``m``).
A reply there is a correction: it is recorded as an agenda item on the *next* meeting,
titled "Correction to the minutes: <first line>", which the planner places under
"Approval of the minutes". With no later meeting planned the reply is held, with that
reason, until the coordinator plans one and releases it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import compose, schedule
from mailflow.config import Settings
from mailflow.errors import Hold
from mailflow.models import Item, Meeting, Member
from mailflow.planner import CORRECTION_PREFIX


def next_meeting_after(session: Session, meeting: Meeting) -> Meeting | None:
    """The first meeting after `meeting` that is not cancelled."""
    return session.scalar(
        select(Meeting)
        .where(Meeting.start > meeting.start, Meeting.status != "cancelled")
        .order_by(Meeting.start)
        .limit(1)
    )


def correction_title(text: str) -> str:
    """ "Correction to the minutes: <the first line of the member's text>"."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return f"{CORRECTION_PREFIX}: {compose.one_line(first, 200)}"


def record_correction(
    session: Session, settings: Settings, minutes_of: Meeting, member: Member, text: str, *,
    now: datetime, inbound_id: int | None = None,
) -> Item:  # fmt: skip
    """Record `text` as a correction to the minutes of `minutes_of` on the next meeting.

    Raises `Hold` when no later meeting is planned.
    """
    target = next_meeting_after(session, minutes_of)
    if target is None:
        raise Hold(f"correction to the minutes of {minutes_of.ref}, but no later meeting is "
                   "planned to approve it at")  # fmt: skip
    local = schedule.to_local(minutes_of.start, settings.group.tz)
    item = Item(
        meeting_id=target.id, member_id=member.id, message_id=inbound_id, kind="agenda",
        title=correction_title(text), status="proposed", created_at=now, author=member.email,
        body=f"On the minutes of {minutes_of.title} ({local:%d %B %Y}):\n\n{text}",
    )  # fmt: skip
    session.add(item)
    session.flush()
    return item
