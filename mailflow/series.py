"""Recurring series: one calendar series, one meeting record per occurrence.

A series is a `Meeting` row with an RRULE (and EXDATEs for the weeks it skips): members'
calendars get it as one series, under one UID. Each occurrence also has a row of its own
(`series_id` its series, `recurrence_id` its original start in UTC, ref
``<series>-YYYY-MM-DD``), so that each week has its own date, theme, poll, items, RSVPs,
attendance and summary; calendars know it by the series' UID and that RECURRENCE-ID.

Occurrence rows are made lazily and idempotently: `ensure_coming` (run by `tick` and by
`meetings add --every`) keeps `[series] lookahead_weeks` of them ready, and
`meetings.find_meeting` makes the row for a ref such as ``edldrs-2027-03-01`` on demand.
Two makers at once end with one row: (series, recurrence) is unique.

Moving a series (`move_series`) from a date after its first occurrence splits it, as
RFC 5545 leaves no better way that every calendar follows (``RANGE=THISANDFUTURE`` is
ignored by Google and Outlook): the row so far keeps its UID, gets an UNTIL before the
move and is renamed ``<series>-to-YYYY-MM-DD``; a new row with a new UID takes the ref
and starts on the new day and time, with the EXDATEs after the move moved to the new
weekday. Members get an update of the old series and an invitation to the new one, and
every calendar shows the old day before the move and the new day after it
(tests/test_calendar_conformance.py). A move before the first occurrence moves the
whole series (same UID, SEQUENCE+1). Coming occurrence rows move with the series.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow import meetings, outbox, planning, schedule
from mailflow.app import utc_now
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.models import Meeting

# An occurrence a move replaces: the old series' start within this of the new start
# (so that "Monday to Tuesday from the 29th" also replaces Monday the 28th).
REPLACED_WITHIN = timedelta(days=4)
_OCCURRENCE_REF = re.compile(r"(?P<series>.{1,100}?)-(?P<day>\d{4}-\d{2}-\d{2})")


def parts(session: Session, root: Meeting) -> list[Meeting]:
    """The series and its earlier parts (ended by moves), oldest first."""
    earlier = select(Meeting).where(Meeting.series_id == root.id, Meeting.rrule.is_not(None))
    return sorted([*session.scalars(earlier), root], key=lambda m: m.start)


def starts(
    settings: Settings, part: Meeting, *, after: datetime, count: int,
    before: datetime | None = None,
) -> list[datetime]:  # fmt: skip
    """The part's occurrence starts (UTC) from `after`, at most `count`, before `before`."""
    assert part.rrule is not None
    return schedule.occurrences(part.start, part.rrule, settings.group.tz, after=after,
                                count=count, skipped=part.skipped(), before=before)  # fmt: skip


def occurrence_ref(settings: Settings, root: Meeting, when: datetime) -> str:
    """``<series ref>-YYYY-MM-DD``, the local date of the occurrence."""
    return f"{root.ref}-{schedule.to_local(when, settings.group.tz).date().isoformat()}"


def ensure_occurrence(
    session: Session, settings: Settings, part: Meeting, when: datetime, *, now: datetime
) -> Meeting:
    """The row of the part's occurrence originally starting at `when`, made if missing."""
    query = select(Meeting).where(Meeting.series_id == part.id, Meeting.recurrence_id == when)
    found = session.scalar(query)
    if found is not None:
        return found
    ref = occurrence_ref(settings, meetings.root_of(part) or part, when)
    row = Meeting(
        ref=meetings.unique_ref(session, ref), term=part.term, title=part.title, start=when,
        duration_minutes=part.duration_minutes, location=part.location, status="planned",
        sequence=part.sequence, uid=meetings.new_uid(settings), series_id=part.id,
        recurrence_id=when, created_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # made at the same moment by an overlapping tick
        return session.scalars(query).one()
    return row


def ensure_coming(session: Session, settings: Settings, *, now: datetime) -> None:
    """Make the occurrence rows of every series for the next `lookahead_weeks`. A series
    that started in the past picks up at its next occurrence (one under way counts)."""
    horizon = now + timedelta(weeks=settings.series.lookahead_weeks)
    series = select(Meeting).where(Meeting.rrule.is_not(None), Meeting.status != "cancelled")
    for part in session.scalars(series).all():
        after = now - timedelta(minutes=part.duration_minutes)
        count = settings.series.lookahead_weeks + 1
        for when in starts(settings, part, after=after, count=count, before=horizon):
            ensure_occurrence(session, settings, part, when, now=now)
    session.flush()


def occurrence_by_ref(session: Session, settings: Settings, ref: str) -> Meeting | None:
    """The record of a series' date named ``<series>-YYYY-MM-DD``, made if the series has
    that date and the record is not there yet; None if it is no such date."""
    match = _OCCURRENCE_REF.fullmatch(ref.strip())
    return _occurrence_on(session, settings, match) if match else None


def _occurrence_on(session: Session, settings: Settings, match: re.Match[str]) -> Meeting | None:
    root = session.scalar(select(Meeting).where(Meeting.ref == match["series"]))
    if root is None or meetings.root_of(root) is not root:
        return None
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:
        return None
    tz = settings.group.tz
    midnight = schedule.to_local(root.start, tz).replace(
        year=day.year, month=day.month, day=day.day, hour=0, minute=0
    )
    after = midnight.astimezone(root.start.tzinfo)
    for part in parts(session, root):
        for when in starts(settings, part, after=after, count=1):
            if schedule.to_local(when, tz).date() == day:
                row = ensure_occurrence(session, settings, part, when, now=utc_now())
                session.flush()
                return row
    return None


def coming(session: Session, root: Meeting, *, now: datetime, count: int) -> Sequence[Meeting]:
    """The next `count` occurrence rows of a series (and its earlier parts) from `now`."""
    ids = [p.id for p in parts(session, root)]
    query = (
        select(Meeting)
        .where(Meeting.series_id.in_(ids), Meeting.recurrence_id.is_not(None),
               Meeting.start >= now)
        .order_by(Meeting.start).limit(count)
    )  # fmt: skip
    return session.scalars(query).all()


# --- moving a whole series --------------------------------------------------------------


@dataclass(frozen=True)
class SeriesMove:
    """What `move_series` did: the series now, the part it ended (if split), mail queued."""

    series: Meeting
    ended: Meeting | None
    queued: int


def _nearest(day: date, weekday: int) -> date:
    """The date with `weekday` in the same week as `day` (within three days of it)."""
    return day + timedelta(days=(weekday - day.weekday() + 3) % 7 - 3)


def _moved(settings: Settings, old: datetime, new_start: datetime) -> datetime:
    """Where an occurrence (or skipped week) at `old` goes when its series moves to
    `new_start`'s weekday and time."""
    tz = settings.group.tz
    local_new = schedule.to_local(new_start, tz)
    day = _nearest(schedule.to_local(old, tz).date(), local_new.weekday())
    return datetime.combine(day, local_new.time(), tz).astimezone(UTC)


def move_series(
    session: Session, settings: Settings, root: Meeting, new_start: datetime, *,
    now: datetime, on_skip: outbox.SkipHook = None, preview: planning.Preview | None = None,
) -> SeriesMove:  # fmt: skip
    """Move a series to `new_start`'s weekday and time from that date on (module doc).

    Returns what was done; with `preview` nothing is committed (the caller rolls back)
    and the mail that would go is listed there.
    """
    if root.status == "cancelled":
        raise UserError(f"series {root.ref} is cancelled")
    assert root.rrule is not None
    cutoff = new_start - REPLACED_WITHIN
    kept = starts(settings, root, after=root.start, count=schedule.MAX_OCCURRENCE_STEPS,
                  before=cutoff + timedelta(seconds=1))  # fmt: skip
    later = [d for d in root.skipped() if d > cutoff]
    if kept:
        current, ended = _split(session, settings, root, kept[-1], now=now), root
    else:
        current, ended = root, None
        root.sequence += 1
    weekday = schedule.to_local(new_start, settings.group.tz).weekday()
    current.start = new_start
    current.rrule = schedule.on_weekday(current.rrule or "", weekday)
    current.exdates = ",".join(_moved(settings, d, new_start).isoformat() for d in later)
    coming = select(Meeting).where(Meeting.series_id == root.id,
                                   Meeting.recurrence_id > cutoff)  # fmt: skip
    for row in session.scalars(coming).all():
        moved = _moved(settings, row.start, new_start)
        row.series_id, row.recurrence_id, row.start = current.id, moved, moved
        row.ref, row.sequence = occurrence_ref(settings, current, moved), current.sequence
        session.flush()
    if preview is None:
        session.commit()
    queued = 0
    if not planning.announced(session, ended or current):
        return SeriesMove(current, ended, queued)
    for part in (ended, current):
        if part is not None:
            report = planning.send_invites(session, settings, part, now=now, preview=preview)
            queued += report.invites
            for skip in report.skipped:
                if on_skip:
                    on_skip(skip)
    return SeriesMove(current, ended, queued)


def _split(
    session: Session, settings: Settings, root: Meeting, last: datetime, *, now: datetime
) -> Meeting:
    """End the series so far at its occurrence `last` and return a new row for the rest.

    The row so far keeps its UID, mailings, items and occurrences; it is renamed
    ``<ref>-to-YYYY-MM-DD``, ends with an UNTIL (SEQUENCE+1) and points to the new row,
    which takes the ref with a new UID (as do any earlier parts).
    """
    assert root.rrule is not None
    ref = root.ref
    root.ref = f"{ref}-to-{schedule.to_local(last, settings.group.tz).date().isoformat()}"
    session.flush()
    new = Meeting(
        ref=ref, term=root.term, title=root.title, start=root.start,
        duration_minutes=root.duration_minutes, location=root.location, status="planned",
        sequence=0, uid=meetings.new_uid(settings), rrule=root.rrule, created_at=now,
    )  # fmt: skip
    session.add(new)
    session.flush()
    earlier = select(Meeting).where(Meeting.series_id == root.id, Meeting.rrule.is_not(None))
    for part in session.scalars(earlier).all():
        part.series_id = new.id
    root.series_id = new.id
    root.rrule = schedule.with_until(root.rrule, last)
    root.exdates = ",".join(d.isoformat() for d in root.skipped() if d <= last)
    root.sequence += 1
    return new
