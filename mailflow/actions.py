"""Actions: what the minutes say members agreed to do, kept until they are done.

`sync` stores a meeting's ACTION lines when its minutes are sent; sending them again
keeps the same lines as the same actions (the same numbers) and drops open actions the
new text no longer has. `close` marks one done, at the owner's reply (``done 3``) or by
a coordinator; `open_before` and `done_since` are what the next call for items and the
next minutes show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.errors import UserError
from mailflow.minutes import ActionLine, match_person
from mailflow.models import Action, Meeting, Member


def _key(owner: str, text: str) -> tuple[str, str]:
    return " ".join(owner.casefold().split()), " ".join(text.casefold().split())


def sync(
    session: Session, meeting: Meeting, lines: Sequence[ActionLine], people: Sequence[Member],
    *, now: datetime,
) -> list[Action]:  # fmt: skip
    """Store the ACTION lines of `meeting`'s minutes (owners matched among `people` as
    `minutes.match_person` does) and return them as stored, in the minutes' order."""
    existing = session.scalars(
        select(Action).where(Action.meeting_id == meeting.id).order_by(Action.id)
    ).all()
    old = {_key(a.owner_name, a.text): a for a in existing}
    by_email = {m.email: m for m in people}
    pairs = [(m.email, m.name) for m in people]
    kept: dict[tuple[str, str], Action] = {}
    for line in lines:
        key = _key(line.owner, line.text)
        if key in kept:
            continue
        owner = by_email.get(match_person(line.owner, pairs) or "")
        row = old.pop(key, None)
        if row is None:
            row = Action(meeting_id=meeting.id, owner_name=line.owner, text=line.text,
                         status="open", created_at=now)  # fmt: skip
            session.add(row)
        row.owner_id, row.due = (owner.id if owner else None), line.due
        kept[key] = row
    for gone in old.values():
        if gone.status == "open":
            session.delete(gone)
    session.flush()
    return list(kept.values())


def list_actions(session: Session, *, open_only: bool = False) -> Sequence[Action]:
    """Every action (or only the open ones), oldest first."""
    query = select(Action).order_by(Action.id)
    if open_only:
        query = query.where(Action.status == "open")
    return session.scalars(query).all()


def close(session: Session, action_id: int, *, by: Member | None, now: datetime) -> str:
    """Mark action `action_id` done, as `by` says (None: the coordinator at the command
    line); returns what happened, in a line for the one who asked.

    Only the action's owner or a coordinator may close it; anyone else, and a number
    that is no action, get a line saying so and nothing changes.
    """
    action = session.get(Action, action_id)
    if action is None:
        return f"Action {action_id} does not exist; nothing marked done."
    if by is not None and by.id != action.owner_id and by.role != "coordinator":
        return f"Action {action_id} is not yours ({action.owner_name}'s); nothing marked done."
    if action.status == "done":
        return f"Action {action_id} was already done: {action.text}"
    action.status, action.done_at = "done", now
    action.done_by_id = by.id if by is not None else None
    session.flush()
    return f"Action {action_id} marked done: {action.text}"


def find_action(session: Session, action_id: int) -> Action:
    """The action with this number; `UserError` if there is none."""
    action = session.get(Action, action_id)
    if action is None:
        raise UserError(f"no action {action_id} (see `mailflow actions list`)")
    return action


def open_before(session: Session, meeting: Meeting) -> list[Action]:
    """The actions still open from meetings before `meeting`, by due date."""
    rows = session.scalars(
        select(Action)
        .join(Meeting, Action.meeting_id == Meeting.id)
        .where(Action.status == "open", Meeting.start < meeting.start)
        .order_by(Action.id)
    ).all()
    return sorted(rows, key=lambda a: (a.due is None, a.due, a.id))


def done_since(session: Session, meeting: Meeting) -> list[Action]:
    """Actions from meetings before `meeting` marked done since the last of them."""
    earlier = select(Meeting.start).where(
        Meeting.start < meeting.start, Meeting.status != "cancelled"
    )
    last = session.scalar(earlier.order_by(Meeting.start.desc()).limit(1))
    query = (
        select(Action)
        .join(Meeting, Action.meeting_id == Meeting.id)
        .where(Action.status == "done", Meeting.start < meeting.start)
        .order_by(Action.id)
    )
    if last is not None:
        query = query.where(Action.done_at >= last)
    return list(session.scalars(query))


def view(action: Action) -> dict[str, Any]:
    """An action as the mail templates show it (owner's name and address, meeting)."""
    return {"id": action.id, "owner": action.owner_name,
            "email": action.owner.email if action.owner else "", "text": action.text,
            "due": action.due, "status": action.status, "meeting": action.meeting.title,
            "ref": action.meeting.ref}  # fmt: skip


def action_json(action: Action) -> dict[str, Any]:
    """An action in the DESIGN.md JSON shape (plus meeting_id, owner_name and done_at)."""
    return {
        "id": action.id,
        "meeting": action.meeting.ref,
        "meeting_id": action.meeting_id,
        "owner": action.owner.email if action.owner else None,
        "owner_name": action.owner_name,
        "text": action.text,
        "due": action.due.isoformat() if action.due else None,
        "status": action.status,
        "done_at": action.done_at.isoformat() if action.done_at else None,
    }
