"""Authentication-Results (RFC 8601) from the upstream MTA we trust. Pure functions.

mailflow does not check SPF, DKIM or DMARC itself: the MTA in front of it does and
records what it found in ``Authentication-Results: <authserv-id>; method=result ...``
headers. Only headers whose authserv-id is ``[inbound] trusted_authserv_id`` count; that
MTA must remove any such header arriving from outside (RFC 8601 §5), as OpenDMARC,
authentication_milter and rspamd do, so a sender cannot forge one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

_COMMENTS = re.compile(r"\([^()]*\)")
_CLAUSE = re.compile(r"\s*+([\w.-]++)\s*+=\s*+([\w.-]+)(.*)$", re.DOTALL)
# a name starts only where a word starts, and is taken whole: a long run of name
# characters is not tried at every position
_PROPERTY = re.compile(r"(?<![\w.-])([\w.-]++)\s*+=\s*+(\S+)")


@dataclass(frozen=True)
class Verdict:
    """One ``method=result property=value ...`` clause, all lower-cased."""

    method: str
    result: str
    properties: dict[str, str]


def trusted_verdicts(raw: bytes, authserv_id: str) -> list[Verdict]:
    """Every clause of every Authentication-Results header from `authserv_id` in `raw`."""
    trusted = authserv_id.strip().lower()
    if not trusted:
        return []
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    verdicts: list[Verdict] = []
    for value in headers.get_all("Authentication-Results") or []:
        parts = _COMMENTS.sub("", " ".join(str(value).split())).split(";")
        words = parts[0].split()
        if not words or words[0].lower() != trusted:
            continue
        for part in parts[1:]:
            clause = _CLAUSE.match(part)
            if clause is not None:
                props = {k.lower(): v.lower() for k, v in _PROPERTY.findall(clause.group(3))}
                verdicts.append(Verdict(clause.group(1).lower(), clause.group(2).lower(), props))
    return verdicts


def dmarc_failed(raw: bytes, authserv_id: str) -> bool:
    """Whether the trusted MTA found that the message fails its sender domain's DMARC."""
    return any(
        v.method == "dmarc" and v.result == "fail" for v in trusted_verdicts(raw, authserv_id)
    )


def _aligned(domain: str, sender_domain: str) -> bool:
    domain = domain.strip().lstrip("@").rstrip(".")
    return sender_domain == domain or sender_domain.endswith("." + domain)


def _passes_for(verdict: Verdict, sender_domain: str) -> bool:
    """Whether `verdict` is a pass that vouches for the sender's domain: dkim signed by it
    (or a parent), spf for an envelope at it (or a parent), or dmarc for it as the From
    domain (a DMARC pass is an aligned dkim or spf pass). A pass that names no domain, or
    an spf pass for the HELO name only, vouches for nobody."""
    if verdict.result != "pass":
        return False
    props = verdict.properties
    if verdict.method == "dkim":
        domain = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
    elif verdict.method == "spf":
        domain = props.get("smtp.mailfrom", "").rpartition("@")[2]
    elif verdict.method == "dmarc":
        return props.get("header.from", "").rstrip(".") == sender_domain
    else:
        return False
    return bool(domain) and _aligned(domain, sender_domain)


def authenticated(raw: bytes, authserv_id: str, sender: str) -> bool:
    """Whether the trusted MTA found a dkim, spf or dmarc pass for the domain of `sender`."""
    sender_domain = sender.rpartition("@")[2].lower()
    return any(_passes_for(v, sender_domain) for v in trusted_verdicts(raw, authserv_id))
