"""Meetings: creating them (ad hoc or from a term), finding them, and their attendance:
the calendar answers (RSVPs) and, apart from them, who actually came."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import late, minutes, schedule
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.models import Attendance, Meeting, Member

ATTENDANCE_STATUSES = ("accepted", "declined", "tentative", "needs-action", "apologies")


def find_meeting(session: Session, ref: str) -> Meeting:
    """The meeting with this numeric id or ref; `UserError` if there is none.

    A date of a series (``edldrs-2026-12-07``) is found even before `tick` made its
    record: it is made now (see `series`), when the session knows the settings (every
    `App` session does).
    """
    text = ref.strip()
    meeting = session.scalar(select(Meeting).where(Meeting.ref == text))
    if meeting is None and text.isdigit():
        meeting = session.get(Meeting, int(text))
    settings = session.info.get("settings")
    if meeting is None and isinstance(settings, Settings):
        from mailflow import series  # series builds on this module

        meeting = series.occurrence_by_ref(session, settings, text)
    if meeting is None:
        raise UserError(f"no meeting {text!r} (see `mailflow meetings list`)")
    return meeting


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "meeting"


def unique_ref(session: Session, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... if another meeting has it."""
    ref, n = base, 1
    while session.scalar(select(Meeting.id).where(Meeting.ref == ref)) is not None:
        n += 1
        ref = f"{base}-{n}"
    return ref


def new_uid(settings: Settings) -> str:
    """A globally unique, stable iCalendar UID for a new meeting."""
    return f"{uuid.uuid4()}@{settings.mail.domain}"


def add_meeting(
    session: Session, settings: Settings, *, title: str, start: str | None, now: datetime,
    duration: int | None = None, location: str = "", ref: str | None = None,
    every: str | None = None, until: str | None = None,
) -> Meeting:  # fmt: skip
    """Create an ad-hoc meeting, or with `every` a series (see `series`).

    `start` is local time in the group's zone; a series without one starts at the next
    such day and time after `now`. `until` (YYYY-MM-DD) is a series' last day.
    """
    if not title.strip():
        raise UserError("a meeting needs a title")
    tz = settings.group.tz
    rule = schedule.parse_every(every) if every is not None else None
    if rule is None and (start is None or until is not None):
        raise UserError("--start is required (--until goes with --every)")
    when = _series_start(rule, start, tz, now) if rule is not None else None
    when = when or schedule.parse_local(start or "", tz)
    minutes = duration if duration is not None else settings.schedule.meeting_length_minutes
    if minutes <= 0:
        raise UserError("--duration must be a positive number of minutes")
    local_day = schedule.to_local(when, tz).date().isoformat()
    default_ref = _slug(title) if rule is not None else f"{local_day}-{_slug(title)}"
    meeting = Meeting(
        ref=unique_ref(session, ref or default_ref),
        title=title.strip(), start=when, duration_minutes=minutes, location=location.strip(),
        status="planned", sequence=0, uid=new_uid(settings), created_at=now,
        rrule=rule.rrule(_until(until, when, tz)) if rule is not None else None,
    )  # fmt: skip
    session.add(meeting)
    session.flush()
    late.place_waiting(session, now)  # items waiting for a meeting to be planned join it
    return meeting


def _series_start(
    rule: schedule.Recurrence, start: str | None, tz: ZoneInfo, now: datetime
) -> datetime:
    """A series' first start: `start` if it is on the rule's day and time, else the next."""
    if start is not None:
        when = schedule.parse_local(start, tz)
        local = schedule.to_local(when, tz)
        if rule.first_on_or_after(local.date()) != local.date() or local.time() != rule.at:
            raise UserError(f"--start {start} is not on --every's day and time")
        return when
    day = rule.first_on_or_after(schedule.to_local(now, tz).date())
    when = datetime.combine(day, rule.at, tz).astimezone(UTC)
    if when <= now:
        day = rule.first_on_or_after(day + timedelta(days=1))
        when = datetime.combine(day, rule.at, tz).astimezone(UTC)
    return when


def _until(until: str | None, start: datetime, tz: ZoneInfo) -> datetime | None:
    """The end of the local day `until` (YYYY-MM-DD) in UTC, not before `start`."""
    if until is None:
        return None
    try:
        last = date.fromisoformat(until.strip())
    except ValueError:
        raise UserError(f"bad date {until!r}: expected YYYY-MM-DD") from None
    if last < schedule.to_local(start, tz).date():
        raise UserError(f"--until {until} is before the series' first meeting")
    return datetime.combine(last, time(23, 59, 59), tz).astimezone(UTC)


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
    late.place_waiting(session, now)
    return result


def list_meetings(
    session: Session, *, now: datetime | None = None, occurrences: int = 0
) -> Sequence[Meeting]:
    """All meetings, soonest first; with `now`, of each series only the next
    `occurrences` occurrences (past ones are left out)."""
    rows = session.scalars(select(Meeting).order_by(Meeting.start, Meeting.id)).all()
    if now is None:
        return rows
    shown: dict[int | None, int] = {}
    kept = []
    for row in rows:
        if row.recurrence_id is not None:
            if row.start < now or shown.get(row.series_id, 0) >= occurrences:
                continue
            shown[row.series_id] = shown.get(row.series_id, 0) + 1
        kept.append(row)
    return kept


def root_of(meeting: Meeting) -> Meeting | None:
    """The current series a row belongs to (itself for a series), or None for a single
    meeting (see `series`)."""
    row = meeting.series if meeting.recurrence_id is not None else meeting
    if row is None or row.rrule is None:
        return None
    return row.series if row.series_id is not None and row.series is not None else row


def _attendance_row(
    session: Session, meeting: Meeting, member: Member, *, now: datetime
) -> Attendance:
    """The member's attendance row for the meeting, made (no answer yet) if missing."""
    row = session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.member_id == member.id
        )
    )
    if row is None:
        row = Attendance(meeting_id=meeting.id, member_id=member.id, status="needs-action",
                         sequence=0, updated_at=now)  # fmt: skip
        session.add(row)
    return row


def set_attendance(
    session: Session, meeting: Meeting, member: Member, status: str, *, now: datetime,
    sequence: int = 0,
) -> Attendance:  # fmt: skip
    """Record a member's attendance answer for a meeting (the newest answer wins)."""
    if status not in ATTENDANCE_STATUSES:
        raise ValueError(f"unknown attendance status {status!r}")
    row = _attendance_row(session, meeting, member, now=now)
    row.status, row.sequence, row.updated_at = status, sequence, now
    session.flush()
    return row


def answer_rows(session: Session, meeting: Meeting) -> dict[int, Attendance]:
    """Each member's attendance row for the meeting, by member id. For an occurrence of a
    series, the member's answer for that date, else their answer for the whole series."""
    ids = [meeting.id]
    if meeting.recurrence_id is not None and meeting.series_id is not None:
        ids.append(meeting.series_id)
    rows = session.scalars(select(Attendance).where(Attendance.meeting_id.in_(ids))).all()
    found: dict[int, Attendance] = {}
    for row in sorted(rows, key=lambda a: a.meeting_id != meeting.id):  # the date's own first
        found.setdefault(row.member_id, row)
    return found


def attendance(session: Session, meeting: Meeting) -> list[tuple[Member, str]]:
    """Every active member (and anyone who answered) with their status for the meeting."""
    answers = {m: a.status for m, a in answer_rows(session, meeting).items()}
    members = session.scalars(select(Member).order_by(Member.name, Member.email)).all()
    return [(m, answers.get(m.id, "needs-action")) for m in members if m.active or m.id in answers]


def members_named(session: Session, written: Sequence[str], *, where: str) -> list[Member]:
    """The members `written` names (addresses, full names, or first names no one else
    has; see `minutes.match_person`).

    Raises `UserError` naming the first one that is no member, with the list of members,
    in one line; `where` says where it was written (e.g. "--present").
    """
    everyone = session.scalars(select(Member).order_by(Member.name, Member.email)).all()
    people = [(m.email, m.name) for m in everyone]
    by_email = {m.email: m for m in everyone}
    found: list[Member] = []
    for text in written:
        email = minutes.match_person(text, people)
        if email is None:
            listed = ", ".join(f"{m.name} <{m.email}>" for m in everyone if m.active)
            raise UserError(f"{text!r} in {where} is not a member (members: {listed or 'none'})")
        found.append(by_email[email])
    return list(dict.fromkeys(found))


def record_presence(
    session: Session, meeting: Meeting, *, present: Sequence[Member] = (),
    apologies: Sequence[Member] = (), absent: Sequence[Member] = (), replace: bool = False,
    now: datetime,
) -> None:  # fmt: skip
    """Record who came to the meeting, who sent apologies and who was absent, apart from
    their calendar answers; the meeting is then `held` (`minuted` stays as it is).

    Members not named keep what was recorded for them, unless `replace` (the minutes'
    own Present: line), which clears it. A cancelled meeting raises `UserError`.
    """
    if meeting.status == "cancelled":
        raise UserError(f"meeting {meeting.ref} is cancelled; no attendance to record")
    if replace:
        for row in session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id)):
            row.presence, row.presence_at = None, now
    for presence, people in (("present", present), ("apologies", apologies), ("absent", absent)):
        for member in people:
            row = _attendance_row(session, meeting, member, now=now)
            row.presence, row.presence_at = presence, now
    if meeting.status == "planned":
        meeting.status = "held"
    session.flush()


@dataclass(frozen=True)
class Roll:
    """Who came to a meeting, as recorded, beside what the calendar answers said.

    `recorded` is False until the coordinator records attendance; until then nobody is
    listed present. Apologies are recorded apologies, a declined invitation or an
    "Apologies" reply from anyone not recorded present. Once attendance is recorded,
    everyone else is absent; `no_answer` are the absent who never answered at all.
    """

    recorded: bool
    present: tuple[Member, ...]
    apologies: tuple[Member, ...]
    absent: tuple[Member, ...]
    no_answer: tuple[Member, ...]


def roll(session: Session, meeting: Meeting) -> Roll:
    """The meeting's roll (see `Roll`), each list in name order."""
    rows = {
        a.member_id: a
        for a in session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id))
    }
    people = session.scalars(select(Member).order_by(Member.name, Member.email)).all()
    recorded = any(r.presence is not None for r in rows.values())
    present, apologies, absent, no_answer = [], [], [], []
    for member in people:
        row = rows.get(member.id)
        if row is None and not member.active:
            continue
        status, presence = (row.status, row.presence) if row else ("needs-action", None)
        if presence == "present":
            present.append(member)
        elif presence == "apologies" or status in ("apologies", "declined"):
            apologies.append(member)
        elif recorded or presence == "absent":
            absent.append(member)
        if presence != "present" and status == "needs-action" and presence != "apologies":
            no_answer.append(member)
    return Roll(recorded, tuple(present), tuple(apologies), tuple(absent), tuple(no_answer))


def meeting_json(meeting: Meeting, settings: Settings) -> dict[str, Any]:
    """A meeting in the DESIGN.md JSON shape (`meetings show` adds attendance)."""
    return {
        "id": meeting.id,
        "ref": meeting.ref,
        "title": meeting.title,
        "start": schedule.iso_local(meeting.start, settings.group.tz),
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "status": meeting.status,
        "sequence": meeting.sequence,
        "uid": meeting.series.uid if meeting.recurrence_id and meeting.series else meeting.uid,
        "rrule": meeting.rrule,
        "series": series.ref if (series := root_of(meeting)) not in (None, meeting) else None,
    }
