"""Signed reply addresses: ``<local>+<token>@<domain>``.

The token carries a purpose letter, a target id (usually the meeting) and the member's
id, and ends with a truncated HMAC-SHA256 tag under ``[mail] secret``. Tokens use only
lower-case letters, digits and ``-`` so they survive servers that lower-case local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.headerregistry import Address
from functools import lru_cache

PURPOSES = {
    "c": "items",  # reply to a call for items: questions, agenda items, apologies
    "a": "ack",  # reply to an acknowledgement: withdraw N, more items
    "i": "invite",  # calendar RSVPs and replies to an invite
    "m": "minutes",  # reply to the minutes: corrections
    "w": "answer",  # a written answer to the question whose id is the target
    "p": "poll",  # a vote in the poll whose id is the target
    "d": "digest",  # reply to a digest entry
    "k": "coordinator",  # the coordinator's commands on an agenda draft
    "u": "unsubscribe",  # the List-Unsubscribe address: mail to it means the member leaves
    "j": "rejoin",  # the confirmation that a member left: a reply brings them back
}
_TAG_BYTES = 10
_TOKEN_RE = re.compile(r"^([a-z])([0-9a-z]{1,10})-([0-9a-z]{1,10})-([a-z2-7]{16})$")


@dataclass(frozen=True)
class ReplyToken:
    """What a verified reply address says: why it was sent, about what, to whom."""

    purpose: str
    target_id: int
    member_id: int


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _tag(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:_TAG_BYTES]).decode().lower()


def make_token(secret: str, token: ReplyToken) -> str:
    """Encode and sign `token`; the result is lower-case and at most 40 characters."""
    if token.purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {token.purpose!r}")
    if token.target_id < 0 or token.member_id < 0:
        raise ValueError("ids must not be negative")
    payload = f"{token.purpose}{_base36(token.target_id)}-{_base36(token.member_id)}"
    return f"{payload}-{_tag(secret, payload)}"


def verify_token(secret: str, text: str) -> ReplyToken | None:
    """Decode a token, case-insensitively; None unless its tag verifies."""
    match = _TOKEN_RE.match(text.strip().lower())
    if not match or match.group(1) not in PURPOSES:
        return None
    purpose, target, member, tag = match.groups()
    payload = f"{purpose}{target}-{member}"
    if not hmac.compare_digest(tag, _tag(secret, payload)):
        return None
    return ReplyToken(purpose, int(target, 36), int(member, 36))


def reply_address(group_address: str, secret: str, token: ReplyToken) -> str:
    """The signed sub-address of the group address for `token`."""
    local, domain = group_address.rsplit("@", 1)
    return f"{local}+{make_token(secret, token)}@{domain}"


@dataclass(frozen=True)
class Recipient:
    """What an envelope recipient at our domain is: the bare group address or a token."""

    bare: bool
    token: ReplyToken | None


@lru_cache(maxsize=1024)
def classify_recipient(address: str, group_address: str, secret: str) -> Recipient | None:
    """Match an envelope recipient against the group address.

    Returns a `Recipient` for the bare group address or a verified sub-address, and
    None for anything else (another domain, another local part, a forged token).
    Worked out once per recipient, group address and secret (the last 1,024 are kept):
    a reply's recipients are looked at several times on its way through, and parsing an
    address and checking a token's signature take time.
    """
    try:
        parsed = Address(addr_spec=address.strip().strip("<>"))
    except (ValueError, IndexError, TypeError):
        return None
    group_local, group_domain = group_address.rsplit("@", 1)
    if parsed.domain.lower() != group_domain.lower():
        return None
    local = parsed.username
    base, _, extension = local.partition("+")
    if base.lower() != group_local.lower():
        return None
    if not extension:
        return Recipient(bare=True, token=None)
    token = verify_token(secret, extension)
    return Recipient(bare=False, token=token) if token else None


def describe_recipients(rcpts: list[str], group_address: str, secret: str) -> str:
    """What a message was sent to, in a few words for a log line (no token, no secret)."""
    found = [classify_recipient(r, group_address, secret) for r in rcpts if r]
    known = [r for r in found if r is not None]
    signed = next((r.token for r in known if r.token is not None), None)
    if signed is not None:
        return f"{PURPOSES[signed.purpose]} reply (member {signed.member_id})"
    return "the group address" if known else "an unknown address"
