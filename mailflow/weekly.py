"""The weekly rhythm of a series (the weekly chat), run by `tick` for each occurrence.

For every series, `tick` keeps its occurrence records ready (`series.ensure_coming`)
and, when each step is due by `[series]` (hours before the occurrence's start):

1. the series' invitation, once, `[schedule] invite_days` before its next occurrence
   (one calendar series; its SUMMARY stays the series' title);
2. the theme poll for the occurrence opens (`poll_opens_hours`), with the configured
   `theme_options`, the runner-up of the occurrence before, and themes members proposed
   there that were approved; members reply with a vote or ``Theme: ...`` (see `polls`);
3. members who have not voted are reminded once (`poll_reminder_hours`);
4. the poll closes (`poll_closes_hours`, by `polls.close_due`) and its winner becomes the
   occurrence's theme;
5. the week's reminder (`reminder_hours`) tells every member the date, the time and the
   theme. The theme goes in this mail, not in a calendar update: an update per week
   would make every calendar keep a changed copy of each date and ask everyone to answer
   it again (RSVP), while the series' own SUMMARY stays true for every week;
6. after the chat (`summary_hours_after` its end), the summary the coordinator wrote in
   ``<summary_dir>/<occurrence ref>.md`` is sent as its minutes (`sendminutes`), or
   nothing if there is none.

Every step is keyed (a mailing, or a poll claimed once per occurrence), so two ticks at
once do each thing once. No step sends late: a poll opens only before it would close,
and the reminder only before the chat starts. There is no call for items: the theme poll
takes its place, and members' replies to the reminder count for that week.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow import compose, meetings, outbox, planning, polls, schedule, sendminutes, series
from mailflow.app import App
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.members import active_members
from mailflow.models import Mailing, Meeting, Member, Poll, PollVote


def _done(session: Session, key: str) -> bool:
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    return mailing is not None and mailing.completed_at is not None


def _hours(when: datetime, hours: int) -> datetime:
    return when - timedelta(hours=hours)


def run(app: App, session: Session, now: datetime) -> list[str]:
    """Do every series' weekly steps that are due at `now`; returns what was done."""
    settings = app.settings
    series.ensure_coming(session, settings, now=now)
    session.commit()
    done: list[str] = []
    parts = select(Meeting).where(Meeting.rrule.is_not(None), Meeting.status != "cancelled")
    for part in session.scalars(parts).all():
        coming = session.scalars(
            select(Meeting)
            .where(Meeting.series_id == part.id, Meeting.recurrence_id.is_not(None),
                   Meeting.status != "cancelled", Meeting.start > now)
            .order_by(Meeting.start).limit(2)
        ).all()  # fmt: skip
        if coming:
            done += _invite(session, settings, part, coming[0], now)
        for occurrence in coming:
            done += _poll(session, settings, occurrence, now)
            done += _reminder(session, settings, occurrence, now)
        session.commit()
    done += _summaries(app, session, now)
    return done


def _invite(
    session: Session, settings: Settings, part: Meeting, first: Meeting, now: datetime
) -> list[str]:
    """The series' invitation, once its next occurrence is `invite_days` away."""
    key = f"invite:{part.id}:{part.sequence}"
    if now < first.start - timedelta(days=settings.schedule.invite_days) or _done(session, key):
        return []
    report = planning.send_invites(session, settings, part, now=now)
    return [f"{part.ref}: series invitation queued for {report.invites} member(s)"]


def _poll(session: Session, settings: Settings, occurrence: Meeting, now: datetime) -> list[str]:
    """Open the occurrence's theme poll when due, or remind those who have not voted."""
    cfg = settings.series
    closes = _hours(occurrence.start, cfg.poll_closes_hours)
    poll = session.scalar(select(Poll).where(Poll.meeting_id == occurrence.id).limit(1))
    if poll is None:
        if not _hours(occurrence.start, cfg.poll_opens_hours) <= now < closes:
            return []
        poll = _open_poll(session, settings, occurrence, closes, now)
        if poll is None:
            return []
        count = polls.send_poll(session, settings, poll, now=now)
        return [f"{occurrence.ref}: theme poll {poll.id} opened for {count} member(s)"]
    remind_at = _hours(occurrence.start, cfg.poll_reminder_hours)
    if cfg.poll_reminder_hours <= 0 or not (remind_at <= now and polls.is_open(poll, now)):
        return []
    count = _remind_voters(session, settings, poll, now)
    return [f"{occurrence.ref}: poll reminder queued for {count} member(s)"] if count else []


def _open_poll(
    session: Session, settings: Settings, occurrence: Meeting, closes: datetime, now: datetime
) -> Poll | None:
    """Create the occurrence's poll once (claimed by a mailing key); None if another
    tick did it first."""
    when = schedule.human_local(occurrence.start, settings.group.tz)
    try:
        with session.begin_nested():
            session.add(Mailing(key=f"theme-poll:{occurrence.id}", kind="theme-poll",
                                meeting_id=occurrence.id, created_at=now))  # fmt: skip
            poll = polls.new_poll(
                session, meeting=occurrence, question=f"Theme for {occurrence.title} on {when}",
                options=_options(session, settings, occurrence), closes_at=closes, now=now,
            )  # fmt: skip
    except IntegrityError:  # an overlapping tick opened it
        return None
    session.commit()
    return poll


def _options(session: Session, settings: Settings, occurrence: Meeting) -> list[str]:
    """The configured themes, the runner-up of the week before, and members' approved
    themes from then that did not win."""
    options = list(settings.series.theme_options)
    root = meetings.root_of(occurrence)
    parts = [p.id for p in series.parts(session, root)] if root else [occurrence.series_id]
    before = session.scalar(
        select(Poll).join(Meeting, Poll.meeting_id == Meeting.id)
        .where(Meeting.series_id.in_(parts), Meeting.start < occurrence.start,
               Poll.status == "closed")
        .order_by(Meeting.start.desc()).limit(1)
    )  # fmt: skip
    if before is not None:
        counts = [c for c in polls.tally(before).counts if c[0] != before.winner]
        runner_up = max(counts, key=lambda c: c[1], default=("", 0))
        if runner_up[1] > 0:
            options.append(runner_up[0])
        options += [o for o in polls.approved_proposals(before) if o != before.winner]
    return list(dict.fromkeys(o for o in options if o))


def _remind_voters(session: Session, settings: Settings, poll: Poll, now: datetime) -> int:
    """Mail the poll again, once, to active members who have not voted."""
    voted = set(session.scalars(select(PollVote.member_id).where(PollVote.poll_id == poll.id)))
    recipients = [m for m in active_members(session) if m.id not in voted]
    return polls.send_poll(session, settings, poll, now=now, recipients=recipients,
                           key=f"poll-reminder:{poll.id}")  # fmt: skip


def _reminder(
    session: Session, settings: Settings, occurrence: Meeting, now: datetime
) -> list[str]:
    """The week's reminder with the date, time and theme, once, before the chat."""
    hours = settings.series.reminder_hours
    if hours <= 0 or not _hours(occurrence.start, hours) <= now < occurrence.start:
        return []
    context = planning.common_context(settings, occurrence)
    subject = f"{occurrence.heading}: {context['when']}"

    def build(member: Member) -> EmailMessage:
        text, html = compose.render("member/weekly-reminder", context | {"name": member.name})
        return compose.build_message(
            settings, to=planning.to_address(member), now=now, text=text, html=html,
            subject=subject, reply_to=planning.signed(settings, "c", occurrence.id, member),
        )  # fmt: skip

    skipped: list[outbox.Skipped] = []
    count = planning.fan_out(session, key=f"weekly-reminder:{occurrence.id}", kind="reminder",
                             meeting=occurrence, recipients=active_members(session),
                             build=build, now=now, on_skip=skipped.append)  # fmt: skip
    done = [f"{occurrence.ref}: reminder queued for {count} member(s)"] if count else []
    return done + ([f"{occurrence.ref}: {outbox.describe_skips(skipped)}"] if skipped else [])


def _summary_sent(session: Session, occurrence: Meeting) -> bool:
    """Whether minutes went out for the occurrence (by `tick` or by hand)."""
    sent = select(Mailing.id).where(Mailing.kind == "minutes", Mailing.meeting_id == occurrence.id,
                                    Mailing.completed_at.is_not(None))  # fmt: skip
    return session.scalar(sent.limit(1)) is not None


def _summaries(app: App, session: Session, now: datetime) -> list[str]:
    """Send each chat's summary once it is written and due (see the module doc)."""
    cfg = app.settings.series
    ended = session.scalars(
        select(Meeting).where(Meeting.recurrence_id.is_not(None), Meeting.status != "cancelled",
                              Meeting.start < now, Meeting.start > now - timedelta(days=14))
    ).all()  # fmt: skip
    done = []
    folder = app.settings.path(cfg.summary_dir)
    for occurrence in ended:
        due = occurrence.start + timedelta(minutes=occurrence.duration_minutes,
                                           hours=cfg.summary_hours_after)  # fmt: skip
        path = folder / f"{occurrence.ref}.md"
        if now < due or not path.is_file() or _summary_sent(session, occurrence):
            continue
        session.commit()
        try:
            report = sendminutes.send_minutes(app, occurrence.ref, path, [])
        except UserError as exc:  # e.g. the summary was changed after it was sent
            done.append(f"{occurrence.ref}: summary not sent: {exc}")
            continue
        done.append(f"{occurrence.ref}: summary queued for {report.queued} member(s)")
    return done
