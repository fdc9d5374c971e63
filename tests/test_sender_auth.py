"""Who sent it: the sender-authenticity policy (mailflow/senders.py) over real SMTP.

Each case of the audit (issue 12, parts 4 and 8) is sent to a running server with the
forger's envelope, and the exact outcome is checked: held with which reason, what was
recorded, what was mailed. The forgeries are files in tests/hostile/forged_*.eml.
"""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import senders, tick
from mailflow.app import App
from mailflow.models import Attendance, Held, InboundMessage, Item, Meeting
from mailflow.server import InboundServer
from tests.conftest import AUTHSERV, load_mail
from tests.loops import JANE, MARY, SAM, address, make_group, message, outgoing, text_of
from tests.test_hostile import hostile

GROUP = "dht@example.org"
COORDINATOR = "coordinator@example.org"  # [group] coordinator in the test config
SPOOFER = "x@spoofer.example"

DOMAIN = "hamble.hants.sch.uk"  # Jane's
NO_PASS = ("held", f"no dkim, spf or dmarc pass from {AUTHSERV} for {DOMAIN}")
FRIDAY = datetime(2026, 10, 2, 16, 0, tzinfo=UTC)

Letter = tuple[str, str, bytes]  # envelope sender, recipient, message


def deliver(server: Any, letters: list[Letter]) -> list[tuple[str, str]]:
    """Send each letter on one SMTP connection; (status, reason) of each once processed."""
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        for envelope, to, raw in letters:
            smtp.sendmail(envelope, [to], raw)
    assert server.drain()
    with server.app.session() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        held = {h.inbound_id: h.reason for h in session.scalars(select(Held))}
        assert all(held[r.id] == r.outcome for r in rows if r.status == "held")
        return [(r.status, r.outcome) for r in rows[-len(letters) :]]


def with_results(raw: bytes, results: str | None) -> bytes:
    """`raw` with the Authentication-Results header the receiving MTA put on top."""
    return raw if results is None else f"Authentication-Results: {results}\r\n".encode() + raw


def forged_post(n: int = 0, *, sender: str = JANE) -> bytes:
    return hostile("forged_from_bare.eml", n=str(n), **{"from": sender})


def items(app: App) -> list[tuple[str, str]]:
    with app.session() as session:
        return [(i.author, i.title) for i in session.scalars(select(Item).order_by(Item.id))]


# --------------------------------------------------------------------------- the policy


@pytest.mark.parametrize(
    ("envelope", "results", "expected"),
    [
        (JANE, None, None),
        ("<Jane.Smith@Hamble.Hants.Sch.UK>", None, None),
        (f"prvs=0123abcdef={JANE}", None, None),  # BATV: the address inside counts
        (SPOOFER, None, f"the envelope sender {SPOOFER} is not {JANE}"),
        (f"SRS0=a1b2=TT={DOMAIN}=jane.smith@forwarder.example", None,
         f"the envelope sender SRS0=a1b2=TT={DOMAIN}=jane.smith@forwarder.example is not {JANE}"),
        ("", None, f"the envelope sender <> is not {JANE}"),
        (JANE, f"{AUTHSERV}; dkim=pass header.d={DOMAIN}", None),
        (JANE, f"{AUTHSERV}; dkim=pass header.d=hants.sch.uk", None),  # a parent signs
        (JANE, f"{AUTHSERV}; spf=pass smtp.mailfrom={JANE}", None),
        (JANE, f"{AUTHSERV}; dmarc=pass header.from={DOMAIN}", None),
        (JANE, "", NO_PASS[1]),
        (JANE, f"{AUTHSERV}; dmarc=none header.from={DOMAIN}", NO_PASS[1]),
        (JANE, f"{AUTHSERV}; dkim=pass", NO_PASS[1]),  # a pass for no domain in particular
        (JANE, f"{AUTHSERV}; dkim=pass header.d=spoofer.example", NO_PASS[1]),
        (JANE, f"{AUTHSERV}; spf=pass smtp.helo=mail.{DOMAIN}", NO_PASS[1]),
        (JANE, f"mx.spoofer.example; dkim=pass header.d={DOMAIN}", NO_PASS[1]),
        (JANE, f"{AUTHSERV}; dkim=pass header.d={DOMAIN}; dmarc=fail header.from={DOMAIN}",
         "DMARC check failed for the sender's domain"),
        (SPOOFER, f"{AUTHSERV}; dkim=pass header.d={DOMAIN}",
         f"the envelope sender {SPOOFER} is not {JANE}"),
    ],
)  # fmt: skip
def test_doubt(envelope: str, results: str | None, expected: str | None) -> None:
    """`results` None: no trusted server configured; "": configured, but no header."""
    raw = with_results(b"From: Jane Smith <jane.smith@hamble.hants.sch.uk>\r\n\r\nHi\r\n",
                       results or None)  # fmt: skip
    authserv = "" if results is None else AUTHSERV
    assert senders.doubt(raw, envelope=envelope, address=JANE, authserv_id=authserv) == expected


# --------------------------------------------------------------------------- the group address


def test_forged_post_is_held_and_never_reaches_the_digest(app: App, server: Any) -> None:
    make_group(app)
    genuine = message(SAM, GROUP, "The new framework is out today.", subject="Inspection update")
    assert deliver(server, [(SPOOFER, GROUP, forged_post()), (SAM, GROUP, genuine)]) == [
        ("held", f"the envelope sender {SPOOFER} is not {JANE}"),
        ("processed", "resource #1"),
    ]
    assert items(app) == [(SAM, "Inspection update")]
    assert [m["To"] for m in outgoing(app)] == [SAM]  # Sam's acknowledgement, nothing to Jane
    app.clock = lambda: FRIDAY
    assert "news digest: 1 post(s) mailed to 4 member(s)" in tick.run(app)
    digests = [m for m in outgoing(app) if " news: " in str(m["Subject"])]
    assert len(digests) == 4
    assert all("Inspection update" in text_of(m) for m in digests)
    coordinators = (MARY, COORDINATOR)  # the held notice names the forged post to them
    members_mail = [m for m in outgoing(app) if m["To"].addresses[0].addr_spec not in coordinators]
    assert not any("URGENT" in text_of(m) or "spoofer" in text_of(m) for m in members_mail)


def test_rotating_envelopes_are_all_held(app: App, server: Any) -> None:
    make_group(app)
    letters = [(f"x{n}@spoofer{n}.example", GROUP, forged_post(n)) for n in range(25)]
    assert deliver(server, letters) == [
        ("held", f"the envelope sender x{n}@spoofer{n}.example is not {JANE}") for n in range(25)
    ]
    assert items(app) == [] and outgoing(app) == []


def test_envelope_forms(app: App, server: Any) -> None:
    make_group(app)
    srs = f"SRS0=a1b2=TT={DOMAIN}=jane.smith@forwarder.example"
    letters = [("Jane.Smith@HAMBLE.hants.sch.uk", GROUP, forged_post(1)),
               (f"prvs=0123abcdef={JANE}", GROUP, forged_post(2)),
               (srs, GROUP, forged_post(3)),
               ("", GROUP, forged_post(4))]  # fmt: skip
    assert deliver(server, letters) == [
        ("processed", "resource #1"),
        ("processed", "resource #2"),
        ("held", f"the envelope sender {srs} is not {JANE}"),
        ("ignored", "bounce: empty envelope sender"),
    ]


def test_the_trusted_server_must_vouch_for_the_senders_domain(
    strict: tuple[App, InboundServer],
) -> None:
    app, srv = strict
    make_group(app)
    cases = [
        (JANE, None, NO_PASS),
        (JANE, f"{AUTHSERV}; spf=none; dkim=none; dmarc=none header.from={DOMAIN}", NO_PASS),
        (JANE, f"mx.spoofer.example; dkim=pass header.d={DOMAIN}", NO_PASS),
        (JANE, f"{AUTHSERV}; dkim=pass header.d=spoofer.example", NO_PASS),
        (JANE, f"{AUTHSERV}; dmarc=fail header.from={DOMAIN}",
         ("held", "DMARC check failed for the sender's domain")),
        (SPOOFER, f"{AUTHSERV}; dkim=pass header.d={DOMAIN}",
         ("held", f"the envelope sender {SPOOFER} is not {JANE}")),
        (JANE, f"{AUTHSERV}; dkim=pass header.d={DOMAIN} header.s=2026; dmarc=pass",
         ("processed", "resource #1")),
        (JANE, f"{AUTHSERV}; spf=pass smtp.mailfrom={JANE}", ("processed", "resource #2")),
    ]  # fmt: skip
    letters = [(env, GROUP, with_results(forged_post(n), r)) for n, (env, r, _) in enumerate(cases)]
    assert deliver(srv, letters) == [expected for _, _, expected in cases]
    assert [title for _, title in items(app)] == [
        "URGENT: new safeguarding portal - click here"
    ] * 2


# --------------------------------------------------------------------------- calendar replies


def attendance(app: App) -> list[tuple[str, str]]:
    with app.session() as session:
        return [(a.member.email, a.status) for a in session.scalars(select(Attendance))]


def test_forged_calendar_reply_is_held_and_attendance_unchanged(app: App, server: Any) -> None:
    group = make_group(app)
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        uid = meeting.uid
    invite = address(app, "i", group.meeting, group.id(JANE))
    accept = load_mail("rsvp_accept.eml", reply_to=invite, uid=uid, sequence="0")
    forwarded = f"SRS0=a1b2=TT={DOMAIN}=jane.smith@forwarder.example"  # her own address: enough
    forged = hostile("forged_itip_reply.eml", uid=uid, **{"from": JANE})
    assert deliver(server, [(forwarded, invite, accept), (SPOOFER, GROUP, forged)]) == [
        ("processed", "attendance accepted for autumn"),
        ("held", f"the envelope sender {SPOOFER} is not {JANE}"),
    ]
    assert attendance(app) == [(JANE, "accepted")]
    assert outgoing(app) == []  # nothing to the forger; a calendar answer is not acknowledged


def test_calendar_reply_on_the_group_address_needs_authentication(
    strict: tuple[App, InboundServer],
) -> None:
    app, srv = strict
    group = make_group(app)
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        reply = hostile("forged_itip_reply.eml", uid=meeting.uid, **{"from": JANE})
    signed = with_results(reply, f"{AUTHSERV}; dkim=pass header.d={DOMAIN}")
    assert deliver(srv, [(JANE, GROUP, reply), (JANE, GROUP, signed)]) == [
        NO_PASS,
        ("processed", "attendance declined for autumn"),
    ]
    assert attendance(app) == [(JANE, "declined")]


# --------------------------------------------------------------------------- coordinator


def test_forged_approve_is_held_and_no_invites_are_sent(app: App, server: Any) -> None:
    group = make_group(app)
    k0 = address(app, "k", group.meeting, 0)  # the [group] coordinator, not a member
    mary = address(app, "k", group.meeting, group.id(MARY))  # a member with the role

    def approve(sender: str, to: str) -> bytes:
        return hostile("forged_coordinator_approve.eml", to=to, **{"from": sender})

    letters = [(SPOOFER, k0, approve(COORDINATOR, k0)), (SPOOFER, mary, approve(MARY, mary))]
    refused = "agenda commands not taken as the coordinator's: the envelope sender"
    assert deliver(server, letters) == [
        ("held", f"{refused} {SPOOFER} is not {COORDINATOR}"),
        ("held", f"{refused} {SPOOFER} is not {MARY}"),
    ]
    assert outgoing(app) == []  # no invitations, no confirmation
    assert deliver(server, [(COORDINATOR, k0, approve(COORDINATOR, k0))]) == [
        ("processed", "approve: done")
    ]
    invitations = [m for m in outgoing(app) if str(m["Subject"]).startswith("Invitation")]
    assert len(invitations) == 4


# --------------------------------------------------------------------------- flood limits


def test_forged_flood_under_her_envelope_never_holds_her_mail(
    strict: tuple[App, InboundServer],
) -> None:
    app, srv = strict
    group = make_group(app)
    junk = [(JANE, GROUP, forged_post(n)) for n in range(20)]  # MAIL FROM:<jane>, no pass
    assert deliver(srv, junk) == [NO_PASS] * 20
    own = address(app, "c", group.meeting, group.id(JANE))
    reply = message(JANE, own, "Item: Attendance codes", name="Jane Smith")
    post = with_results(message(JANE, GROUP, "Our phonics map.", subject="Phonics map"),
                        f"{AUTHSERV}; dkim=pass header.d={DOMAIN}")  # fmt: skip
    assert deliver(srv, [(JANE, own, reply), (JANE, GROUP, post)]) == [
        ("processed", "agenda #1"),
        ("processed", "resource #2"),
    ]


def test_group_address_flood_never_holds_her_signed_replies(app: App, server: Any) -> None:
    """Without trusted_authserv_id a forger who also writes her envelope cannot be told
    apart on the group address; the limit holds the flood there, not her replies."""
    group = make_group(app)
    flood = [(JANE, GROUP, forged_post(n)) for n in range(21)]
    own = address(app, "c", group.meeting, group.id(JANE))
    reply = message(JANE, own, "Item: Attendance codes", name="Jane Smith")
    assert deliver(server, [*flood, (JANE, own, reply)]) == [
        *[("processed", f"resource #{n + 1}") for n in range(20)],
        ("held", f"more than 20 messages in a minute from {JANE}"),
        ("processed", "agenda #21"),
    ]
