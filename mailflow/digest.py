"""The weekly news digest: what members posted to the bare group address since the last one.

A post to the bare group address is a resource item (see `ingest`); the digest takes
every such post not yet sent (``Item.digest_id`` is empty), marks them with the digest's
mailing (key ``digest:<local date>``) and mails every active member. Each entry carries a
reply address for that post (purpose ``d``): a reply to it is relayed at once to the
post's author and kept as a `Comment`, so nothing waits for the next meeting. A digest
that stopped half-way resumes with the same posts; posts arriving meanwhile wait for
the next one. Small attachments travel with the digest; larger ones are only named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import addresses, compose, ingest, notices, outbox, planning, schedule
from mailflow.config import WEEKDAYS, Settings
from mailflow.members import active_members
from mailflow.models import Comment, InboundMessage, Item, Mailing, Member

# Every member's copy carries the files, so only small ones travel with the digest.
ATTACH_LIMIT = 2 * 1024 * 1024


def _posted_to_group(settings: Settings, inbound: InboundMessage) -> bool:
    """Whether a message came to the bare group address (and to no reply address)."""
    found = [
        addresses.classify_recipient(r, settings.mail.address, settings.mail.secret)
        for r in inbound.rcpt.split("\n")
        if r
    ]
    known = [r for r in found if r is not None]
    return bool(known) and all(r.bare for r in known)


def pending_posts(session: Session, settings: Settings, *, now: datetime) -> list[Item]:
    """News posts not yet in any digest, oldest first."""
    rows = session.execute(
        select(Item, InboundMessage)
        .join(InboundMessage, Item.message_id == InboundMessage.id)
        .where(Item.kind == "resource", Item.digest_id.is_(None), Item.status != "withdrawn",
               Item.created_at <= now)
        .order_by(Item.id)
    ).all()  # fmt: skip
    return [item for item, inbound in rows if _posted_to_group(settings, inbound)]


@dataclass(frozen=True)
class DigestReport:
    """What `send_digest` did: the posts in today's digest, the mails queued now, and
    the members skipped because their copy could not be built."""

    posts: tuple[Item, ...]
    queued: int
    skipped: tuple[outbox.Skipped, ...] = ()


def _attachments(settings: Settings, posts: Sequence[Item]) -> list[compose.Part]:
    """The posts' files, if together they are within `ATTACH_LIMIT` (else only named)."""
    files = [a for p in posts for a in p.attachments]
    if sum(a.size for a in files) > min(ATTACH_LIMIT, settings.storage.max_attachment_bytes):
        return []
    parts = []
    for a in files:
        path = ingest.blob_path(settings.data_dir, a.sha256)
        if path.exists():
            parts.append(compose.Part(path.read_bytes(), a.content_type, a.filename))
    return parts


def send_digest(session: Session, settings: Settings, *, now: datetime) -> DigestReport:
    """Mail today's digest to every active member (nothing if there is no new post)."""
    day = schedule.to_local(now, settings.group.tz).date()
    key = f"digest:{day.isoformat()}"
    mailing = session.scalar(select(Mailing).where(Mailing.key == key))
    if mailing is None:
        posts = pending_posts(session, settings, now=now)
        if not posts:
            return DigestReport((), 0)
        mailing = outbox.get_mailing(session, key=key, kind="digest", now=now)
        for post in posts:
            post.digest_id = mailing.id
        session.commit()
    posts = list(
        session.scalars(select(Item).where(Item.digest_id == mailing.id).order_by(Item.id))
    )
    files = _attachments(settings, posts)
    subject = f"{settings.group.name} news: {len(posts)} new post{'s' if len(posts) != 1 else ''}"

    def build(member: Member) -> EmailMessage:
        entries = [(p, planning.signed(settings, "d", p.id, member)) for p in posts]
        context = {"group": settings.group.name, "name": settings.group.greet(member.name),
                   "entries": entries, "member_id": member.id, "attached": bool(files),
                   "address": settings.mail.address}  # fmt: skip
        text, html = compose.render("member/digest", context)
        return compose.build_message(settings, to=planning.to_address(member), subject=subject,
                                     text=text, html=html, now=now, attachments=files,
                                     reply_to=settings.mail.address,
                                     member_id=member.id)  # fmt: skip

    skipped: list[outbox.Skipped] = []
    queued = planning.fan_out(session, key=key, kind="digest", meeting=None,
                              recipients=active_members(session), build=build,
                              now=now, on_skip=skipped.append)  # fmt: skip
    return DigestReport(tuple(posts), queued, tuple(skipped))


def due_digest(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Send the digest on `[schedule] digest_weekday` if there is anything new."""
    weekday = WEEKDAYS[schedule.to_local(now, settings.group.tz).weekday()]
    if weekday != settings.schedule.digest_weekday.lower():
        return []
    report = send_digest(session, settings, now=now)
    done = [outbox.describe_skips(report.skipped)] if report.skipped else []
    if report.queued:
        done.insert(0, f"news digest: {len(report.posts)} post(s) mailed to "
                       f"{report.queued} member(s)")  # fmt: skip
    return done


def relay(
    session: Session, settings: Settings, post: Item, member: Member, text: str, *,
    now: datetime, inbound_id: int | None = None,
) -> str:  # fmt: skip
    """Keep a member's reply to a news post and mail it to the post's author.

    Returns where it went (the author's address), or why it did not go.
    """
    session.add(Comment(item_id=post.id, member_id=member.id, inbound_id=inbound_id, body=text,
                        created_at=now))  # fmt: skip
    author: Member | str | None = post.member if post.member and post.member.active else None
    author = author or (post.author if post.member is None else None)
    if not author:
        return "not relayed: the author is no longer a member"
    notices.queue_mail(
        session, settings, to=author, template="member/relay", now=now,
        context={"post": post, "by": member.name, "text": text},
        subject=compose.reply_subject(post.title), reply_to=member.email,
    )  # fmt: skip
    return author.email if isinstance(author, Member) else author
