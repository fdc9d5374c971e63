"""Meetings: creating them (ad hoc or from a term), finding them, showing attendance."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import schedule
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.models import Attendance, Meeting, Member

ATTENDANCE_STATUSES = ("accepted", "declined", "tentative", "needs-action", "apologies")


def find_meeting(session: Session, ref: str) -> Meeting:
    """The meeting with this numeric id or ref; `UserError` if there is none."""
    text = ref.strip()
    meeting = session.scalar(select(Meeting).where(Meeting.ref == text))
    if meeting is None and text.isdigit():
        meeting = session.get(Meeting, int(text))
    if meeting is None:
        raise UserError(f"no meeting {text!r} (see `mailflow meetings list`)")
    return meeting


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "meeting"


def _unique_ref(session: Session, base: str) -> str:
    ref, n = base, 1
    while session.scalar(select(Meeting.id).where(Meeting.ref == ref)) is not None:
        n += 1
        ref = f"{base}-{n}"
    return ref


def new_uid(settings: Settings) -> str:
    """A globally unique, stable iCalendar UID for a new meeting."""
    return f"{uuid.uuid4()}@{settings.mail.domain}"


def add_meeting(
    session: Session, settings: Settings, *, title: str, start: str, now: datetime,
    duration: int | None = None, location: str = "", ref: str | None = None,
) -> Meeting:  # fmt: skip
    """Create an ad-hoc meeting; `start` is local time in the group's zone."""
    if not title.strip():
        raise UserError("a meeting needs a title")
    when = schedule.parse_local(start, settings.group.tz)
    minutes = duration if duration is not None else settings.schedule.meeting_length_minutes
    if minutes <= 0:
        raise UserError("--duration must be a positive number of minutes")
    local_day = schedule.to_local(when, settings.group.tz).date().isoformat()
    meeting = Meeting(
        ref=_unique_ref(session, ref or f"{local_day}-{_slug(title)}"),
        title=title.strip(), start=when, duration_minutes=minutes, location=location.strip(),
        status="planned", sequence=0, uid=new_uid(settings), created_at=now,
    )  # fmt: skip
    session.add(meeting)
    session.flush()
    return meeting


def plan_term(
    session: Session, settings: Settings, term_name: str, *, now: datetime
) -> list[tuple[Meeting, bool]]:
    """Create the meetings of a `[[terms]]` entry; existing refs are left as they are.

    Returns each meeting with True if it was created now, False if it already existed.
    """
    term = settings.term(term_name)
    planned = schedule.plan_term(
        term,
        tz=settings.group.tz,
        default_title=f"{settings.group.name} meeting",
        default_duration=settings.schedule.meeting_length_minutes,
    )
    result = []
    for p in planned:
        existing = session.scalar(select(Meeting).where(Meeting.ref == p.ref))
        if existing is not None:
            result.append((existing, False))
            continue
        meeting = Meeting(
            ref=p.ref, term=term.name, title=p.title, start=p.start,
            duration_minutes=p.duration_minutes, location=p.location, status="planned",
            sequence=0, uid=new_uid(settings), rrule=p.rrule, created_at=now,
            exdates=",".join(d.isoformat() for d in p.exdates),
        )  # fmt: skip
        session.add(meeting)
        session.flush()
        result.append((meeting, True))
    return result


def list_meetings(session: Session) -> Sequence[Meeting]:
    """All meetings, soonest first."""
    return session.scalars(select(Meeting).order_by(Meeting.start, Meeting.id)).all()


def set_attendance(
    session: Session, meeting: Meeting, member: Member, status: str, *, now: datetime,
    sequence: int = 0,
) -> Attendance:  # fmt: skip
    """Record a member's attendance answer for a meeting (the newest answer wins)."""
    if status not in ATTENDANCE_STATUSES:
        raise ValueError(f"unknown attendance status {status!r}")
    row = session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.member_id == member.id
        )
    )
    if row is None:
        row = Attendance(meeting_id=meeting.id, member_id=member.id, status=status,
                         sequence=sequence, updated_at=now)  # fmt: skip
        session.add(row)
    row.status, row.sequence, row.updated_at = status, sequence, now
    session.flush()
    return row


def attendance(session: Session, meeting: Meeting) -> list[tuple[Member, str]]:
    """Every active member (and anyone who answered) with their status for the meeting."""
    answers = {
        a.member_id: a.status
        for a in session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id))
    }
    members = session.scalars(select(Member).order_by(Member.name, Member.email)).all()
    return [(m, answers.get(m.id, "needs-action")) for m in members if m.active or m.id in answers]


def meeting_json(meeting: Meeting, settings: Settings) -> dict[str, Any]:
    """A meeting in the DESIGN.md JSON shape."""
    return {
        "id": meeting.id,
        "ref": meeting.ref,
        "title": meeting.title,
        "start": schedule.iso_local(meeting.start, settings.group.tz),
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "status": meeting.status,
        "sequence": meeting.sequence,
        "uid": meeting.uid,
        "rrule": meeting.rrule,
    }
