"""Single mails to one person (an answer, a relay, a warning) and who the coordinators are.

Fan-outs to many members go through `planning.fan_out`; the mails here are one-off
consequences of one event (a reply arrived, a poll closed), queued in the outbox inside
the caller's transaction, so they are queued exactly once with the event. A mail that
cannot be built from a stored row (an address stored before it was validated) is left
out with a warning, so that someone else's bad row never stops the event's processing.
A member who has left gets nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import compose, outbox
from mailflow.config import Settings
from mailflow.models import Meeting, Member
from mailflow.planning import fan_out, to_address

log = logging.getLogger(__name__)


def queue_mail(
    session: Session, settings: Settings, *, to: Member | Address | str, template: str,
    context: Mapping[str, Any], subject: str, now: datetime, reply_to: str | None = None,
    in_reply_to: str | None = None, auto_submitted: str = "auto-generated",
    attachments: Sequence[compose.Part] = (),
) -> int | None:  # fmt: skip
    """Render `template` (text + HTML) with `context` and queue it for `to`.

    The context always has ``group`` (the group's name) and ``name`` (the recipient's,
    when `to` is a member; else whatever the caller gave, or "").
    Returns the queued row's id, or None (logged) if the message cannot be built or `to` is
    a member who has left.
    """
    if isinstance(to, Member) and not to.active:
        log.info("%s not queued: %s has left the group", template, to.email)
        return None
    name = settings.group.greet(to.name) if isinstance(to, Member) else ""
    full = {"name": name, **context, "group": settings.group.name}
    text, html = compose.render(template, full)

    def build(_recipient: str) -> EmailMessage:
        return compose.build_message(
            settings, to=to_address(to) if isinstance(to, Member) else to, subject=subject,
            text=text, html=html, now=now, reply_to=reply_to, in_reply_to=in_reply_to,
            auto_submitted=auto_submitted, attachments=attachments,
            member_id=to.id if isinstance(to, Member) else None,
        )  # fmt: skip

    msg = outbox.try_build(build, to.email if isinstance(to, Member) else str(to))
    if isinstance(msg, outbox.Skipped):
        log.warning("%s not queued: skipped %s", template, msg)
        return None
    return outbox.enqueue(session, msg, now=now)


def coordinators(session: Session, settings: Settings) -> list[Member]:
    """Who gets the coordinator's mail: active members with the coordinator role, and
    the ``[group] coordinator`` address.

    When that address is not a member's, it is returned as an unsaved `Member` with id
    0 (its reply addresses carry member 0; `ingest.identify` accepts mail to them only
    from that address).
    """
    found = list(
        session.scalars(
            select(Member)
            .where(Member.active.is_(True), Member.role == "coordinator")
            .order_by(Member.id)
        )
    )
    address = settings.group.coordinator.strip()
    if address and not any(m.email.lower() == address.lower() for m in found):
        member = session.scalar(select(Member).where(func.lower(Member.email) == address.lower()))
        if member is not None and member.active:
            found.append(member)
        elif member is None and "@" in address:
            found.append(group_coordinator(settings))
    return found


def group_coordinator(settings: Settings) -> Member:
    """The ``[group] coordinator`` address as an unsaved `Member` with id 0."""
    return Member(id=0, email=settings.group.coordinator.strip(), name="Coordinator",
                  role="coordinator", active=True)  # fmt: skip


def is_coordinator(settings: Settings, member: Member | None, sender: str) -> bool:
    """Whether a message from `sender` (as `member`, if known) comes from a coordinator."""
    configured = settings.group.coordinator.strip().lower()
    if member is not None and member.active and member.role == "coordinator":
        return True
    return bool(configured) and sender.strip().lower() == configured


def mail_coordinators(
    session: Session, settings: Settings, *, key: str, kind: str, meeting: Meeting | None,
    template: str, context: Mapping[str, Any], subject: str, now: datetime,
    reply_to: Callable[[Member], str] | None = None,
) -> int:  # fmt: skip
    """Queue `template` once to every coordinator for the mailing `key`, each greeted by
    name (and answering to `reply_to(member)` if given); returns how many were queued."""

    def build(member: Member) -> EmailMessage:
        personal = {**context, "name": settings.group.greet(member.name)}
        text, html = compose.render(template, personal)
        return compose.build_message(
            settings, to=to_address(member), subject=subject, text=text, html=html, now=now,
            reply_to=reply_to(member) if reply_to else None,
            member_id=member.id or None,  # the [group] coordinator address is no member's
        )  # fmt: skip

    return fan_out(session, key=key, kind=kind, meeting=meeting,
                   recipients=coordinators(session, settings), build=build, now=now)  # fmt: skip
