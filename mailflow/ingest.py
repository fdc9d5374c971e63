"""The inbound pipeline: what happens to a stored message after the server said 250.

A pipeline is data: `PIPELINE` is a tuple of small named steps, each taking the
`Context` and either adding to it or raising `Hold` (keep for the coordinator, with a
reason) or `Discard` (automatic mail, kept with the reason, never acted on). Everything
a message records (items, attendance, the acknowledgement in the outbox, its own
status) is committed in one transaction, so reprocessing never doubles anything.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from mailflow import (
    addresses,
    cleaning,
    compose,
    files,
    itip,
    late,
    meetings,
    mime,
    outbox,
    replies,
    rsvp,
    schedule,
    senders,
    sentmail,
)
from mailflow.addresses import Recipient, ReplyToken, classify_recipient
from mailflow.config import Settings
from mailflow.errors import Discard, Hold
from mailflow.members import find_member
from mailflow.models import Attachment, Held, InboundMessage, Item, Meeting, Member

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """A message parsed and its reply read: the slow, pure part of processing."""

    mail: mime.ParsedMail
    reply: replies.ParsedReply
    looked_up: bool = False  # read after looking up the mail of ours it answers, found or not


def read(raw: bytes, mail_from: str, original: bytes | None = None) -> Reading:
    """Parse a stored message and read its reply (no database: safe outside a lock);
    `original` is the mail of ours it answers, as the outbox holds it, if known
    (`sentmail.original_mail`): its text is parsed here too, in the reader."""
    mail = defuse(mime.parse_mail(raw, envelope_from=mail_from.strip("<>")))
    text = None if original is None else mime.parse_mail(original).text
    return Reading(mail, replies.read_reply(mail, text), original is not None)


def defuse(mail: mime.ParsedMail) -> mime.ParsedMail:
    """The parsed message made safe to store: NUL characters dropped from the text
    (PostgreSQL text cannot hold them). What we echo into headers is made safe where
    headers are built (`compose.one_line`, `compose.plain_msg_id`).
    """
    calendars = tuple(c.replace("\x00", "") for c in mail.calendars)
    return dataclasses.replace(mail, text=mail.text.replace("\x00", ""), calendars=calendars)


@dataclass
class Context:
    """Everything the steps learn about one message."""

    session: Session
    settings: Settings
    row: InboundMessage
    now: datetime
    trusted: bool = False  # released by the coordinator: skip the identity checks
    reading: Reading | None = None  # parsed beforehand (outside the write lock) or by `parse`
    recipient: Recipient | None = None
    member: Member | None = None
    meeting: Meeting | None = None
    done: bool = False
    answered: bool = False  # a step queued its own answer: no acknowledgement as well
    rsvp: bool = False  # a calendar answer: recorded (see the outcome), never acknowledged
    # the stored message's subject and flood budget: written on it with its outcome, so
    # that each message is written once
    subject: str = ""
    budget: str | None = None
    recorded: list[Item] = field(default_factory=list)
    withdrawn: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def parsed(self) -> mime.ParsedMail:
        """The parsed message (read by the first step)."""
        assert self.reading is not None
        return self.reading.mail

    @property
    def reply(self) -> replies.ParsedReply:
        """The reply read from it: the same reading as `mailflow inbox parse`."""
        assert self.reading is not None
        return self.reading.reply

    @property
    def token(self) -> ReplyToken | None:
        """The verified reply token the message was sent to, if any."""
        return self.recipient.token if self.recipient else None


def parse(ctx: Context) -> None:
    """Parse the raw bytes (unless done beforehand, after looking up the mail of ours it
    answers); never fails, whatever the MIME."""
    reading = ctx.reading
    if reading is None or not reading.looked_up:
        original = sentmail.original_mail(ctx.session, ctx.settings, ctx.row.rcpt.split("\n"))
        if reading is None or original is not None:
            ctx.reading = read(ctx.row.raw, ctx.row.mail_from, original)
    ctx.subject = ctx.parsed.subject[:500]


def ignore_automatic(ctx: Context) -> None:
    """Auto-replies and bounces are never items; bounces count against the member."""
    reason = ctx.parsed.automatic
    if reason is None:
        return
    if reason.startswith("bounce"):
        _record_bounce(ctx)
    raise Discard(reason)


def _record_bounce(ctx: Context) -> None:
    text = ctx.row.raw.decode("latin-1")
    found = re.finditer(r"(?im)^(?:final|original)-recipient:\s*rfc822;\s*<?([^>\s]+)", text)
    for match in itertools.islice(found, 20):  # a real DSN names a few; a forged one, any
        member = find_member(ctx.session, match.group(1))
        if member is not None:
            member.bounces += 1
            member.last_bounce_at = ctx.now
            return


def identify(ctx: Context) -> None:
    """Work out who sent the message and to which of our addresses; hold strangers.

    On a member's signed address the token names the member and the From must be
    theirs; on the bare group address the From names the member and the message must
    be authentic for their address (the policy is written down in `senders`).
    """
    ctx.recipient = our_recipient(ctx.settings, ctx.row.rcpt)
    sender = ctx.parsed.from_address
    if ctx.token is not None:
        ctx.member = ctx.session.get(Member, ctx.token.member_id)
        ctx.meeting = _token_meeting(ctx)
    elif sender:
        ctx.member = find_member(ctx.session, sender)
    if ctx.trusted or _from_group_coordinator(ctx):
        return
    if ctx.recipient is None:
        raise Hold("not addressed to the group or a valid reply address")
    if ctx.member is None:
        raise Hold(f"{sender or 'unknown sender'} is not a member")
    if not ctx.member.active:
        raise Hold(f"reply address of {ctx.member.email}, who is no longer a member")
    if sender.lower() != ctx.member.email.lower():
        raise Hold(f"reply address issued to {ctx.member.email} but the mail is from {sender}")
    if ctx.recipient.bare:
        _check_sender(ctx, ctx.member.email)


def our_recipient(settings: Settings, rcpt: str) -> Recipient | None:
    """Which of our addresses a stored message's recipients (one a line) name: a signed
    reply address first, else the bare group address; None for neither."""
    mail = settings.mail
    found = [classify_recipient(r, mail.address, mail.secret) for r in rcpt.split("\n") if r]
    known = [r for r in found if r is not None]
    return next((r for r in known if not r.bare), known[0] if known else None)


def _from_group_coordinator(ctx: Context) -> bool:
    """Mail to a coordinator address issued to ``[group] coordinator`` (member 0) from it:
    that address need not be a member; `coordinator.verify` checks the rest (that the
    commands are authentic for that address, as for every coordinator)."""
    token, address = ctx.token, ctx.settings.group.coordinator.strip().lower()
    return (token is not None and token.purpose == "k" and token.member_id == 0
            and bool(address) and ctx.parsed.from_address.lower() == address)  # fmt: skip


MEETING_PURPOSES = ("c", "a", "i", "m", "k")  # the reply tokens whose target is a meeting


def _token_meeting(ctx: Context) -> Meeting | None:
    token = ctx.token
    if token is None or token.purpose not in MEETING_PURPOSES:
        return None
    return ctx.session.get(Meeting, token.target_id)


def _check_sender(ctx: Context, address: str, *, what: str = "") -> None:
    """Hold the message unless it is authentic for `address` (see `senders`)."""
    why = senders.doubt(ctx.row.raw, envelope=ctx.row.mail_from, address=address,
                        authserv_id=ctx.settings.inbound.trusted_authserv_id)  # fmt: skip
    if why is not None:
        raise Hold(f"{what}{why}")


def rate_limit(ctx: Context) -> None:
    """Hold a member's mail beyond ``[inbound] rate_limit_per_minute`` in a minute.

    A message counts against whom `identify` took it to be from, and only once acted on
    (processed): mail on signed addresses against their member, mail on the bare group
    address against its envelope sender (there the member's own address, see
    `senders`). Mail that merely claims to be a member's (forged From or envelope) is
    held by `identify` before this step and counts against no one, so it can never
    hold the member's real mail; nor can a flood on the bare address under their
    envelope hold what they send to their signed addresses.

    The message's budget is written on it (with its outcome), so the count is one
    indexed range (`flood_count`), however much mail is stored.
    """
    ctx.budget = budget_of(ctx.settings, ctx.row.mail_from, ctx.row.rcpt)
    limit = ctx.settings.inbound.rate_limit_per_minute
    if ctx.trusted or limit <= 0:
        return
    since = ctx.row.received_at - timedelta(minutes=1)
    values = {"budget": ctx.budget, "since": since, "before_id": ctx.row.id}
    recent = ctx.session.scalar(FLOOD_COUNT, values) or 0
    if recent >= limit:
        sender = ctx.member.email if ctx.member else ctx.parsed.from_address
        raise Hold(f"more than {limit} messages in a minute from {sender}")


def budget_of(settings: Settings, mail_from: str, rcpt: str) -> str:
    """Whose flood budget an accepted message uses: ``member:<id>`` for the member of its
    signed reply address, else ``envelope:<envelope sender, normalised>``."""
    recipient = our_recipient(settings, rcpt)
    if recipient is not None and recipient.token is not None:
        return f"member:{recipient.token.member_id}"
    return f"envelope:{senders.envelope_address(mail_from)}"


INBOUND = cast(Table, InboundMessage.__table__)
# `flood_count`'s statement, built once and run with each message's values (the session
# writes what it holds first, as for any statement)
FLOOD_COUNT: Select[int] = select(func.count()).where(
    INBOUND.c.budget == bindparam("budget"),
    INBOUND.c.received_at >= bindparam("since"),
    INBOUND.c.status == "processed",
    INBOUND.c.id < bindparam("before_id"),
)


def flood_count(budget: str, *, since: datetime, before_id: int) -> Select[int]:
    """How many processed messages used `budget` since `since`, before message
    `before_id`: a range of the index ``ix_inbound_budget`` (budget, status, received_at)."""
    return FLOOD_COUNT.params(budget=budget, since=since, before_id=before_id)


def calendar_reply(ctx: Context) -> None:
    """An iTIP REPLY or COUNTER updates the member's attendance; it is not an item.

    It is taken only for the attendee it names, and only when it came on that
    attendee's own signed address or is authentic for their address (`senders`): the
    event's UID is in every member's invitation, so it proves nothing. On the bare group
    address (clients that drop the ``+token``) the event's UID finds the meeting and
    `identify` has already found the member by the sender and checked the message is
    theirs. An answer about one occurrence of a series is kept for that date only
    (`rsvp.occurrence_answer`). The calendar shows the member their answer, so none is
    mailed back (`acknowledge`); the message's outcome says what was recorded.
    """
    if not ctx.parsed.calendars:
        return
    try:
        reply = itip.parse_calendar_reply(ctx.parsed.calendars[0])
    except ValueError as exc:
        raise Hold(f"calendar part we cannot read: {exc}") from None
    meeting = ctx.session.scalar(select(Meeting).where(Meeting.uid == reply.uid))
    if meeting is None:
        raise Hold(f"calendar reply for an unknown event {reply.uid}")
    member = ctx.member
    if member is None or reply.attendee.lower() != member.email.lower():
        raise Hold(f"calendar reply from {reply.attendee}, who is not the invited member")
    if ctx.token is None and not ctx.trusted:
        _check_sender(ctx, reply.attendee, what=f"calendar reply for {reply.attendee}: ")
    ctx.done = ctx.rsvp = True
    if reply.sequence < meeting.sequence:
        ctx.notes.append(f"outdated reply (sequence {reply.sequence} < {meeting.sequence})")
        return
    ctx.meeting = meeting
    words = rsvp.member_words(reply, cleaning.member_text(ctx.parsed.text),
                              titles=(meeting.title, meeting.heading))  # fmt: skip
    if reply.recurrence_id is not None and meeting.rrule:
        ctx.notes += rsvp.occurrence_answer(ctx.session, ctx.settings, meeting, member, reply,
                                            words, now=ctx.now)  # fmt: skip
        return
    status = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}.get(
        reply.partstat, "needs-action"
    )
    row = meetings.set_attendance(ctx.session, meeting, member, status, now=ctx.now,
                                  sequence=reply.sequence)  # fmt: skip
    ctx.notes.append(f"attendance {status} for {meeting.ref}")
    ctx.notes += rsvp.after_reply(ctx.session, ctx.settings, row, reply, words, now=ctx.now)


def rejoin_by_reply(ctx: Context) -> None:
    """A reply to the confirmation that a member left brings them back (before
    `identify`, which holds mail from members who have left)."""
    from mailflow import routing  # routing's modules build on this one

    routing.rejoin(ctx)


def route_replies(ctx: Context) -> None:
    """Leaving, votes, answers, poll votes, news replies, corrections, coordinator commands."""
    from mailflow import routing  # routing's modules build on this one

    routing.route(ctx)


def record_items(ctx: Context) -> None:
    """Turn the reply text and attachments into items (and apologies, withdrawals)."""
    if ctx.done:
        return
    mail = ctx.parsed
    resources = [a for a in mail.attachments if not a.inline]
    limit = ctx.settings.storage.max_attachments_per_message
    if len(resources) > limit:
        raise Hold(f"{len(resources)} attachments (the limit is {limit})")
    too_big = [a for a in resources if a.size > ctx.settings.storage.max_attachment_bytes]
    if too_big:
        raise Hold(f"attachment {too_big[0].filename} is over the size limit")
    if ctx.meeting is None:
        ctx.meeting = next_meeting(ctx.session, ctx.now)
    parsed = ctx.reply
    found = list(parsed.items)
    if ctx.recipient is not None and ctx.recipient.bare:
        found = [_as_news(ctx, parsed)]
    for p in found:
        ctx.recorded.append(_add_item(ctx, p))
    if parsed.apologies and ctx.meeting is not None and ctx.member is not None:
        meetings.set_attendance(ctx.session, ctx.meeting, ctx.member, "apologies", now=ctx.now)
    if resources:
        _store_attachments(ctx, resources)
    _withdraw(ctx, parsed.withdraw)
    if not ctx.recorded and not ctx.withdrawn:
        raise Hold("nothing to record in this message")


def _as_news(ctx: Context, parsed: replies.ParsedReply) -> replies.ParsedItem:
    title = ctx.parsed.subject or (parsed.items[0].title if parsed.items else "News")
    return replies.ParsedItem(kind="resource", title=title, body=parsed.body, minutes=None)


def _add_item(ctx: Context, p: replies.ParsedItem) -> Item:
    """Store one item on the meeting it belongs to now (see `late`: late items go forward)."""
    meeting = late.destination(ctx.session, ctx.meeting, p.kind, ctx.now)
    item = Item(
        meeting_id=meeting.id if meeting else None,
        member_id=ctx.member.id if ctx.member else None,
        message_id=ctx.row.id, kind=p.kind, title=p.title[:1000], body=p.body,
        status="proposed", minutes=p.minutes, created_at=ctx.now,
        author=ctx.parsed.from_address, attachments=[],  # none yet: the ack need not load them
    )  # fmt: skip
    ctx.session.add(item)
    ctx.session.flush()
    if ctx.meeting is not None and meeting is not ctx.meeting:
        ctx.notes.append(late.forward_note(ctx.settings, item, ctx.meeting, ctx.now))
    return item


def _store_attachments(ctx: Context, files: list[mime.Attachment]) -> None:
    holder = next((i for i in ctx.recorded if i.kind == "resource"), None)
    if holder is None:
        names = ", ".join(a.filename for a in files)
        holder = _add_item(ctx, replies.ParsedItem("resource", names, "", None))
        ctx.recorded.append(holder)
    for att in files:
        store_blob(ctx.settings.data_dir, att.data, att.sha256)
        holder.attachments.append(
            Attachment(filename=att.filename, content_type=att.content_type, size=att.size,
                       sha256=att.sha256)
        )  # fmt: skip


def store_blob(data_dir: Path, data: bytes, sha256: str) -> Path:
    """Write `data` under data_dir/attachments/<sha256>, once, owner-only; returns the path."""
    path = blob_path(data_dir, sha256)
    if not path.exists():
        files.private_dir(path.parent)
        partial = path.with_suffix(".partial")
        files.write_private(partial, data)
        partial.replace(path)
    return path


def blob_path(data_dir: Path, sha256: str) -> Path:
    """Where the attachment with this hash is kept."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a sha256 hex digest")
    return data_dir / "attachments" / sha256[:2] / sha256


def _withdraw(ctx: Context, numbers: tuple[int, ...]) -> None:
    for number in numbers:
        item = ctx.session.get(Item, number)
        if item is None or ctx.member is None or item.member_id != ctx.member.id:
            ctx.notes.append(f"item {number} is not one of yours; nothing withdrawn")
            continue
        item.status = "withdrawn"
        ctx.withdrawn.append(item)


def next_meeting(session: Session, now: datetime) -> Meeting | None:
    """The next planned meeting that has not started yet."""
    return session.scalar(
        select(Meeting)
        .where(Meeting.start >= now, Meeting.status != "cancelled")
        .order_by(Meeting.start)
        .limit(1)
    )


def acknowledge(ctx: Context) -> None:
    """Queue exactly one acknowledgement listing what was recorded.

    None for a calendar answer (its calendar already shows the member what they said)
    or when another step answered the message itself.
    """
    if ctx.answered or ctx.rsvp or (ctx.member is None and not ctx.parsed.from_address):
        return
    if not ctx.recorded and not ctx.withdrawn and not ctx.notes:
        return
    to = ctx.member.email if ctx.member else ctx.parsed.from_address
    settings = ctx.settings
    name = settings.group.greet(ctx.member.name) if ctx.member else ""
    meeting = _acknowledged_meeting(ctx)
    token = ReplyToken("a", meeting.id if meeting else 0, ctx.member.id if ctx.member else 0)
    meeting_text = (
        f"{meeting.title}, {schedule.human_local(meeting.start, settings.group.tz)}"
        if meeting
        else ""
    )
    context = {
        "name": name,
        "items": ctx.recorded,
        "withdrawn": ctx.withdrawn,
        "notes": ctx.notes,
        "meeting": meeting_text,
        "group": settings.group.name,
    }
    text, html = compose.render("member/ack", context)
    msg = compose.build_wire(
        settings, to=to,
        subject=compose.reply_subject(ctx.parsed.subject) if ctx.parsed.subject else "Received",
        text=text, html=html, now=ctx.now, auto_submitted="auto-replied",
        reply_to=addresses.reply_address(settings.mail.address, settings.mail.secret, token),
        in_reply_to=ctx.parsed.message_id or None,
        member_id=ctx.member.id if ctx.member else None,  # the reply address's member
    )  # fmt: skip
    outbox.enqueue(ctx.session, msg, now=ctx.now)


def _acknowledged_meeting(ctx: Context) -> Meeting | None:
    """The meeting the acknowledgement names: where the recorded items went, when that is
    one meeting (late items go forward, see `late`), else the one the reply was for."""
    places = {i.meeting_id for i in ctx.recorded}
    if len(places) == 1 and ctx.meeting is not None and places != {ctx.meeting.id}:
        return ctx.session.get(Meeting, places.pop()) if None not in places else None
    return ctx.meeting


Step = Callable[[Context], None]
PIPELINE: tuple[tuple[str, Step], ...] = (
    ("parse", parse),
    ("ignore automatic mail", ignore_automatic),
    ("rejoin by reply", rejoin_by_reply),
    ("identify the sender", identify),
    ("rate limit", rate_limit),
    ("calendar reply", calendar_reply),
    ("replies to our other mail", route_replies),
    ("record items", record_items),
    ("acknowledge", acknowledge),
)


@dataclass(frozen=True)
class Arrival:
    """A message as it came over SMTP: envelope sender, recipients, bytes."""

    mail_from: str
    rcpt_tos: Sequence[str]
    raw: bytes


def store(
    session: Session, *, mail_from: str, rcpt_tos: list[str], raw: bytes, now: datetime
) -> int:
    """Commit a received message as it came, before the server answers 250."""
    return store_many(session, [Arrival(mail_from, rcpt_tos, raw)], now=now)[0]


def store_many(session: Session, arrivals: Sequence[Arrival], *, now: datetime) -> list[int]:
    """Commit messages that arrived together, as they came, in one transaction (before
    the server answers 250 to any of them); their ids, in order."""
    rows = [
        {"received_at": now, "mail_from": a.mail_from, "rcpt": "\n".join(a.rcpt_tos),
         "raw": a.raw, "status": "new", "subject": "", "outcome": "", "error": "",
         "start_attempts": 0}
        for a in arrivals
    ]  # fmt: skip
    ids = list(session.connection().execute(STORE, rows).scalars())
    session.commit()
    return ids


# `store_many`'s statement: one INSERT on the table (no ORM unit of work), built once,
# giving each row's id in the order of the rows
STORE = insert(INBOUND).returning(INBOUND.c.id, sort_by_parameter_order=True)


def unprocessed(session: Session) -> list[int]:
    """Ids of stored messages that were never processed (e.g. after a crash), oldest
    first."""
    query = select(InboundMessage.id).where(InboundMessage.status == "new")
    return list(session.scalars(query.order_by(InboundMessage.id)))


def take_up_leftovers(
    session: Session, *, max_attempts: int, now: datetime
) -> tuple[list[int], list[int]]:
    """At a server's start: the messages never processed, to process now, and those set
    aside because they were already taken up at `max_attempts` starts without being
    processed (a message that keeps stopping the server, like Mailman's shunt queue).

    Each leftover's `start_attempts` is counted up; the caller commits.
    """
    ids = unprocessed(session)
    if not ids:
        return [], []
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(ids))
        .values(start_attempts=InboundMessage.start_attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = session.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids))
                           .execution_options(populate_existing=True))  # fmt: skip
    again, aside = [], []
    for row in rows:
        if row.start_attempts > max_attempts:
            set_aside(row, f"still unprocessed after {max_attempts} start(s) of the server; "
                      "`mailflow inbox reprocess` tries again", now)  # fmt: skip
            aside.append(row.id)
        else:
            again.append(row.id)
    return sorted(again), sorted(aside)


def set_aside(row: InboundMessage, reason: str, now: datetime) -> None:
    """Mark a message failed with `reason`, for `mailflow inbox reprocess` (uncommitted)."""
    _finish(row, "failed", "", now)
    row.error = reason[:2000]


def describe(ctx: Context) -> str:
    """A one-line summary of what processing recorded."""
    parts = [f"{i.kind} #{i.id}" for i in ctx.recorded]
    parts += [f"withdrew #{i.id}" for i in ctx.withdrawn]
    parts += ctx.notes
    return "; ".join(parts) or "nothing recorded"


def claim_new(session: Session, inbound_id: int) -> bool:
    """Start a transaction that owns the stored message if it is still new.

    The conditional UPDATE takes the row's write lock (PostgreSQL) or the database's
    (SQLite) until the caller commits, so of two processors that reach the same message
    one waits and then finds it processed: it is never processed twice.
    """
    result = session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == inbound_id, InboundMessage.status == "new")
        .values(status="new")
        .execution_options(synchronize_session=False)  # nothing changes: nothing to sync
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_all_new(session: Session, ids: Sequence[int]) -> dict[int, InboundMessage]:
    """`claim_new` for several messages in one statement: those of `ids` still new,
    owned by this transaction until it commits, loaded by id."""
    claimed = list(session.scalars(
        update(InboundMessage)
        .where(InboundMessage.id.in_(ids), InboundMessage.status == "new")
        .values(status="new")
        .returning(InboundMessage.id)
        .execution_options(synchronize_session=False)
    ))  # fmt: skip
    if not claimed:
        return {}
    query = select(InboundMessage).where(InboundMessage.id.in_(claimed))
    rows = session.scalars(query.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


def process(
    session: Session, settings: Settings, inbound_id: int, *, now: datetime,
    trusted: bool = False, reading: Reading | None = None, only_new: bool = False,
) -> str:  # fmt: skip
    """Run the pipeline over one stored message and commit its outcome.

    `reading` is the message already parsed (see `read`), if the caller did that first.
    With `only_new`, a message another processor has dealt with meanwhile is left alone
    (see `claim_new`). Returns the message's status: processed, held, ignored or failed.

    Everything is one transaction, so when a concurrent processor (another server on
    the same PostgreSQL database) inserts the same unique row first (a member's
    attendance, a vote), the whole run is rolled back and made again on the new state.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return _process(session, settings, inbound_id, now=now, trusted=trusted,
                            reading=reading, only_new=only_new,
                            last=attempt == CONFLICT_ATTEMPTS)  # fmt: skip
        except IntegrityError:  # another processor wrote the same row first: run again
            session.rollback()
            log.info("inbound message %s met a concurrent write; processing it again", inbound_id)
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt never raises


CONFLICT_ATTEMPTS = 3
# Failures of the moment, not of the message (a database locked or gone, a full disk, no
# file handles left): the message stays 'new' and is tried again, never marked failed.
TRANSIENT = (OperationalError, OSError)


def _process(
    session: Session, settings: Settings, inbound_id: int, *, now: datetime, trusted: bool,
    reading: Reading | None, only_new: bool, last: bool,
) -> str:  # fmt: skip
    """One run of the pipeline; a unique-key conflict is raised unless this is the `last`."""
    if only_new and not claim_new(session, inbound_id):
        return _left_alone(session, inbound_id)
    row = _stored(session, inbound_id)
    try:
        _run_pipeline(session, settings, row, now=now, trusted=trusted, reading=reading)
    except TRANSIENT:  # left 'new': the server's sweep tries again later
        session.rollback()
        raise
    except Exception as exc:  # ours, not the sender's: keep it for `inbox reprocess`
        if isinstance(exc, IntegrityError) and not last:
            raise
        session.rollback()
        log.exception("processing inbound message %s failed", inbound_id)
        if only_new and not claim_new(session, inbound_id):
            return _left_alone(session, inbound_id)
        set_aside(session.get(InboundMessage, inbound_id) or row,
                  f"{type(exc).__name__}: {exc}", now)  # fmt: skip
    session.commit()
    return row.status


def _stored(session: Session, inbound_id: int) -> InboundMessage:
    row = session.get(InboundMessage, inbound_id)
    if row is None:
        raise ValueError(f"no inbound message {inbound_id}")
    return row


def _run_pipeline(
    session: Session, settings: Settings, row: InboundMessage, *, now: datetime, trusted: bool,
    reading: Reading | None,
) -> Context:  # fmt: skip
    """Run the steps over `row` and record its outcome (processed, held or ignored) in
    the session, uncommitted; an exception of ours is raised."""
    ctx = Context(session=session, settings=settings, row=row, now=now, trusted=trusted,
                  reading=reading)  # fmt: skip
    try:
        for _name, step in PIPELINE:
            step(ctx)
        status, outcome = "processed", describe(ctx)
    except Hold as hold:
        status, outcome = "held", hold.reason
        held = session.scalar(select(Held).where(Held.inbound_id == row.id))
        if held is None:
            session.add(Held(inbound_id=row.id, reason=hold.reason, created_at=now))
        else:
            held.reason, held.status = hold.reason, "held"
    except Discard as discard:
        status, outcome = "ignored", discard.reason
    row.subject = ctx.subject
    if ctx.budget is not None:
        row.budget = ctx.budget
    _finish(row, status, outcome, now)
    return ctx


def process_batch(
    session: Session, settings: Settings, batch: Sequence[tuple[int, Reading | None]], *,
    now: datetime,
) -> None:  # fmt: skip
    """Process several new stored messages, each with its reading (see `read`), in one
    transaction: one commit instead of one each, and the members and meetings they share
    are loaded once. Messages another processor has dealt with are left alone.

    If any message raises (a fault of ours, or a concurrent processor's write), the whole
    batch is rolled back and each message is processed on its own with `process`, so the
    failing one ends up `failed` with its error and the others are recorded as usual.
    """
    # The session holds what it loaded only while something refers to it: keeping the
    # members and meetings loaded, and each message's context, keeps them at hand.
    done: list[Context] = []
    jobs = sorted(batch, key=lambda job: job[0])
    try:
        claimed = claim_all_new(session, [inbound_id for inbound_id, _ in jobs])
        _named = load_named(session, settings, claimed.values())  # kept till the commit
        for inbound_id, reading in jobs:
            if inbound_id in claimed:
                done.append(_run_pipeline(session, settings, claimed[inbound_id], now=now,
                                          trusted=False, reading=reading))  # fmt: skip
        session.commit()
        return
    except Exception:
        session.rollback()
        log.info("a batch of %d inbound messages met an error; one at a time", len(jobs))
    for inbound_id, reading in jobs:
        try:
            process(session, settings, inbound_id, now=now, reading=reading, only_new=True)
        except Exception:  # the message stays 'new' and is retried at the next start
            session.rollback()
            log.exception("could not process inbound message %s", inbound_id)


def load_named(
    session: Session, settings: Settings, rows: Iterable[InboundMessage]
) -> list[Member | Meeting]:  # fmt: skip
    """The members and meetings the signed reply addresses of `rows` name, loaded in one
    query each: while the caller keeps them, `identify` finds them without a query."""
    tokens = [r.token for row in rows if (r := our_recipient(settings, row.rcpt)) and r.token]
    member_ids = {t.member_id for t in tokens}
    meeting_ids = {t.target_id for t in tokens if t.purpose in MEETING_PURPOSES}
    named: list[Member | Meeting] = []
    if member_ids:
        named += session.scalars(select(Member).where(Member.id.in_(member_ids)))
    if meeting_ids:
        named += session.scalars(select(Meeting).where(Meeting.id.in_(meeting_ids)))
    return named


def _left_alone(session: Session, inbound_id: int) -> str:
    """The status of a message another processor has dealt with (or that is gone)."""
    session.rollback()
    return _stored(session, inbound_id).status


def _finish(row: InboundMessage, status: str, outcome: str, now: datetime) -> None:
    row.status, row.outcome, row.error, row.processed_at = status, outcome, "", now
