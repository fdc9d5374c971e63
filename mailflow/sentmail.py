"""The mail a reply answers: found in the outbox by the reply's signed address.

Every reply address we hand out is signed for one purpose, target and member (see
`addresses`), and it is the Reply-To of the mail we sent that member. The newest outbox
row to that member carrying that address is the mail being answered; its text lets the
reply reader (`original.without_original`) remove our own words from the reply. Mail to
the bare group address, or whose original has left the outbox, has none.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import addresses, mime
from mailflow.config import Settings
from mailflow.models import Member, OutboxMessage

LOOKBACK = 50  # the member's newest outbox rows searched for the address


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
        rows = session.scalars(
            select(OutboxMessage.raw)
            .where(OutboxMessage.recipient.in_({member.email, member.email.lower()}))
            .order_by(OutboxMessage.id.desc())
            .limit(LOOKBACK)
        )
        for raw in rows:
            if address in raw:
                return mime.parse_mail(raw).text
        return None
    return None
