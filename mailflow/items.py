"""Items in the database: listing, JSON, the coordinator's adjustments, agenda input.

The agenda of a meeting is planned from its own questions and agenda items plus the
items deferred from earlier meetings (older deferred items first), by `planner`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mailflow import planner
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.meetings import find_meeting
from mailflow.models import Attendance, Item, Meeting

KINDS = ("question", "agenda", "apology", "resource")
STATUSES = ("proposed", "scheduled", "deferred", "written-answer", "withdrawn")


def meeting_items(session: Session, meeting: Meeting) -> Sequence[Item]:
    """The meeting's items and those carried to it from earlier meetings, oldest first:
    items deferred, questions still waiting for a written answer, and questions and
    agenda items the minutes said were not reached."""
    earlier = select(Meeting.id).where(Meeting.start < meeting.start)
    waiting = and_(Item.kind == "question", Item.status == "written-answer", Item.answer == "")
    not_reached = and_(Item.discussed.is_(False), Item.kind.in_(planner.KINDS),
                       Item.status.not_in(("withdrawn", "written-answer")))  # fmt: skip
    carried = and_(or_(Item.status == "deferred", waiting, not_reached),
                   Item.meeting_id.in_(earlier))  # fmt: skip
    query = select(Item).where(or_(Item.meeting_id == meeting.id, carried))
    return session.scalars(query.order_by(Item.id)).all()


def item_json(item: Item) -> dict[str, Any]:
    """An item in the DESIGN.md JSON shape (plus priority, carried, answer, votes, assignee)."""
    return {
        "id": item.id,
        "meeting": item.meeting.ref if item.meeting else None,
        "meeting_id": item.meeting_id,
        "kind": item.kind,
        "title": item.title,
        "body": item.body,
        "member": item.member.email if item.member else item.author,
        "status": item.status,
        "minutes": item.minutes,
        "priority": item.priority,
        "carried": item.carried,
        "answer": item.answer,
        "votes": item.vote_total,
        "assignee": item.assignee.email if item.assignee else None,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "sha256": a.sha256}
            for a in item.attachments
        ],
    }  # fmt: skip


def planner_items(
    meeting: Meeting, rows: Sequence[Item], absent: Collection[int] = ()
) -> list[planner.PlannerItem]:
    """The questions and agenda items among `rows`, as the planner sees them (`absent`:
    the ids of members who sent apologies, whose items are raised in their absence)."""
    return [
        planner.PlannerItem(
            id=i.id,
            kind=i.kind,
            title=i.title,
            member=i.member.email if i.member else i.author,
            presenter=i.member.name if i.member else i.author,
            minutes=i.minutes,
            priority=i.priority,
            votes=i.vote_total,
            carried=i.carried + (1 if i.meeting_id != meeting.id else 0),
            submitted_order=i.id,
            status=i.status,
            absent=i.member_id in absent,
        )
        for i in rows
        if i.kind in planner.KINDS
    ]


def plan_agenda(
    session: Session, settings: Settings, meeting: Meeting
) -> tuple[planner.Agenda, dict[int, planner.PlannerItem]]:
    """Build the meeting's agenda from what is in the database now (changes nothing)."""
    candidates = planner_items(meeting, meeting_items(session, meeting),
                               absent=with_apologies(session, meeting))  # fmt: skip
    cfg = settings.schedule
    agenda = planner.build_agenda(
        candidates, meeting_minutes=meeting.duration_minutes,
        default_item_minutes=cfg.default_item_minutes, question_minutes=cfg.question_minutes,
        standing_items=cfg.standing_items, standing_item_minutes=cfg.standing_item_minutes,
    )  # fmt: skip
    return agenda, {c.id: c for c in candidates}


def with_apologies(session: Session, meeting: Meeting) -> set[int]:
    """Ids of the members who sent apologies for the meeting or declined its invite."""
    query = select(Attendance.member_id).where(
        Attendance.meeting_id == meeting.id, Attendance.status.in_(("apologies", "declined"))
    )
    return set(session.scalars(query))


def apply_agenda(session: Session, meeting: Meeting, agenda: planner.Agenda) -> list[Item]:
    """Record the agenda's decisions on the items; returns items whose status changed."""
    decided = {i: "scheduled" for i in agenda.scheduled}
    decided |= {i: "deferred" for i in agenda.deferred}
    decided |= {i: "written-answer" for i in agenda.written_answer}
    changed = []
    for item_id, status in decided.items():
        item = session.get(Item, item_id)
        if item is None:
            continue
        if item.meeting_id != meeting.id:  # adopted from an earlier meeting
            item.carried += 1
            item.meeting_id = meeting.id
            item.discussed = None  # this meeting's minutes will say
        if item.status != status:
            item.status = status
            changed.append(item)
    return changed


def get_item(session: Session, item_id: int) -> Item:
    """The item with this id; `UserError` if there is none."""
    item = session.get(Item, item_id)
    if item is None:
        raise UserError(f"no item {item_id} (see `mailflow items list MEETING`)")
    return item


def set_item(
    session: Session, item_id: int, *, minutes: int | None = None, status: str | None = None,
    priority: int | None = None, meeting: str | None = None, title: str | None = None,
    kind: str | None = None,
) -> Item:  # fmt: skip
    """The coordinator's adjustments to one item (a title or kind the parser got wrong too)."""
    item = get_item(session, item_id)
    if title is not None:
        if not title.strip():
            raise UserError("--title must not be empty")
        item.title = " ".join(title.split())
    if kind is not None:
        if kind not in planner.KINDS:
            raise UserError(f"unknown kind {kind!r} (expected {' or '.join(planner.KINDS)})")
        if item.kind not in planner.KINDS:
            raise UserError(f"item {item.id} is {_a(item.kind)}; only questions and agenda "
                            "items change kind")  # fmt: skip
        item.kind = kind
    if minutes is not None:
        if minutes <= 0:
            raise UserError("--minutes must be a positive number")
        item.minutes = minutes
    if status is not None:
        if status not in STATUSES:
            raise UserError(f"unknown status {status!r} (expected {', '.join(STATUSES)})")
        item.status = status
    if priority is not None:
        item.priority = priority
    if meeting is not None:
        item.meeting_id = find_meeting(session, meeting).id
    return item


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def merge_items(session: Session, keep_id: int, other_id: int) -> Item:
    """Fold a duplicate into another item: the duplicate is withdrawn, its words kept."""
    if keep_id == other_id:
        raise UserError("cannot merge an item into itself")
    keep, other = get_item(session, keep_id), get_item(session, other_id)
    who = other.member.name if other.member else other.author
    note = f"Also raised by {who}: {other.title}"
    if other.body:
        note += f"\n{other.body}"
    keep.body = f"{keep.body}\n\n{note}".strip()
    if other.minutes and (keep.minutes or 0) < other.minutes:
        keep.minutes = other.minutes
    other.status = "withdrawn"
    other.body = f"{other.body}\n\n(merged into item {keep.id})".strip()
    return keep
