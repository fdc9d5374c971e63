"""`mailflow tick`: everything that is due now, safe to run from cron every few minutes.

Each action is idempotent (mailings are keyed, planning is by ref), so a tick that runs
twice, or two ticks that overlap, do each thing once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailflow import answers, due, late, meetings, outbox, papers, planning, privacy, weekly
from mailflow.app import App
from mailflow.config import Settings
from mailflow.models import Mailing, Meeting


def _sent(session: Session, key: str) -> bool:
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    return mailing is not None and mailing.completed_at is not None


def plan_terms(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Create the meetings of every term that has not ended yet."""
    done = []
    try:
        for term in settings.terms:
            if term.end < now.date():
                continue
            for meeting, created in meetings.plan_term(session, settings, term.name, now=now):
                if created:
                    done.append(f"planned {meeting.ref}")
        session.commit()
    except IntegrityError:  # an overlapping tick planned the same meetings first
        session.rollback()
        return []
    return done


def place_waiting(session: Session, now: datetime) -> list[str]:
    """Items that waited for a meeting to be planned join the next open one."""
    placed = late.place_waiting(session, now)
    session.commit()
    return (
        [f"{placed[0].meeting.ref}: {len(placed)} waiting item(s) placed"]
        if placed and placed[0].meeting
        else []
    )


def _created(session: Session, key: str) -> datetime | None:
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    return mailing.created_at if mailing is not None else None


def due_mailings(
    session: Session, settings: Settings, meeting: Meeting, now: datetime
) -> list[str]:
    """Send whichever of call for items, reminder and invites is due for one meeting.

    The call goes out `call_for_items_days` before the meeting, the reminder
    `reminder_days` before the deadline (only if the call went out before then), and the
    agenda with invites at the deadline, `invite_days` before the meeting. Once the
    deadline has passed, a call or reminder that was never sent is skipped: the invite
    says everything then.
    """
    cfg = settings.schedule
    invite_at = meeting.start - timedelta(days=cfg.invite_days)
    call_at = meeting.start - timedelta(days=cfg.call_for_items_days)
    reminder_at = invite_at - timedelta(days=cfg.reminder_days)
    called = _created(session, f"call:{meeting.id}")
    done = []
    skipped: list[outbox.Skipped] = []
    if now >= invite_at:
        if not _sent(session, f"invite:{meeting.id}:{meeting.sequence}"):
            report = planning.send_invites(session, settings, meeting, now=now)
            skipped += report.skipped
            done.append(f"{meeting.ref}: invites queued for {report.invites} member(s)")
    elif called is None and now >= call_at:
        count = planning.call_for_items(session, settings, meeting, now=now,
                                        on_skip=skipped.append)  # fmt: skip
        done.append(f"{meeting.ref}: call for items queued for {count} member(s)")
    elif (
        called is not None and called < reminder_at <= now
        and not _sent(session, f"reminder:{meeting.id}")
    ):  # fmt: skip
        count = planning.call_for_items(session, settings, meeting, now=now, reminder=True,
                                        on_skip=skipped.append)  # fmt: skip
        done.append(f"{meeting.ref}: reminder queued for {count} member(s)")
    if skipped:
        done.append(f"{meeting.ref}: {outbox.describe_skips(skipped)}")
    return done


def run(app: App) -> list[str]:
    """Do everything due at the app's current time; returns what was done."""
    now = app.now()
    done: list[str] = []
    with app.session() as session:
        done += plan_terms(session, app.settings, now)
        done += place_waiting(session, now)
        # a series and its occurrences keep the weekly rhythm (`weekly`), not the term's
        upcoming = session.scalars(
            select(Meeting)
            .where(Meeting.start > now, Meeting.status != "cancelled",
                   Meeting.rrule.is_(None), Meeting.recurrence_id.is_(None))
            .order_by(Meeting.start)
        ).all()  # fmt: skip
        done += due.run(session, app.settings, now, upcoming)  # polls, drafts, votes, digest
        done += weekly.run(app, session, now)  # series: polls, reminders, summaries
        for meeting in upcoming:
            done += due_mailings(session, app.settings, meeting, now)
            done += papers.due_papers(session, app.settings, meeting, now)
        done += papers.due_answers(session, app.settings, now)  # answers since the meeting
        done += answers.due_reminders(session, app.settings, now)
        done += privacy.apply_retention(session, app.settings, now)  # [retention]
        report = outbox.deliver(session, app.settings, now=now)
    if report.sent or report.failed or report.deferred:
        done.append(f"delivered: {report.sent} sent, {report.deferred} deferred, "
                    f"{report.failed} failed")  # fmt: skip
    return done
