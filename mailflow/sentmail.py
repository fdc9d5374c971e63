"""The mail a reply answers: found in the outbox by the reply's signed address.

Every reply address we hand out is signed for one purpose, target and member (see
`addresses`), and it is the Reply-To of the mail we sent that member. The newest outbox
row to that member carrying that address is the mail being answered; its text lets the
reply reader (`original.without_original`) remove our own words from the reply. Mail to
the bare group address, or whose original has left the outbox, has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, LargeBinary, Table, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mailflow import addresses, mime
from mailflow.config import Settings
from mailflow.models import Member, OutboxMessage

MEMBERS = cast(Table, Member.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
LOOKBACK = 50  # the member's newest outbox rows searched for the address


class Position(FunctionElement[int]):
    """``Position(column, needle)``: where the bytes `needle` first occur in a binary
    column's value, from 1 (0: nowhere), found by the database (``instr`` on SQLite,
    ``position`` on PostgreSQL), so rows that do not hold them are never loaded."""

    type = Integer()
    inherit_cache = True


@compiles(Position)
def _position_instr(element: Position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"instr({haystack}, {needle})"


@compiles(Position, "postgresql")
def _position_in(element: Position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"position({needle} in {haystack})"


_RECENT = (
    select(OUTBOX.c.id)
    .where(OUTBOX.c.recipient.in_(bindparam("recipients", expanding=True)))
    .order_by(OUTBOX.c.id.desc())
    .limit(LOOKBACK)
)
# The newest of the LOOKBACK newest outbox rows to `recipients` (a member's address as
# stored and lower-cased) whose mail holds `address`; built once, run with those values,
# on the table itself (no ORM entity to load).
NEWEST_HOLDING = (
    select(OUTBOX.c.raw)
    .where(OUTBOX.c.id.in_(_RECENT),
           Position(OUTBOX.c.raw, bindparam("address", type_=LargeBinary)) > 0)
    .order_by(OUTBOX.c.id.desc())
    .limit(1)
)  # fmt: skip


# The member's address, read straight from the table (no ORM entity to load).
MEMBER_EMAIL = select(MEMBERS.c.email).where(MEMBERS.c.id == bindparam("member"))


@lru_cache(maxsize=1024)
def classified(rcpt: str, group_address: str, secret: str) -> addresses.Recipient | None:
    """`addresses.classify_recipient`, worked out once per recipient, group address and
    secret: a reply's recipients are looked at several times on its way through, and
    parsing an address and checking a token's signature take time."""
    return addresses.classify_recipient(rcpt, group_address, secret)


def original_text(session: Session, settings: Settings, recipients: Iterable[str]) -> str | None:
    """The text of the mail we sent to the signed reply address among `recipients`
    (envelope or header addresses), or None when there is no such address or mail."""
    raw = original_mail(session, settings, recipients)
    return None if raw is None else mime.parse_mail(raw).text


def original_mail(session: Session, settings: Settings, recipients: Iterable[str]) -> bytes | None:
    """The mail (as stored in the outbox) we sent to the signed reply address among
    `recipients`, or None when there is no such address or mail."""
    for rcpt in recipients:
        found = classified(rcpt.strip(), settings.mail.address, settings.mail.secret)
        if found is None or found.token is None:
            continue
        email = session.execute(MEMBER_EMAIL, {"member": found.token.member_id}).scalar()
        if email is None:
            return None
        address = addresses.reply_address(settings.mail.address, settings.mail.secret,
                                          found.token).encode()  # fmt: skip
        emails = sorted({email, email.lower()})
        return session.scalar(NEWEST_HOLDING, {"recipients": emails, "address": address})
    return None
