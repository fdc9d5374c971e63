"""Members' files and answers between meetings: papers before, answers after.

* **Papers with the invite.** The resources members shared for a meeting go out with its
  invite (`invite_papers`): attached, or linked when over the size limit, exactly as the
  minutes share them (`sendminutes.shared_files`).
* **Papers the day before.** Resources that arrive after the invites go to every member
  in one "papers" mail the day before the meeting (`due_papers`, by `tick`, keyed
  ``papers:<meeting>``): what came between the invites and that mail.
* **Answers since the meeting.** Written answers that arrive after the minutes reach
  every member in one "answers since the meeting" mail (`due_answers`, by `tick`, keyed
  ``answers:<n>``), files included: those answered between the last minutes or answers
  mail and this one. A batch waits until no answer has come for `ANSWERS_QUIET`, so a
  burst of answers makes one mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import answers, compose, outbox, planning, schedule
from mailflow.config import Settings
from mailflow.items import meeting_items
from mailflow.members import active_members
from mailflow.models import Item, Mailing, Meeting, Member
from mailflow.sendminutes import SharedFile, attachment_parts, shared_files

ANSWERS_QUIET = timedelta(hours=1)
PAPERS_BEFORE = timedelta(days=1)


@dataclass(frozen=True)
class Papers:
    """Items with files to share, the files (attached or linked) and what the mail lists."""

    items: Sequence[Item]
    files: list[SharedFile]

    def files_of(self, item: Item) -> list[dict[str, str]]:
        """An item's files by name, with the link of any too large to attach."""
        links = {f.sha256: f.link for f in self.files}
        return [{"name": a.filename, "link": links.get(a.sha256, "")} for a in item.attachments]

    def listing(self) -> list[dict[str, Any]]:
        """Each item's title, sender and files."""
        return [{"title": i.title, "who": i.member.name if i.member else i.author,
                 "files": self.files_of(i)} for i in self.items]  # fmt: skip

    def parts(self, session: Session) -> tuple[list[compose.Part], list[str]]:
        """The attachments as shared blobs (stored once), and the blobs' hashes."""
        blobs = [outbox.store_blob(session, f.path.read_bytes()) for f in self.files if not f.link]
        return attachment_parts(self.files, shared_blobs=True), blobs


def gather(settings: Settings, items: Sequence[Item]) -> Papers:
    """The files of `items` to share (see `sendminutes.shared_files`)."""
    with_files = [i for i in items if i.attachments]
    return Papers(with_files, shared_files(settings, with_files))


def invite_papers(session: Session, settings: Settings, meeting: Meeting) -> Papers:
    """The resources members shared for `meeting` so far, to go with its invite."""
    resources = [i for i in meeting_items(session, meeting) if i.kind == "resource"]
    return gather(settings, [i for i in resources if i.status != "withdrawn"])


def _mailing(session: Session, key: str) -> Mailing | None:
    return session.scalar(select(Mailing).where(Mailing.key == key))


def _invited(session: Session, meeting: Meeting) -> datetime | None:
    """When the meeting's first invites were queued (its agenda fixed), if they were."""
    query = select(func.min(Mailing.created_at)).where(
        Mailing.kind == "invite", Mailing.meeting_id == meeting.id
    )
    return session.scalar(query)


def _fan_out_files(
    session: Session, settings: Settings, *, key: str, kind: str, meeting: Meeting | None,
    papers: Papers, template: str, context: dict[str, Any], subject: str, now: datetime,
) -> int:  # fmt: skip
    """Queue `template` with `papers` attached to every active member, once, for `key`."""
    parts, blobs = papers.parts(session)
    session.commit()

    def build(member: Member) -> EmailMessage:
        text, html = compose.render(template, context | {"name": settings.group.greet(member.name)})
        return compose.build_message(
            settings, to=planning.to_address(member), subject=subject, text=text, html=html,
            now=now, attachments=parts, member_id=member.id,
        )  # fmt: skip

    return planning.fan_out(session, key=key, kind=kind, meeting=meeting,
                            recipients=active_members(session), build=build, now=now,
                            blobs=blobs)  # fmt: skip


def due_papers(session: Session, settings: Settings, meeting: Meeting, now: datetime) -> list[str]:
    """The day before the meeting, mail the resources that came after its invites."""
    invited = _invited(session, meeting)
    if invited is None or not meeting.start - PAPERS_BEFORE <= now < meeting.start:
        return []
    key = f"papers:{meeting.id}"
    sent = _mailing(session, key)
    if sent is not None and sent.completed_at is not None:
        return []
    until = sent.created_at if sent is not None else now
    late = [
        i for i in meeting_items(session, meeting)
        if i.kind == "resource" and i.status != "withdrawn" and i.attachments
        and invited <= i.created_at < until
    ]  # fmt: skip
    if not late:
        return []
    outbox.get_mailing(session, key=key, kind="papers", meeting_id=meeting.id, now=now)
    day = schedule.to_local(meeting.start, settings.group.tz).strftime("%A")
    papers = gather(settings, late)
    context = planning.common_context(settings, meeting) | {"papers": papers.listing()}
    count = _fan_out_files(session, settings, key=key, kind="papers", meeting=meeting,
                           papers=papers, template="member/papers",
                           context=context, subject=f"Papers for {day}: {meeting.title}",
                           now=now)  # fmt: skip
    return [f"{meeting.ref}: papers queued for {count} member(s)"]


def due_answers(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Mail every member the written answers that came since the last minutes or answers
    mail, once no answer has come for `ANSWERS_QUIET`; finish any batch left unfinished."""
    done = [_send_answers(session, settings, m, now) for m in _unfinished(session)]
    pending = answers.pending_answers(session)
    if pending and now - max(i.answered_at or now for i in pending) >= ANSWERS_QUIET:
        count = session.scalar(select(func.count()).where(Mailing.kind == "answers")) or 0
        mailing = outbox.get_mailing(session, key=f"answers:{count + 1}", kind="answers",
                                     now=now)  # fmt: skip
        done.append(_send_answers(session, settings, mailing, now))
    return [line for line in done if line]


def _unfinished(session: Session) -> Sequence[Mailing]:
    query = select(Mailing).where(Mailing.kind == "answers", Mailing.completed_at.is_(None))
    return session.scalars(query.order_by(Mailing.id)).all()


def _send_answers(session: Session, settings: Settings, mailing: Mailing, now: datetime) -> str:
    """Queue the answers batch `mailing`: the answers from the mailing before it to it."""
    since = session.scalar(
        select(func.max(Mailing.created_at)).where(
            Mailing.kind.in_(("minutes", "answers")), Mailing.created_at < mailing.created_at
        )
    )
    if since is None:
        return ""
    batch = answers.answered_between(session, since, mailing.created_at)
    if not batch:  # nothing came in its window (an overlapping tick took them)
        mailing.completed_at = now
        session.commit()
        return ""
    latest = session.scalar(
        select(Meeting).join(Mailing, Mailing.meeting_id == Meeting.id)
        .where(Mailing.kind == "minutes").order_by(Meeting.start.desc()).limit(1)
    )  # fmt: skip
    papers = gather(settings, batch)
    context = {
        "group": settings.group.name, "since": latest.title if latest else "the meeting",
        "answers": [{"question": i, "asker": answers.asker_name(i), "files": papers.files_of(i),
                     "by": i.assignee.name if i.assignee else "a member"} for i in batch],
    }  # fmt: skip
    count = _fan_out_files(session, settings, key=mailing.key, kind="answers", meeting=None,
                           papers=papers, template="member/answers",
                           context=context, now=now,
                           subject=f"Answers since {context['since']}")  # fmt: skip
    return f"answers since the meeting queued for {count} member(s) ({len(batch)} answer(s))"
