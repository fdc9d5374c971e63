"""Who sent a message: the sender-authenticity policy. Pure functions.

``From:`` alone proves nothing; anyone can write any address there. mailflow takes a
message as coming from an address in one of two ways:

1. **On a signed reply address.** The token (see `addresses`) was mailed only to that
   member, so it is the proof; the ``From:`` must still be the member's address
   (`ingest.identify`). The envelope sender is not compared: forwarding and list
   servers rewrite it.
2. **Otherwise it must be authentic for the address** (`doubt` finds no reason against):
   the envelope sender (SMTP ``MAIL FROM``) is that address, compared case-insensitively
   without ``<>``, and, when ``[inbound] trusted_authserv_id`` is set, an
   Authentication-Results header from that server (`authresults`) shows dkim=pass
   signed by the address's domain (or a parent), spf=pass for an envelope at it, or
   dmarc=pass for it as the ``From:`` domain, and no dmarc=fail. ``dmarc=none``, a
   missing header or one from any other server is not enough.

Rule 2 applies to mail to the bare group address (a member's news or resource post),
to the coordinator's commands (even on their signed address: ``approve`` mails every
member) and to calendar replies that did not come on the attendee's own signed
address. A BATV-tagged envelope (``prvs=TAG=jane@x``, as some gateways write) counts as
the address inside it. An SRS-rewritten envelope (``SRS0=...@forwarder``) is a
forwarder's, not the member's: such mail is held, and the reason names the envelope.

Without ``trusted_authserv_id`` the envelope is all that can be compared, and anyone can
claim that too; installations behind an MTA that checks SPF and DKIM should set it.
Whatever fails is held with the reason (never dropped), so the coordinator can release
what was genuine.
"""

from __future__ import annotations

import re

from mailflow import authresults

# BATV (draft-levine-smtp-batv): "prvs=" + key digit, 3-digit day, 6 hex digits + "=".
_BATV = re.compile(r"prvs=[0-9a-f]{10}=(.+)", re.IGNORECASE)


def envelope_address(mail_from: str) -> str:
    """The envelope sender as an address to compare: lower-case, without ``<>`` or a
    BATV tag; "" for the null sender."""
    address = mail_from.strip().strip("<>").strip().lower()
    batv = _BATV.fullmatch(address)
    return batv.group(1) if batv else address


def doubt(raw: bytes, *, envelope: str, address: str, authserv_id: str) -> str | None:
    """Why the message `raw` is not authentically from `address`, or None when it is.

    `envelope` is the SMTP ``MAIL FROM`` it came with; `authserv_id` the configured
    ``trusted_authserv_id`` ("" when no upstream results are trusted).
    """
    address = address.strip().lower()
    if not address or envelope_address(envelope) != address:
        return f"the envelope sender {envelope.strip() or '<>'} is not {address or 'the sender'}"
    authserv = authserv_id.strip()
    if not authserv:
        return None
    if authresults.dmarc_failed(raw, authserv):
        return "DMARC check failed for the sender's domain"
    if not authresults.authenticated(raw, authserv, address):
        domain = address.rpartition("@")[2]
        return f"no dkim, spf or dmarc pass from {authserv} for {domain}"
    return None
