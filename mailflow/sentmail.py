"""The mail a reply answers: found in the outbox by the reply's signed address.

Every reply address we hand out is signed for one purpose, target and member (see
`addresses`), and it is the Reply-To of the mail we sent that member. The newest outbox
row to that member carrying that address is the mail being answered; its text lets the
reply reader (`original.without_original`) remove our own words from the reply. Mail to
the bare group address, or whose original has left the outbox, has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mailflow import addresses, mime
from mailflow.config import Settings
from mailflow.models import Member, OutboxMessage

LOOKBACK = 50  # the member's newest outbox rows searched for the address


class Holds(FunctionElement[bool]):
    """``Holds(column, needle)``: whether a binary column's value contains the bytes
    `needle`, searched by the database (``instr`` on SQLite, ``position`` on PostgreSQL),
    so rows that do not are never loaded."""

    type = Boolean()
    inherit_cache = True


@compiles(Holds)
def _holds_instr(element: Holds, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"instr({haystack}, {needle}) > 0"


@compiles(Holds, "postgresql")
def _holds_position(element: Holds, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"position({needle} in {haystack}) > 0"


def original_text(session: Session, settings: Settings, recipients: Iterable[str]) -> str | None:
    """The text of the mail we sent to the signed reply address among `recipients`
    (envelope or header addresses), or None when there is no such address or mail."""
    for rcpt in recipients:
        found = addresses.classify_recipient(rcpt.strip(), settings.mail.address,
                                             settings.mail.secret)  # fmt: skip
        if found is None or found.token is None:
            continue
        member = session.get(Member, found.token.member_id)
        if member is None:
            return None
        address = addresses.reply_address(settings.mail.address, settings.mail.secret,
                                          found.token).encode()  # fmt: skip
        recent = (
            select(OutboxMessage.id)
            .where(OutboxMessage.recipient.in_({member.email, member.email.lower()}))
            .order_by(OutboxMessage.id.desc())
            .limit(LOOKBACK)
        )
        raw = session.scalar(
            select(OutboxMessage.raw)
            .where(OutboxMessage.id.in_(recent), Holds(OutboxMessage.raw, address))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        return None if raw is None else mime.parse_mail(raw).text
    return None
