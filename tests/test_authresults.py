"""Authentication-Results from the trusted upstream MTA (RFC 8601)."""

from __future__ import annotations

from mailflow.authresults import authenticated, dmarc_failed, trusted_verdicts

MX = "mx.example.org"


def mail(*results: str) -> bytes:
    headers = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (
        f"{headers}From: Jane <jane@hamble.hants.sch.uk>\r\nSubject: Hi\r\n\r\nBody\r\n"
    ).encode()


def test_clauses_are_read_with_comments_and_folding() -> None:
    raw = mail(f"{MX} (Postfix);\r\n spf=pass (sender ok) smtp.mailfrom=Hamble.Hants.Sch.UK;\r\n"
               " dkim=pass header.d=hamble.hants.sch.uk header.s=2026; dmarc=pass")  # fmt: skip
    verdicts = trusted_verdicts(raw, MX)
    assert [(v.method, v.result) for v in verdicts] == [
        ("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass")
    ]  # fmt: skip
    assert verdicts[0].properties == {"smtp.mailfrom": "hamble.hants.sch.uk"}


def test_only_the_trusted_server_counts() -> None:
    raw = mail("mx.spoofer.example; dmarc=fail; dkim=pass header.d=hamble.hants.sch.uk")
    assert trusted_verdicts(raw, MX) == []
    assert not dmarc_failed(raw, MX) and not authenticated(raw, MX, "jane@hamble.hants.sch.uk")
    assert trusted_verdicts(raw, "") == []  # nothing is trusted unless configured


def test_a_dmarc_failure_in_any_trusted_header_is_found() -> None:
    raw = mail(f"{MX}; spf=none", f"{MX.upper()}; dmarc=fail header.from=hamble.hants.sch.uk")
    assert dmarc_failed(raw, MX)
    assert not dmarc_failed(mail(f"{MX}; dmarc=pass"), MX)


def test_a_pass_must_be_for_the_senders_domain_or_a_parent() -> None:
    sender = "jane@mail.hamble.hants.sch.uk"
    assert authenticated(mail(f"{MX}; dkim=pass header.d=hamble.hants.sch.uk"), MX, sender)
    assert authenticated(mail(f"{MX}; spf=pass smtp.mailfrom=jane@mail.hamble.hants.sch.uk"),
                         MX, sender)  # fmt: skip
    assert not authenticated(mail(f"{MX}; dkim=pass header.d=spoofer.example"), MX, sender)
    assert not authenticated(mail(f"{MX}; dkim=fail header.d=hamble.hants.sch.uk"), MX, sender)
    assert not authenticated(mail(f"{MX}; dmarc=pass"), MX, sender)  # dkim or spf only
