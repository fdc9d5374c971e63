"""Members' data rights: export one member's data, erase it, and keep mail only so long.

**Export** (`export_member`) gathers everything held about one person: their member
record; the items they sent (with their attachments' details and files); the written
answers they gave; their priority votes and poll votes; their attendance (RSVPs,
apologies, their comments and proposed times); their replies to news posts; the raw
messages they sent (envelope sender or ``From:`` theirs, or read into their items and
replies); and the mail sent to them, from the outbox.

**Erase** (`erase_member`) removes, for good:

* every raw message they sent, and every other raw message that names their address or
  full name or carries one of their attachments (bounces, forwards), with its place in
  the moderation queue;
* the files they attached, from the data folder and from the shared parts of sent mail,
  unless another member's item holds the same file;
* the mail sent to them (outbox rows and their delivery records); other members' mail
  that names them: a delivered one keeps its row (who got what) without its body, and
  one still waiting is withdrawn (status ``withdrawn``, never sent);
* files under the data folder (minutes previews) and the maildir folder that name them.
  Files other members shared are not searched.

and keeps, for the group's records, under an anonymous name (``Former member 12``,
address ``erased-12@erased.invalid``, no organisation, inactive, so no fan-out reaches
it): their votes, poll votes and attendance (the counts in past minutes stay right),
and their items, replies and written answers with their name and address replaced
wherever they appear in any item, answer or reply. With ``[retention] erase_items =
"delete"`` their items (with the votes and replies on them), their replies and their
written answers are deleted instead. Their own comments on attendance are cleared, and
unanswered questions assigned to them are unassigned.

On SQLite, erasing turns on ``secure_delete`` (freed space is overwritten with zeros)
and `compact` then rewrites the file (``VACUUM``) and empties the write-ahead log, so
the old bytes are gone from disk, not merely unlinked. On PostgreSQL old row versions
stay in the table files until the server's (auto)vacuum reuses the space.

**Retention** (`apply_retention`, run by `mailflow tick`): ``[retention]``
``inbound_days`` empties the raw bytes of received mail that has been dealt with
(processed, ignored or discarded; the inbox row with its sender and subject stays);
``sent_days`` empties delivered mail's bodies (the row saying who got what stays) and
drops their copies in the maildir folder and shared parts no longer used;
``held_days`` discards mail held for moderation that long and empties its bytes.
Messages not yet processed or set aside after a failure are never touched.
"""

from __future__ import annotations

import base64
import email
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from mailflow import items, outbox
from mailflow.config import ERASE_ITEMS, Settings
from mailflow.errors import UserError
from mailflow.ingest import blob_path
from mailflow.members import find_member, member_json, normalise_email
from mailflow.models import (
    Action,
    Attachment,
    Attendance,
    Base,
    Blob,
    Comment,
    Held,
    InboundMessage,
    Item,
    MailingRecipient,
    Member,
    OutboxMessage,
    Poll,
    PollVote,
    Vote,
)

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never receive mail
ADDRESS_REMOVED = "[address removed]"
DONE_STATUSES = ("processed", "ignored", "discarded")  # inbound mail nothing waits on
BATCH = 200


# -- export ----------------------------------------------------------------------------


@dataclass
class MemberExport:
    """One member's data: JSON-ready records, and the files they refer to by path."""

    records: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The records with every file's bytes inside, base64-encoded."""
        encoded = {
            path: base64.b64encode(data).decode("ascii") for path, data in self.files.items()
        }
        return self.records | {"files": encoded}


def _find(session: Session, address: str) -> Member:
    member = find_member(session, normalise_email(address))
    if member is None:
        raise UserError(f"{address.strip()} is not a member (see `mailflow members list`)")
    return member


def _own_items(session: Session, member: Member) -> list[Item]:
    """Items the member sent: recorded as theirs, or sent from their address."""
    return list(
        session.scalars(
            select(Item)
            .where(
                or_(Item.member_id == member.id, func.lower(Item.author) == member.email.lower())
            )
            .order_by(Item.id)
        )
    )


def _own_messages(session: Session, member: Member, items: Sequence[Item]) -> list[int]:
    """Ids of the raw messages the member sent."""
    linked = {i.message_id for i in items if i.message_id is not None}
    linked |= {
        c
        for c in session.scalars(select(Comment.inbound_id).where(Comment.member_id == member.id))
        if c is not None
    }
    by_sender = session.scalars(
        select(InboundMessage.id).where(
            func.lower(InboundMessage.mail_from) == member.email.lower()
        )
    )
    return sorted(linked | set(by_sender))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _item_json(item: Item, files: dict[str, bytes], settings: Settings) -> dict[str, Any]:
    """The item as `items list --json` shows it, with when it came and its files."""
    data = items.item_json(item) | {"author": item.author, "created_at": _when(item.created_at)}
    for a, entry in zip(item.attachments, data["attachments"], strict=True):
        path = f"attachments/{item.id}-{a.sha256[:8]}-{Path(a.filename).name or 'file'}"
        stored = blob_path(settings.data_dir, a.sha256)
        if stored.exists():
            files[path] = stored.read_bytes()
        entry["file"] = path if path in files else None
    return data


def _activity(session: Session, member: Member) -> dict[str, Any]:
    """Answers, votes, poll votes, attendance and replies to news posts."""
    answered = session.scalars(select(Item).where(Item.assignee_id == member.id).order_by(Item.id))
    votes = session.scalars(select(Vote).where(Vote.member_id == member.id).order_by(Vote.id))
    polls = session.execute(
        select(PollVote, Poll)
        .join(Poll, PollVote.poll_id == Poll.id)
        .where(PollVote.member_id == member.id)
        .order_by(PollVote.id)
    )
    attendance = session.scalars(
        select(Attendance).where(Attendance.member_id == member.id).order_by(Attendance.id)
    )
    comments = session.scalars(
        select(Comment).where(Comment.member_id == member.id).order_by(Comment.id)
    )
    return {
        "answers": [
            {
                "item": i.id,
                "question": i.title,
                "answer": i.answer,
                "answered_at": _when(i.answered_at),
            }
            for i in answered
        ],
        "votes": [
            {"item": v.item_id, "value": v.value, "updated_at": _when(v.updated_at)} for v in votes
        ],
        "poll_votes": [
            {
                "poll": p.id,
                "question": p.question,
                "option": v.option,
                "choice": p.options[v.option - 1] if 0 < v.option <= len(p.options) else None,
                "updated_at": _when(v.updated_at),
            }
            for v, p in polls
        ],
        "attendance": [
            {
                "meeting": a.meeting.ref,
                "title": a.meeting.title,
                "start": _when(a.meeting.start),
                "status": a.status,
                "comment": a.comment,
                "proposed_start": _when(a.proposed_start),
                "updated_at": _when(a.updated_at),
            }
            for a in attendance
        ],
        "comments": [
            {"item": c.item_id, "body": c.body, "created_at": _when(c.created_at)} for c in comments
        ],
    }


def _received(
    session: Session, ids: Sequence[int], files: dict[str, bytes]
) -> list[dict[str, Any]]:
    found = []
    for row in session.scalars(
        select(InboundMessage).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)
    ):
        path = f"received/{row.id:06d}.eml"
        if row.raw:
            files[path] = row.raw
        found.append(
            {
                "id": row.id,
                "received_at": _when(row.received_at),
                "mail_from": row.mail_from,
                "rcpt": row.rcpt.split("\n"),
                "subject": row.subject,
                "status": row.status,
                "outcome": row.outcome,
                "file": path if row.raw else None,
            }
        )
    return found


def _sent(session: Session, member: Member, files: dict[str, bytes]) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(OutboxMessage)
        .where(func.lower(OutboxMessage.recipient) == member.email.lower())
        .order_by(OutboxMessage.id)
    ).all()
    shas = {s for r in rows for s in r.blobs.split(",") if s}
    shared = {
        b.sha256: b.encoded for b in session.scalars(select(Blob).where(Blob.sha256.in_(shas)))
    }
    found = []
    for row in rows:
        path = f"sent/{row.id:06d}.eml"
        if row.raw:  # as delivered: with the shared attachments in place
            parts = {s: shared[s] for s in row.blobs.split(",") if s in shared}
            files[path] = outbox.Delivery(row.id, row.recipient, row.raw, parts).message()
        found.append(
            {
                "id": row.id,
                "subject": row.subject,
                "status": row.status,
                "created_at": _when(row.created_at),
                "sent_at": _when(row.sent_at),
                "file": path if row.raw else None,
            }
        )
    return found


def export_member(session: Session, settings: Settings, address: str) -> MemberExport:
    """Everything held about the member with this address (`UserError` if none)."""
    member = _find(session, address)
    files: dict[str, bytes] = {}
    items = _own_items(session, member)
    records: dict[str, Any] = {
        "member": member_json(member)
        | {"created_at": _when(member.created_at), "last_bounce_at": _when(member.last_bounce_at)},
        "items": [_item_json(i, files, settings) for i in items],
    }
    records |= _activity(session, member)
    records["received"] = _received(session, _own_messages(session, member, items), files)
    records["sent"] = _sent(session, member, files)
    return MemberExport(records, files)


# -- erase -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Needles:
    """What marks data as the member's: their address and full name, their files."""

    texts: tuple[bytes, ...]
    shas: frozenset[str]

    def found_in(self, data: bytes) -> bool:
        """Whether a message (or any file) names them or carries one of their files,
        looking inside encoded headers and parts too."""
        if not data:
            return False
        if any(t in data.lower() for t in self.texts):
            return True
        try:
            msg = email.message_from_bytes(data, policy=policy.compat32)
            return any(self._in_part(part) for part in msg.walk())
        except (MessageError, ValueError, LookupError):  # not mail, or broken beyond reading
            return False

    def _in_part(self, part: email.message.Message) -> bool:
        headers = " ".join(_header_text(str(v)) for v in part.values())
        if any(t in headers.encode("utf-8", "replace").lower() for t in self.texts):
            return True
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return False
        return hashlib.sha256(payload).hexdigest() in self.shas or any(
            t in payload.lower() for t in self.texts
        )


def _header_text(value: str) -> str:
    """A header with its encoded words decoded (as it is, if they cannot be)."""
    try:
        return str(make_header(decode_header(value)))
    except (MessageError, ValueError, LookupError):
        return value


def _needles(member: Member, shas: Iterable[str]) -> Needles:
    texts = [member.email.lower().encode("utf-8")]
    # a one-word name ("Ruth") would match unrelated words ("truth"): only full names
    if len(member.name.split()) > 1:
        texts.append(member.name.lower().encode("utf-8"))
    return Needles(tuple(texts), frozenset(shas))


@dataclass
class ErasureReport:
    """What `erase_member` did."""

    address: str
    anonymous: str
    mode: str
    items: int = 0
    answers: int = 0
    comments: int = 0
    mentions: int = 0
    attachments: int = 0
    files: int = 0
    received: int = 0
    held: int = 0
    sent_to_them: int = 0
    cleared: int = 0
    withdrawn: int = 0
    other_files: int = 0

    def lines(self) -> list[str]:
        """One line per kind of data, for the coordinator."""
        done = "deleted" if self.mode == "delete" else f"kept as {self.anonymous}"
        return [
            f"erased {self.address}: now {self.anonymous}, inactive (no more mail)",
            f"items: {self.items} {done}; written answers: {self.answers} {done}; "
            f"replies to news: {self.comments} {done}",
            f"name or address removed from {self.mentions} other item(s), answer(s) or reply(ies)",
            f"attachments: {self.attachments} removed, {self.files} file(s) deleted from disk",
            f"raw mail: {self.received} message(s) deleted ({self.held} from the moderation queue)",
            f"mail to them: {self.sent_to_them} deleted; mail to others naming them: "
            f"{self.cleared} emptied, {self.withdrawn} withdrawn before sending",
            f"other files naming them: {self.other_files} deleted",
            "kept, anonymous: votes, poll votes and attendance",
        ]


def _detach(session: Session, target: Table, ids: Sequence[int]) -> None:
    """Let rows `ids` of `target` go: references to them are cleared where a column may
    be empty, and rows that cannot exist without them are deleted (moderation queue
    entries, votes on an item...). Works from the schema, so new tables are covered."""
    if not ids:
        return
    for table in reversed(Base.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table is not target:
                continue
            column = fk.parent
            if column.nullable:
                session.execute(update(table).where(column.in_(ids)).values({column.name: None}))
            else:
                rows = [
                    r[0]
                    for r in session.execute(
                        select(*table.primary_key.columns).where(column.in_(ids))
                    )
                ]
                _detach(session, table, rows)
                session.execute(delete(table).where(column.in_(ids)))


def _delete_rows(session: Session, model: type[Base], ids: Sequence[int]) -> int:
    table = model.__table__
    assert isinstance(table, Table)
    _detach(session, table, ids)
    session.execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)


def _scrub(text: str, member: Member, anonymous: str) -> str:
    text = re.sub(re.escape(member.email), ADDRESS_REMOVED, text, flags=re.IGNORECASE)
    if len(member.name.split()) > 1:
        text = re.sub(re.escape(member.name), anonymous, text, flags=re.IGNORECASE)
    return text


def _scrub_texts(session: Session, member: Member, anonymous: str) -> int:
    """Replace their address and full name in every item, answer, reply and action (the
    actions they own name them as `anonymous`)."""
    session.execute(update(Action).where(Action.owner_id == member.id)
                    .values(owner_name=anonymous))  # fmt: skip
    needles = [member.email.lower()] + (
        [member.name.lower()] if len(member.name.split()) > 1 else []
    )
    changed = 0
    texts = ((Item, ("title", "body", "answer")), (Comment, ("body",)), (Action, ("text",)))
    for model, columns in texts:
        wheres = [
            func.lower(getattr(model, c)).contains(n, autoescape=True)
            for c in columns
            for n in needles
        ]
        for row in session.scalars(select(model).where(or_(*wheres))):
            for column in columns:
                setattr(row, column, _scrub(getattr(row, column), member, anonymous))
            changed += 1
    return changed


def _erase_items(session: Session, member: Member, mode: str, report: ErasureReport) -> None:
    items = _own_items(session, member)
    report.items = len(items)
    mine = Comment.member_id == member.id
    report.comments = len(session.scalars(select(Comment.id).where(mine)).all())
    answered = (Item.assignee_id == member.id) & (Item.answer != "")
    report.answers = len(session.scalars(select(Item.id).where(answered)).all())
    # an unanswered question should not wait on (or mail) someone who is gone
    session.execute(
        update(Item)
        .where(Item.assignee_id == member.id, Item.answer == "")
        .values(assignee_id=None)
    )
    if mode == "delete":
        _delete_rows(session, Comment, session.scalars(select(Comment.id).where(mine)).all())
        session.execute(update(Item).where(answered).values(answer="", answered_at=None))
        _delete_rows(session, Item, [i.id for i in items])
    else:
        for item in items:
            item.author = ""
    session.execute(update(Attendance).where(Attendance.member_id == member.id).values(comment=""))
    session.flush()


def _erase_attachments(
    session: Session, settings: Settings, member: Member, report: ErasureReport
) -> set[str]:
    """Their attachments' rows and files; returns the files' sha256s."""
    mine = select(Item.id).where(
        or_(Item.member_id == member.id, func.lower(Item.author) == member.email.lower())
    )
    rows = session.scalars(select(Attachment).where(Attachment.item_id.in_(mine))).all()
    shas = {a.sha256 for a in rows}
    report.attachments = len(rows)
    session.execute(delete(Attachment).where(Attachment.id.in_([a.id for a in rows])))
    still_used = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(shas))))
    for sha in shas - still_used:
        path = blob_path(settings.data_dir, sha)
        if path.exists():
            path.unlink()
            report.files += 1
    session.execute(delete(Blob).where(Blob.sha256.in_(shas - still_used)))
    return shas - still_used


def _scan(
    session: Session, columns: Sequence[Any], needles: Needles, wanted: Iterable[int] = ()
) -> Iterator[Any]:
    """Rows (id first, raw bytes second) that are in `wanted` or whose bytes name them."""
    wanted = set(wanted)
    for row in session.execute(select(*columns)).yield_per(BATCH):
        if (
            row[0] in wanted
            or needles.found_in(row[1])
            or (len(row) > 2 and any(s in needles.shas for s in row[2].split(",")))
        ):
            yield row


def _erase_mail(session: Session, member: Member, needles: Needles, report: ErasureReport) -> None:
    """Raw mail they sent or that names them; mail to them; others' mail naming them."""
    own = _own_messages(session, member, _own_items(session, member))
    inbound = [r[0] for r in _scan(session, (InboundMessage.id, InboundMessage.raw), needles, own)]
    report.held = len(session.scalars(select(Held.id).where(Held.inbound_id.in_(inbound))).all())
    report.received = _delete_rows(session, InboundMessage, inbound)
    address = member.email.lower()
    session.execute(
        delete(MailingRecipient).where(func.lower(MailingRecipient.recipient) == address)
    )
    found = list(
        _scan(
            session,
            (
                OutboxMessage.id,
                OutboxMessage.raw,
                OutboxMessage.blobs,
                OutboxMessage.recipient,
                OutboxMessage.status,
            ),
            needles,
        )
    )
    theirs = [r.id for r in found if r.recipient.lower() == address]
    report.sent_to_them = _delete_rows(session, OutboxMessage, theirs)
    for row in found:
        if row.recipient.lower() == address:
            continue
        waiting = row.status == "queued"
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(
                raw=b"",
                blobs="",
                subject="",
                reply_address=None,  # it may be theirs (answers and posts name the author)
                **(
                    {"status": "withdrawn", "last_error": "it named an erased member"}
                    if waiting
                    else {}
                ),
            )
        )
        report.withdrawn += waiting
        report.cleared += not waiting


def _erase_files(settings: Settings, needles: Needles) -> int:
    """Files under the data folder (but not members' attachments) and in the maildir
    folder that name them or carry their files."""
    attachments = settings.data_dir / "attachments"
    removed = 0
    for folder in (settings.data_dir, settings.maildir):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            shared_file = attachments in path.parents
            if path.is_file() and not shared_file and needles.found_in(path.read_bytes()):
                path.unlink()
                removed += 1
    return removed


def secure_delete(session: Session) -> None:
    """On SQLite, have this session's deletes overwrite the freed space with zeros."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def erase_member(
    session: Session, settings: Settings, address: str, *, mode: str | None = None
) -> ErasureReport:
    """Erase a member's data as the module docstring says (the caller commits, then runs
    `compact`). `mode` is "anonymise" or "delete" (default: ``[retention] erase_items``)."""
    mode = mode or settings.retention.erase_items
    if mode not in ERASE_ITEMS:
        raise UserError(f"unknown erase mode {mode!r} (expected anonymise or delete)")
    member = _find(session, address)
    if member.email.endswith(f"@{ERASED_DOMAIN}"):
        raise UserError(f"{member.email} has already been erased")
    secure_delete(session)
    anonymous = f"Former member {member.id}"
    report = ErasureReport(member.email, anonymous, mode)
    needles = _needles(member, _erase_attachments(session, settings, member, report))
    _erase_mail(session, member, needles, report)
    _erase_items(session, member, mode, report)
    report.mentions = _scrub_texts(session, member, anonymous)
    report.other_files = _erase_files(settings, needles)
    member.name, member.organisation, member.role = anonymous, "", "member"
    member.email = f"erased-{member.id}@{ERASED_DOMAIN}"
    member.active, member.bounces, member.last_bounce_at = False, 0, None
    session.flush()
    return report


def compact(engine: Engine) -> None:
    """On SQLite, rewrite the database file and empty the write-ahead log, so deleted
    data is gone from disk (run after the erasure is committed)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# -- retention -------------------------------------------------------------------------


def _expire_inbound(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.received_at < cutoff,
            InboundMessage.status.in_(DONE_STATUSES),
            func.length(InboundMessage.raw) > 0,
        )
        .values(raw=b"")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _expire_sent(session: Session, settings: Settings, cutoff: datetime) -> int:
    ids = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at < cutoff,
            func.length(OutboxMessage.raw) > 0,
        )
    ).all()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk))
            .values(raw=b"", blobs="")
            .execution_options(synchronize_session=False)
        )
        for outbox_id in chunk:
            (settings.maildir / f"{outbox_id:06d}.eml").unlink(missing_ok=True)
    used = {
        s
        for blobs in session.scalars(
            select(OutboxMessage.blobs).where(OutboxMessage.blobs != "").distinct()
        )
        for s in blobs.split(",")
    }
    unused = [s for s in session.scalars(select(Blob.sha256)) if s not in used]
    session.execute(delete(Blob).where(Blob.sha256.in_(unused)))
    return len(ids)


def _expire_held(session: Session, cutoff: datetime) -> int:
    rows = session.scalars(
        select(Held).where(Held.status == "held", Held.created_at < cutoff)
    ).all()
    for held in rows:
        held.status = held.inbound.status = "discarded"
        held.inbound.raw = b""
    return len(rows)


def apply_retention(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Remove the mail `[retention]` keeps no longer (see the module docstring); returns
    what was done. The caller commits."""
    cfg = settings.retention
    if not (cfg.held_days or cfg.inbound_days or cfg.sent_days):
        return []
    secure_delete(session)
    steps: tuple[tuple[int, Callable[[datetime], int], str], ...] = (
        (cfg.held_days, lambda cutoff: _expire_held(session, cutoff),
         "held message(s) discarded"),
        (cfg.inbound_days, lambda cutoff: _expire_inbound(session, cutoff),
         "received message(s) emptied"),
        (cfg.sent_days, lambda cutoff: _expire_sent(session, settings, cutoff),
         "sent message body(ies) emptied"),
    )  # fmt: skip
    done = []
    for days, expire, what in steps:
        if days and (count := expire(now - timedelta(days=days))):
            done.append(f"retention: {count} {what} (older than {days} days)")
    return done
