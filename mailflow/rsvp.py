"""What calendar answers mean beyond their status: words, proposed times, apologies, quorum.

* A member's words with an RSVP (the calendar's COMMENT or Google's note, else their own
  text in the mail above the event's title, never the title, times and zone that
  calendars repeat below it) are kept on their attendance row.
* An answer about one occurrence of a weekly series (RECURRENCE-ID) leaves the series'
  answer alone (`occurrence_answer`): a decline is kept as an apology item for that date,
  in the member's words; accepting that date again withdraws it.
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

from mailflow import itip, notices, planning, schedule
from mailflow.config import Settings
from mailflow.models import Attendance, Item, Mailing, Meeting, Member

ABSENT = ("apologies", "declined")
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
    session: Session, settings: Settings, meeting: Meeting, member: Member,
    reply: itip.CalendarReply, words: str, *, message_id: int, now: datetime,
) -> list[str]:  # fmt: skip
    """Record an answer about one occurrence of a series; returns notes.

    The series' own answer is left as it is. A decline is the member's apology for that
    date (one item per date, its words updated by a later decline); any other answer
    for the date withdraws that apology.
    """
    assert reply.recurrence_id is not None
    when = schedule.human_local(reply.recurrence_id, settings.group.tz)
    title = f"Apologies for {when}"
    item = session.scalar(
        select(Item).where(Item.meeting_id == meeting.id, Item.member_id == member.id,
                           Item.kind == "apology", Item.title == title)
        .order_by(Item.id.desc()).limit(1)
    )  # fmt: skip
    status = reply.partstat if reply.partstat in ("accepted", "declined", "tentative") else ""
    note = f"{status or 'no answer'} for {when}"
    if status != "declined":
        if item is not None and item.status != "withdrawn":
            item.status = "withdrawn"
            return [note, f"withdrew #{item.id}"]
        return [note]
    if item is None:
        item = Item(meeting_id=meeting.id, member_id=member.id, message_id=message_id,
                    kind="apology", title=title, created_at=now, author=member.email)  # fmt: skip
        session.add(item)
    item.body, item.status = words, "proposed"
    session.flush()
    return [note, f"apology #{item.id}"]


def answers(session: Session, meeting: Meeting) -> dict[int, Attendance]:
    """Every attendance row of the meeting, by member id."""
    rows = session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id))
    return {r.member_id: r for r in rows}


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
    rows = session.scalars(
        select(Attendance).where(Attendance.meeting_id == meeting.id, Attendance.status.in_(ABSENT))
    ).all()
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
    rows = session.scalars(
        select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.status == "accepted"
        )
    ).all()
    return [r.member for r in rows if r.member.active]


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
