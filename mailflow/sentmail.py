"""The mail a reply answers: found in the outbox by the reply's signed address.

Every reply address we hand out is signed for one purpose, target and member (see
`addresses`), and it is the Reply-To of the mail we sent that member, kept beside the
mail in the outbox (``reply_address``). The newest outbox row sent with that address is
the mail being answered; its text lets the reply reader (`original.without_original`)
remove our own words from the reply. Mail to the bare group address, or whose original
has left the outbox, has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from mailflow import addresses, mime
from mailflow.config import Settings
from mailflow.models import OutboxMessage

OUTBOX = cast(Table, OutboxMessage.__table__)

# The newest outbox row that went out with `address` (lower-cased) as its Reply-To: one
# lookup of ``ix_outbox_reply_address``, built once; only that row's bytes are read.
NEWEST_WITH_ADDRESS = (
    select(OUTBOX.c.raw)
    .where(OUTBOX.c.reply_address == bindparam("address"))
    .order_by(OUTBOX.c.id.desc())
    .limit(1)
)


def original_text(session: Session, settings: Settings, recipients: Iterable[str]) -> str | None:
    """The text of the mail we sent to the signed reply address among `recipients`
    (envelope or header addresses), or None when there is no such address or mail."""
    raw = original_mail(session, settings, recipients)
    return None if raw is None else mime.parse_mail(raw).text


def original_mail(session: Session, settings: Settings, recipients: Iterable[str]) -> bytes | None:
    """The mail (as stored in the outbox) we sent to the signed reply address among
    `recipients`, or None when there is no such address or mail."""
    for rcpt in recipients:
        found = addresses.classify_recipient(rcpt.strip(), settings.mail.address,
                                            settings.mail.secret)  # fmt: skip
        if found is None or found.token is None:
            continue
        address = addresses.reply_address(settings.mail.address, settings.mail.secret,
                                          found.token)  # fmt: skip
        return session.scalar(NEWEST_WITH_ADDRESS, {"address": address.lower()})
    return None
