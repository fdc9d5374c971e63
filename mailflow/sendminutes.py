"""`send-minutes`: the minutes, attendance, actions, answers and files to every member.

What every copy shares (the rendered minutes, attendance, questions, actions, resources,
the next meeting, and the attachments, stored once as shared blobs) is worked out once
per run; only the "Your actions" block (and, for coordinators, who never answered the
invitation) differs per member. The fan-out is a keyed mailing
(``minutes:<meeting>:<n>``), so a re-run sends nothing new, a crash resumes where it
stopped, and `--resend` starts the next numbered mailing. A member whose copy cannot be
built is skipped and listed in the report; everyone else still gets theirs.

Sending the minutes also records what they say (`record`): the attendance of their
Present:/Apologies:/Absent: lines, the actions (numbered, so that owners can reply
``done N``), and which items were discussed; the meeting is then `minuted`. A dry run
records nothing.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import markupsafe
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import actions, answers, compose, fanout, meetings, minutes, outbox, schedule
from mailflow.app import App
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.ingest import blob_path, next_meeting
from mailflow.items import meeting_items
from mailflow.meetings import find_meeting
from mailflow.members import active_members
from mailflow.minutes import Minutes, render_minutes
from mailflow.models import (
    Action,
    Item,
    Mailing,
    MailingRecipient,
    Meeting,
    Member,
    OutboxMessage,
)
from mailflow.planning import signed, to_address

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedFile:
    """A file that goes with the minutes: attached, or linked when too large."""

    filename: str
    content_type: str
    path: Path
    size: int
    sha256: str
    link: str = ""


@dataclass
class Shared:
    """Everything every member's copy has in common."""

    meeting: Meeting
    subject: str
    minutes: Minutes
    context: dict[str, Any]
    files: list[SharedFile]
    content_hash: str


@dataclass
class Report:
    """What a `send_minutes` run did."""

    recipients: int = 0
    queued: int = 0
    # this mailing's messages, whenever they were queued: sent, waiting for a retry, failed
    sent: int = 0
    deferred: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[outbox.Skipped] = field(default_factory=list)  # copies that cannot be built
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)  # all mail due
    dry_run: list[tuple[str, int, int]] = field(default_factory=list)  # to, bytes, files
    dry_run_dir: Path | None = None
    already_sent: bool = False


def _file(path: Path, filename: str, settings: Settings, content_type: str = "") -> SharedFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    kind = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    link = ""
    limit = settings.storage.max_attachment_bytes
    if len(data) > limit:
        if not settings.archive.base_url:
            raise UserError(
                f"{filename} is {len(data)} bytes, over the {limit}-byte attachment limit "
                "(set [archive] base_url to link large files instead); nothing was sent"
            )
        link = f"{settings.archive.base_url.rstrip('/')}/{sha}/{filename}"
    return SharedFile(filename, kind, path, len(data), sha, link)


def shared_files(
    settings: Settings, resources: Sequence[Item], attach: Sequence[Path] = ()
) -> list[SharedFile]:
    """The files of `resources` (as stored) and the `attach` files, each attached or,
    over the size limit, linked; `UserError` for an unreadable or too large file."""
    files = [
        _file(blob_path(settings.data_dir, a.sha256), a.filename, settings, a.content_type)
        for item in resources
        for a in item.attachments
    ]
    files += [_file(p, p.name, settings) for p in attach]
    return files


def _questions(items: Sequence[Item]) -> list[dict[str, str]]:
    return [
        {"title": i.title, "asker": i.member.name if i.member else i.author,
         "outcome": minutes.outcome(status=i.status, discussed=bool(i.discussed),
                                    answered=bool(i.answer)),
         "answer": i.answer}
        for i in items
        if i.kind == "question" and i.status != "withdrawn"
    ]  # fmt: skip


def record(
    session: Session, meeting: Meeting, minutes_: Minutes, markdown: str, items: Sequence[Item],
    *, now: datetime,
) -> list[Action]:  # fmt: skip
    """Record what the minutes say: attendance from their record lines (`UserError`,
    nothing recorded, for a name that is no member), which items were discussed, and
    the actions; returns the meeting's actions as stored."""
    said = minutes_.record
    if said.attendance:
        named = {
            label: meetings.members_named(session, names, where=f"the {label}: line")
            for label, names in (("Present", said.present or ()), ("Apologies", said.apologies),
                                 ("Absent", said.absent))
        }  # fmt: skip
        meetings.record_presence(session, meeting, present=named["Present"],
                                 apologies=named["Apologies"], absent=named["Absent"],
                                 replace=said.present is not None, now=now)  # fmt: skip
    on_agenda = [i for i in items if i.kind in ("question", "agenda") and i.status != "withdrawn"]
    marked = minutes.discussed_ids(markdown, {i.id: i.title for i in on_agenda})
    for item in on_agenda:
        if item.id in marked:
            item.discussed = True
        elif item.status in ("scheduled", "proposed"):
            item.discussed = False  # on the agenda but not reached (carried over)
    people = session.scalars(select(Member)).all()
    return actions.sync(session, meeting, minutes_.actions, people, now=now)


def _attendance(roll: meetings.Roll) -> dict[str, Any]:
    def names(people: Sequence[Member]) -> list[str]:
        return [m.name for m in people]

    return {"recorded": roll.recorded, "attended": names(roll.present),
            "apologies": names(roll.apologies), "absent": names(roll.absent),
            "no_answer": names(roll.no_answer)}  # fmt: skip


def gather(
    session: Session, settings: Settings, meeting: Meeting, markdown: str,
    attach: Sequence[Path], *, now: datetime,
) -> Shared:  # fmt: skip
    """Record what the minutes say (see `record`) and work out everything the copies
    share; `UserError` for a name that is no member and unreadable or oversized files."""
    tz = settings.group.tz
    names = {m.name.lower(): m.email for m in session.scalars(select(Member))}
    rendered = render_minutes(markdown, names, today=schedule.to_local(now, tz).date())
    items = meeting_items(session, meeting)
    stored = record(session, meeting, rendered, markdown, items, now=now)
    resources = [i for i in items if i.kind == "resource" and i.attachments]
    files = shared_files(settings, resources, attach)
    later = next_meeting(session, meeting.start + timedelta(minutes=1))
    when = schedule.human_local(meeting.start, tz)
    mine = sorted(stored, key=lambda a: (a.owner_name.lower(), a.due or date.max, a.text))
    context = {
        "group": settings.group.name, "title": meeting.title, "ref": meeting.ref, "when": when,
        "location": meeting.location, "minutes_html": rendered.html,
        "minutes_text": rendered.text, **_attendance(meetings.roll(session, meeting)),
        "actions": [actions.view(a) for a in mine], "questions": _questions(items),
        "done_since": [actions.view(a) for a in actions.done_since(session, meeting)],
        "still_open": [actions.view(a) for a in actions.open_before(session, meeting)],
        "resources": [{"title": i.title, "who": i.member.name if i.member else i.author,
                       "files": [a.filename for a in i.attachments]} for i in resources],
        "attached": [p.name for p in attach],
        "answered_since": [{"title": i.title, "asker": answers.asker_name(i), "answer": i.answer,
                            "files": [a.filename for a in i.attachments]}
                           for i in answers.since_last_meeting(session, meeting)],
        "links": [f for f in files if f.link],
        "next": f"{later.title}, {schedule.human_local(later.start, tz)}" if later else "",
    }  # fmt: skip
    digest = hashlib.sha256(markdown.encode())
    for f in files:
        digest.update(f.sha256.encode())
    return Shared(meeting, f"Minutes: {meeting.title} ({when})", rendered, context, files,
                  digest.hexdigest())  # fmt: skip


def _own(shared: Shared, member: Member) -> dict[str, Any]:
    """What of a copy is the member's own, besides their name: their actions first, and
    for a coordinator, who never answered the invitation."""
    email = member.email.lower()
    mine = [a for a in [*shared.context["actions"], *shared.context["still_open"]]
            if a["email"].lower() == email]  # fmt: skip
    unanswered = shared.context["no_answer"] if member.role == "coordinator" else []
    return {"your_actions": mine, "no_answer": unanswered}


def _message(
    settings: Settings, shared: Shared, member: Member, context: dict[str, Any], *,
    now: datetime, shared_blobs: bool, message_id: str | None = None,
) -> EmailMessage:  # fmt: skip
    text, html = compose.render("member/minutes", context)
    parts = attachment_parts(shared.files, shared_blobs=shared_blobs)
    return compose.build_message(
        settings, to=to_address(member), subject=shared.subject, text=text, html=html, now=now,
        reply_to=signed(settings, "m", shared.meeting.id, member), attachments=parts,
        message_id=message_id,
    )  # fmt: skip


def compose_copy(
    settings: Settings, shared: Shared, member: Member, *, now: datetime, shared_blobs: bool
) -> EmailMessage:
    """One member's copy: their own actions first, then what everyone gets (and, for a
    coordinator, who never answered the invitation)."""
    context = shared.context | _own(shared, member) | {"name": settings.group.greet(member.name)}
    return _message(settings, shared, member, context, now=now, shared_blobs=shared_blobs)


class Copies:
    """Every member's copy, as `compose_copy` builds it, assembled from a template
    (`fanout.Template`) made once for all the members whose copies differ only in name
    (no actions of their own and not a coordinator, most of a group) and once for each
    other kind of copy; a copy no template can give (a greeting with a control character) is
    built whole."""

    def __init__(self, settings: Settings, shared: Shared, *, now: datetime) -> None:
        self.settings, self.shared, self.now = settings, shared, now
        self.slot = fanout.placeholder()
        self.templates: dict[tuple[object, ...], fanout.Template | None] = {}

    def __call__(self, member: Member) -> EmailMessage:
        """The member's copy (with shared blobs); `ValueError` for an unusable address."""
        settings, shared = self.settings, self.shared
        own = _own(shared, member)
        headers = compose.recipient_headers(
            settings, to=to_address(member), message_id=compose.new_message_id(settings),
            reply_to=signed(settings, "m", shared.meeting.id, member), member_id=member.id,
        )  # fmt: skip
        key = (tuple(a["id"] for a in own["your_actions"]), bool(own["no_answer"]))
        if key not in self.templates:
            self.templates[key] = self._template(member, own, headers)
        template, name = self.templates[key], settings.group.greet(member.name)
        try:
            if template is not None:
                return template.copy(headers, [name, str(markupsafe.escape(name))])
        except ValueError:  # a greeting with a control character
            pass
        return compose_copy(settings, shared, member, now=self.now, shared_blobs=True)

    def _template(
        self, member: Member, own: dict[str, Any], headers: list[tuple[str, Address | str]]
    ) -> fanout.Template | None:
        """The template for copies like `member`'s, checked against `member`'s copy built
        whole (so a template that used the name other than as written, say upper-cased,
        is refused); None, and a warning, when there can be none."""
        context = self.shared.context | own
        message_id = str(dict(headers)["Message-ID"])

        def whole(name: str) -> EmailMessage:
            return _message(self.settings, self.shared, member, context | {"name": name},
                            now=self.now, shared_blobs=True, message_id=message_id)  # fmt: skip

        prototype = whole(self.slot)
        try:
            template = fanout.Template(
                prototype, compose.render("member/minutes", context | {"name": self.slot}),
                self.slot, headers,
            )  # fmt: skip
            name = self.settings.group.greet(member.name)
            copy = template.copy(headers, [name, str(markupsafe.escape(name))])
            if copy.raw != compose.to_bytes(fanout.same_boundaries(whole(name), prototype)):
                raise ValueError("a copy assembled is not the copy built whole")
        except ValueError as exc:
            log.warning("minutes: copies of one kind are built whole: %s", exc)
            return None
        return template


def attachment_parts(files: Sequence[SharedFile], *, shared_blobs: bool) -> list[compose.Part]:
    """The files to attach (not those linked), as shared blobs (see `outbox.store_blob`)
    or with their bytes."""
    return [
        compose.Part(b"" if shared_blobs else f.path.read_bytes(), f.content_type, f.filename,
                     blob=f.sha256 if shared_blobs else None)
        for f in files
        if not f.link
    ]  # fmt: skip


def _mailing(
    session: Session, meeting: Meeting, shared: Shared, *, resend: bool, now: datetime
) -> Mailing:
    sent = session.scalars(
        select(Mailing)
        .where(Mailing.kind == "minutes", Mailing.meeting_id == meeting.id)
        .order_by(Mailing.id)
    ).all()
    latest = sent[-1] if sent else None
    if latest is not None and not resend:
        if not _started(session, latest):
            latest.content_hash = shared.content_hash  # nothing went out yet: take the new text
        if latest.content_hash != shared.content_hash:
            day = latest.created_at.date().isoformat()
            raise UserError(f"the minutes changed since they were sent on {day}; "
                            "use --resend to send the new version")  # fmt: skip
        return latest
    return outbox.get_mailing(session, key=f"minutes:{meeting.id}:{len(sent) + 1}",
                              kind="minutes", meeting_id=meeting.id, now=now,
                              content_hash=shared.content_hash)  # fmt: skip


def _started(session: Session, mailing: Mailing) -> bool:
    """True once any recipient of the mailing has been queued."""
    query = select(MailingRecipient.id).where(MailingRecipient.mailing_id == mailing.id)
    return session.scalar(query.limit(1)) is not None


def dry_run(settings: Settings, shared: Shared, members: Sequence[Member], folder: Path, *,
            now: datetime) -> Report:  # fmt: skip
    """Write the copy each member would get as .eml files; send and store nothing.

    A member whose copy cannot be built is listed in `Report.skipped`, as a real run would.
    """
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(recipients=len(members), dry_run_dir=folder)
    by_email = {m.email.lower(): m for m in members}

    def build(email: str) -> EmailMessage:
        return compose_copy(settings, shared, by_email[email], now=now, shared_blobs=False)

    for email in by_email:
        msg = outbox.try_build(build, email)
        if isinstance(msg, outbox.Skipped):
            report.skipped.append(msg)
            continue
        raw = compose.to_bytes(msg)
        (folder / f"{email}.eml").write_bytes(raw)
        report.dry_run.append(
            (by_email[email].email, len(raw), len([f for f in shared.files if not f.link]))
        )
    return report


def send_minutes(
    app: App, meeting_ref: str, minutes_path: Path, attach: Sequence[Path], *,
    dry: bool = False, resend: bool = False, dry_run_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:  # fmt: skip
    """Queue and deliver the minutes to every active member (see the module docstring)."""
    try:
        markdown = minutes_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {minutes_path}: {exc}") from None
    now, settings = app.now(), app.settings
    with app.session() as session:
        meeting = find_meeting(session, meeting_ref)
        shared = gather(session, settings, meeting, markdown, attach, now=now)
        members = list(active_members(session))
        if dry:
            folder = dry_run_dir or settings.data_dir / "dry-run" / meeting.ref
            report = dry_run(settings, shared, members, folder, now=now)
            session.rollback()  # a dry run records nothing
            return report
        mailing = _mailing(session, meeting, shared, resend=resend, now=now)
        if meeting.status != "cancelled":
            meeting.status = "minuted"
        blobs = [
            outbox.store_blob(session, f.path.read_bytes()) for f in shared.files if not f.link
        ]
        session.commit()
        report = Report(recipients=len(members), already_sent=mailing.completed_at is not None)
        by_email = {m.email.lower(): m for m in members}
        copies = Copies(settings, shared, now=now)
        tick = (lambda n: progress("composing", n, len(members))) if progress else None
        report.queued = outbox.fan_out(
            session, mailing, list(by_email),
            lambda e: copies(by_email[e]),
            now=now, progress=tick, blobs=blobs, on_skip=report.skipped.append,
        )  # fmt: skip
        mailing_id = mailing.id
    _deliver(app, report, mailing_id, progress)
    return report


def _deliver(
    app: App, report: Report, mailing_id: int, progress: Callable[[str, int, int], None] | None
) -> None:
    with app.session() as session:
        due = session.query(OutboxMessage).filter(OutboxMessage.status == "queued").count()
        tick = (lambda n: progress("delivering", n, due)) if progress else None
        if tick:
            tick(0)  # delivery starts
        report.delivery = outbox.deliver(session, app.settings, now=app.now(), progress=tick)
        outcomes = session.execute(
            select(OutboxMessage.status, OutboxMessage.recipient, OutboxMessage.last_error)
            .where(OutboxMessage.mailing_id == mailing_id)
            .order_by(OutboxMessage.id)
        )
        for status, recipient, error in outcomes:
            if status == "sent":
                report.sent += 1
            elif status == "queued":
                report.deferred += 1
            else:
                report.failed.append((recipient, error))
