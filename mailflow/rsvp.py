"""What calendar answers mean beyond their status: words, proposed times, apologies, quorum.

* A member's words with an RSVP (the calendar's COMMENT or Google's note, else their own
  text in the mail above the event's title, never the title, times and zone that
  calendars repeat below it) are kept on their attendance row.
* An answer about one occurrence of a series (RECURRENCE-ID: Google's "this event
  only", Outlook's "just this one") is that date's attendance (`occurrence_answer`), on
  the occurrence's own record; the series' answer (a REPLY without RECURRENCE-ID) is the
  member's default for every date they did not answer on its own
  (`meetings.answer_rows`).
* A COUNTER (a member proposes a new time) is kept as the attendance's
  ``proposed_start`` and mailed to the coordinator, who decides; `meetings show` lists
  it. The meeting does not move by itself.
* A decline is shown as "declined" (what the member's calendar said) but counts as
  apologies, in the member's words, wherever apologies are listed (`apologies`).
* `quorum_warning` mails the coordinator once (key ``quorum:<meeting>``) when, after the
  invites went out and `[schedule] quorum_warning_days` before the meeting, fewer members
  accepted than `[group] quorum`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import itip, meetings, notices, planning, schedule, series
from mailflow.config import Settings
from mailflow.models import Attendance, Item, Mailing, Meeting, Member

ABSENT = ("apologies", "declined")
_STATUS = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}
# What calendars write in the body of an RSVP on the member's behalf: not their words.
_BOILERPLATE = re.compile(
    r"(has|have) (accepted|declined|tentatively accepted|proposed a new time)|"
    r"^(accepted|declined|tentative|new time proposed):|invitation from google calendar|"
    r"^\s*(this|the) (event|meeting) (has been|was) ",
    re.IGNORECASE,
)


# Where a calendar's own account of the event starts in its text (Google's footer, when
# the event's title line is not there to find).
_EVENT_LINES = re.compile(r"^\s*invitation from google calendar\s*$", re.IGNORECASE)
_QUOTED = re.compile(r'^\s*["\u201c](.*)["\u201d]\s*$', re.DOTALL)


def member_words(reply: itip.CalendarReply, text: str, titles: Sequence[str] = ()) -> str:
    """The member's own words with an RSVP: the COMMENT, else their text in the mail.

    The text is read only above the first line that is the event's title (one of
    `titles`, the meeting's names as its invites gave them): below it calendars repeat the
    event (Google: its times and zone, then its footer). Lines the calendar writes on
    the member's behalf ("Jane has declined this invitation with a note:") are dropped,
    and quotes around what is left (Google quotes the note).
    """
    if reply.comment.strip():
        return reply.comment.strip()[:2000]
    names = {t.strip().casefold() for t in titles if t.strip()}
    lines = []
    for line in text.splitlines():
        if line.strip().casefold() in names or _EVENT_LINES.match(line):
            break
        if not _BOILERPLATE.search(line):
            lines.append(line)
    words = "\n".join(lines).strip()
    quoted = _QUOTED.match(words)
    return (quoted.group(1).strip() if quoted else words)[:2000]


def after_reply(
    session: Session, settings: Settings, row: Attendance, reply: itip.CalendarReply,
    words: str, *, now: datetime,
) -> list[str]:  # fmt: skip
    """Keep the words and any proposed time of a calendar answer; returns notes."""
    row.comment = words
    if reply.method != "COUNTER" or reply.proposed_start is None:
        return []
    row.proposed_start = reply.proposed_start
    meeting, member = row.meeting, row.member
    tz = settings.group.tz
    proposed = schedule.human_local(reply.proposed_start, tz)
    context = {
        "member": member, "meeting": meeting, "proposed": proposed, "words": words,
        "when": schedule.human_local(meeting.start, tz),
        "move": schedule.to_local(reply.proposed_start, tz).strftime("%Y-%m-%d %H:%M"),
    }  # fmt: skip
    for coordinator in notices.coordinators(session, settings):
        notices.queue_mail(
            session, settings, to=coordinator, template="coordinator/counter", now=now,
            context=context, subject=f"{member.name} proposes a new time for {meeting.title}",
            reply_to=member.email,
        )  # fmt: skip
    return [f"proposed a new time: {proposed}"]


def occurrence_answer(
    session: Session, settings: Settings, part: Meeting, member: Member,
    reply: itip.CalendarReply, words: str, *, now: datetime,
) -> list[str]:  # fmt: skip
    """Record an answer about one occurrence of the series `part`; returns notes.

    The occurrence's record is made if it is not there yet; an answer for a date the
    series does not have is noted and not recorded.
    """
    assert reply.recurrence_id is not None
    when = schedule.human_local(reply.recurrence_id, settings.group.tz)
    day = series.starts(settings, part, after=reply.recurrence_id, count=1)
    query = select(Meeting).where(Meeting.series_id == part.id,
                                  Meeting.recurrence_id == reply.recurrence_id)  # fmt: skip
    occurrence = session.scalar(query)
    if occurrence is None and day[:1] != [reply.recurrence_id]:
        return [f"answer for {when}, which is not a date of {part.ref}: not recorded"]
    if occurrence is None:
        occurrence = series.ensure_occurrence(session, settings, part, reply.recurrence_id,
                                              now=now)  # fmt: skip
    status = _STATUS.get(reply.partstat, "needs-action")
    row = meetings.set_attendance(session, occurrence, member, status, now=now,
                                  sequence=reply.sequence)  # fmt: skip
    row.comment = words
    return [f"attendance {status} for {occurrence.ref}"]


def answers(session: Session, meeting: Meeting) -> dict[int, Attendance]:
    """Every attendance row of the meeting, by member id (of an occurrence, the answers
    for its date, else for its series)."""
    return meetings.answer_rows(session, meeting)


def details_json(row: Attendance | None, settings: Settings) -> dict[str, str | None]:
    """The words and any proposed time of an attendance answer, for `meetings show`."""
    proposed = row.proposed_start if row is not None else None
    return {
        "comment": row.comment if row is not None else "",
        "proposed_start": schedule.iso_local(proposed, settings.group.tz) if proposed else None,
        "counts_as": "apologies" if row is not None and row.status in ABSENT else None,
    }


def apologies(session: Session, meeting: Meeting) -> list[tuple[Member, str]]:
    """Members who sent apologies or declined the invite, with their words."""
    rows = [r for r in answers(session, meeting).values() if r.status in ABSENT]
    return [(r.member, r.comment or _apology_text(session, meeting, r.member)) for r in rows]


def _apology_text(session: Session, meeting: Meeting, member: Member) -> str:
    """The reason in the member's apology item for the meeting, if they sent one."""
    item = session.scalar(
        select(Item)
        .where(Item.meeting_id == meeting.id, Item.member_id == member.id,
               Item.kind == "apology")
        .order_by(Item.id.desc())
        .limit(1)
    )  # fmt: skip
    return (item.body or item.title).strip() if item is not None else ""


def accepted(session: Session, meeting: Meeting) -> list[Member]:
    """Active members who accepted the invite."""
    rows = answers(session, meeting).values()
    return [r.member for r in rows if r.status == "accepted" and r.member.active]


def _invited(session: Session, meeting: Meeting) -> bool:
    key = select(Mailing.id).where(Mailing.key.like(f"invite:{meeting.id}:%"))
    return session.scalar(key.limit(1)) is not None


def quorum_warning(
    session: Session, settings: Settings, meeting: Meeting, now: datetime
) -> list[str]:
    """Warn the coordinator once if too few members accepted (see the module doc)."""
    quorum, days = settings.group.quorum, settings.schedule.quorum_warning_days
    if quorum <= 0 or not meeting.start - timedelta(days=days) <= now < meeting.start:
        return []
    if not _invited(session, meeting) or not notices.coordinators(session, settings):
        return []
    coming = accepted(session, meeting)
    if len(coming) >= quorum:
        return []
    context = planning.common_context(settings, meeting) | {
        "quorum": quorum, "accepted": coming, "apologies": apologies(session, meeting),
    }  # fmt: skip
    count = notices.mail_coordinators(
        session, settings, key=f"quorum:{meeting.id}", kind="quorum", meeting=meeting,
        template="coordinator/quorum", context=context, now=now,
        subject=f"Below quorum: {len(coming)} of {quorum} for {meeting.title}",
    )  # fmt: skip
    return [f"{meeting.ref}: quorum warning ({len(coming)} of {quorum})"] if count else []
