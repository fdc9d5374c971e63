"""The coordinator hears about held mail: one notice an hour at most, sent by `tick`.

Every message held since the last notice (`Held.notified_at` empty and still held) is
listed in one mail to every coordinator, with its sender, subject and reason and the
commands that release or discard it. A notice is sent only when at least
`NOTICE_INTERVAL` has passed since the last one, so a flood of held mail costs the
coordinator one mail an hour. The mailing is keyed by the newest message it lists
(``held:<id>``), so two overlapping ticks queue it once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import compose, notices
from mailflow.config import Settings
from mailflow.models import Held

NOTICE_INTERVAL = timedelta(hours=1)


def _entry(held: Held) -> dict[str, object]:
    row = held.inbound
    return {
        "id": held.id,
        "sender": compose.one_line(row.mail_from or "<>"),
        "subject": compose.one_line(row.subject),
        "reason": compose.one_line(held.reason),
    }


def due_notice(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Mail the coordinators the messages held since the last notice, if one is due."""
    last = session.scalar(select(func.max(Held.notified_at)))
    if last is not None and now - last < NOTICE_INTERVAL:
        return []
    fresh = session.scalars(
        select(Held).where(Held.status == "held", Held.notified_at.is_(None)).order_by(Held.id)
    ).all()
    if not fresh or not notices.coordinators(session, settings):
        return []
    waiting = session.scalar(select(func.count(Held.id)).where(Held.status == "held")) or 0
    context = {"held": [_entry(h) for h in fresh], "waiting": waiting,
               "group": settings.group.name}  # fmt: skip
    subject = f"{len(fresh)} message{'s' if len(fresh) != 1 else ''} held for you"
    queued = notices.mail_coordinators(
        session, settings, key=f"held:{fresh[-1].id}", kind="held-notice", meeting=None,
        template="coordinator/held", context=context, subject=subject, now=now,
    )  # fmt: skip
    for held in fresh:
        held.notified_at = now
    return [f"held mail: {len(fresh)} message(s) listed for {queued} coordinator(s)"]
