"""Members leaving and rejoining by mail, the welcome, `members edit`, the held-mail notice
and List-Unsubscribe on every kind of member mail: over real SMTP and the real CLI."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import addresses, digest, leaving, planning, replies, tick
from mailflow.app import App, utc_now
from mailflow.ingest import next_meeting
from mailflow.models import Item, Meeting, Member, OutboxMessage
from tests.conftest import Cli
from tests.loops import (
    JANE,
    MARY,
    RUTH,
    SAM,
    add_item,
    address,
    make_group,
    outgoing,
    reply_to,
    send,
    text_of,
)

GROUP = "dht@example.org"
COORDINATORS = (MARY, "coordinator@example.org")


def _member(app: App, email_address: str) -> Member:
    with app.session() as session:
        member = session.scalar(select(Member).where(Member.email == email_address))
        assert member is not None
        return member


def _unsubscribe_address(msg: EmailMessage) -> str:
    """The mailto: address of a message's List-Unsubscribe header."""
    value = str(msg["List-Unsubscribe"])
    assert value.startswith("<mailto:") and value.endswith("?subject=unsubscribe>"), value
    return value[len("<mailto:") : -len("?subject=unsubscribe>")]


def _check_unsubscribe(app: App, msg: EmailMessage, member_id: int) -> None:
    """List-Unsubscribe is there, signed for this member, and no One-Click POST is claimed."""
    mail = app.settings.mail
    found = addresses.classify_recipient(_unsubscribe_address(msg), mail.address, mail.secret)
    assert found is not None and found.token is not None
    assert (found.token.purpose, found.token.member_id) == ("u", member_id)
    assert msg["List-Unsubscribe-Post"] is None


def _to(msg: EmailMessage) -> str:
    return str(msg["To"].addresses[0].addr_spec)


# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize(
    "text",
    [
        "unsubscribe",
        "Please take me off this list, I have left Bursledon",
        "Hi Mary,\n\nPlease remove me from the mailing list.\n\nThanks\nRuth",
        "I have left the school.",
        "Dad-danysgrifio",
        "Tynnwch fi oddi ar y rhestr, diolch",
        "Merci de me retirer de la liste. Cordialement",
        "Bitte entfernen Sie mich aus der Liste. Danke",
        "Por favor, denme de baja. Gracias",
        "He dejado el colegio",
        "J'ai quitté l'école",
        "Rwyf wedi gadael yr ysgol",
        "Please remove me from the mailing list – I've moved to a role at the trust and Sam "
        "will be taking over.\n\nThanks for everything,",
        "Unsubscribe please. I'm retiring at Easter. Thanks for all the support over the years",
    ],
)
def test_whole_text_asking_to_leave_is_read_as_leaving(text: str) -> None:
    assert leaving.asks_to_leave(text, names=("Ruth",))


@pytest.mark.parametrize(
    "text",
    [
        "Q: how do other schools unsubscribe parents from the texts?",
        "unsubscribe\nItem: cover arrangements [10m]",
        "I have left a comment in the shared document.",
        "Please remove me from the rota for item 4",
        "He dejado un comentario en el documento",
        "J'ai quitté la réunion plus tôt",
        "Dwi wedi gadael neges i Mary",
        "I've moved to the new building.",
        "Please remove me from the list - I've moved schools and would like to raise one thing",
        "Please remove me from the list. I've moved on.\n\nHas anyone seen the new guidance?",
    ],
)
def test_leave_words_among_other_words_are_not_leaving(text: str) -> None:
    assert not leaving.asks_to_leave(text)


def test_inbox_parse_json_shows_leave(cli: Cli, tmp_path: Path) -> None:
    eml = tmp_path / "leave.eml"
    eml.write_bytes(b"From: Ruth <ruth@x.org>\r\nTo: dht@example.org\r\nSubject: Re: Call\r\n"
                    b"\r\nunsubscribe\r\n")  # fmt: skip
    result = cli("inbox", "parse", str(eml), "--json")
    assert result.exit_code == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["leave"] is True and parsed["items"] == []


def test_a_long_text_is_never_a_leave_request_and_is_quick() -> None:
    assert not leaving.asks_to_leave("unsubscribe " * 10_000)
    reply = replies.extract_items("unsubscribe")
    assert not reply.leave  # the reader of a whole message decides; see read_reply


# --------------------------------------------------------------------------- leaving


def _after_meeting() -> datetime:
    return datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _no_more_mail_for(app: App, cli: Cli, who: str, tmp_path: Path) -> None:
    """A call for items, invites and, after the meeting, the minutes: nothing for `who`."""
    before = len(outgoing(app, who))
    for command in (("call-for-items", "spring"), ("send-invites", "spring", "--force")):
        assert cli(*command).exit_code == 0
    minutes = tmp_path / "minutes.md"
    minutes.write_text("# Minutes\n\nAll well.\n", encoding="utf-8")
    app.clock = _after_meeting
    assert cli("send-minutes", "autumn", "--minutes", str(minutes)).exit_code == 0
    assert len(outgoing(app, who)) == before
    assert len(outgoing(app, JANE if who != JANE else SAM)) > 0


def test_leaving_by_reply_deactivates_confirms_and_tells_the_coordinator(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    group = make_group(app)
    call = address(app, "c", group.meeting, group.id(RUTH))
    row = send(server, RUTH, call, "Please take me off this list, I have left Bursledon",
               name="Ruth Evans", subject="Re: Call for items")  # fmt: skip
    assert row.status == "processed"
    with app.session() as session:
        assert session.scalars(select(Item)).all() == []  # never an agenda item
    member = _member(app, RUTH)
    assert not member.active and member.left_at is not None
    confirmation = outgoing(app, RUTH)
    assert len(confirmation) == 1  # the confirmation, and no acknowledgement
    assert "You have left Eastleigh DHT Group" in text_of(confirmation[0])
    assert str(confirmation[0]["Auto-Submitted"]) == "auto-replied"
    told = [m for m in outgoing(app) if _to(m) in COORDINATORS]
    assert len(told) == 2 and all("Ruth Evans has left" in str(m["Subject"]) for m in told)
    assert "I have left Bursledon" in text_of(told[0])
    _no_more_mail_for(app, cli, RUTH, tmp_path)


def test_leaving_by_the_list_unsubscribe_address(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    group = make_group(app)
    with app.session() as session:
        planning.call_for_items(session, app.settings, session.get_one(Meeting, group.meeting),
                                now=app.now())  # fmt: skip
    call = outgoing(app, SAM)[-1]
    target = _unsubscribe_address(call)
    row = send(server, SAM, target, "", subject="unsubscribe")  # as a client's button sends it
    assert row.status == "processed"
    assert not _member(app, SAM).active
    assert "You have left" in text_of(outgoing(app, SAM)[-1])
    again = send(server, SAM, target, "", subject="unsubscribe")  # a second click
    assert (again.status, again.outcome) == ("ignored", f"{SAM} has already left the group")
    _no_more_mail_for(app, cli, SAM, tmp_path)


def test_a_reply_to_the_confirmation_rejoins(app: App, server: Any) -> None:
    group = make_group(app)
    send(server, JANE, address(app, "a", group.meeting, group.id(JANE)), "unsubscribe")
    confirmation = outgoing(app, JANE)[-1]
    rejoin_address = reply_to(confirmation)
    row = send(server, JANE, rejoin_address, "Sorry, that was a mistake - please keep me on.")
    assert row.status == "processed"
    member = _member(app, JANE)
    assert member.active and member.left_at is None
    assert "Welcome back" in text_of(outgoing(app, JANE)[-1])
    assert any("Jane Smith has rejoined" in str(m["Subject"]) for m in outgoing(app, MARY))
    with app.session() as session:
        assert session.scalars(select(Item)).all() == []


def test_the_confirmation_address_takes_back_only_its_member(app: App, server: Any) -> None:
    group = make_group(app)
    send(server, JANE, address(app, "a", group.meeting, group.id(JANE)), "unsubscribe")
    rejoin_address = reply_to(outgoing(app, JANE)[-1])
    row = send(server, SAM, rejoin_address, "Put Jane back please")
    assert row.status == "held"
    assert not _member(app, JANE).active


# --------------------------------------------------------------------------- joining


def test_a_welcome_arrives_on_add_and_quiet_sends_none(app: App, cli: Cli) -> None:
    make_group(app)
    result = cli("members", "add", "tom@hedge-end.sch.uk", "--name", "Tom Green")
    assert result.exit_code == 0, result.stderr
    sent = sorted(app.settings.maildir.rglob("*.eml"))
    welcomes = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sent]
    welcome = [m for m in welcomes if _to(m) == "tom@hedge-end.sch.uk"]  # type: ignore[arg-type]
    assert len(welcome) == 1
    msg = welcome[0]
    assert isinstance(msg, EmailMessage)
    assert str(msg["Subject"]) == "Welcome to Eastleigh DHT Group"
    text = text_of(msg)
    with app.session() as session:  # the command runs on the real clock
        upcoming = next_meeting(session, utc_now())
        expected = upcoming.title if upcoming else "No meeting is planned yet"
    for words in (expected, "Q: your question", "Item: your item", "Apologies",
                  "unsubscribe"):  # fmt: skip
        assert words in text
    _check_unsubscribe(app, msg, _member(app, "tom@hedge-end.sch.uk").id)
    quiet = cli("members", "add", "una@hedge-end.sch.uk", "--name", "Una Hill", "--quiet")
    assert quiet.exit_code == 0
    assert outgoing(app, "una@hedge-end.sch.uk") == []


def test_import_welcomes_each_new_member(app: App, cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\nann@a.sch.uk,Ann\nbob@b.sch.uk,Bob\n", encoding="utf-8")
    assert cli("members", "import", str(csv)).exit_code == 0
    assert [_to(m) for m in outgoing(app)] == ["ann@a.sch.uk", "bob@b.sch.uk"]


def test_the_welcome_attaches_the_last_minutes(app: App, cli: Cli, tmp_path: Path) -> None:
    make_group(app)
    minutes = tmp_path / "minutes.md"
    minutes.write_text("# Minutes\n\nWe agreed the cover policy.\n", encoding="utf-8")
    app.clock = _after_meeting
    assert cli("send-minutes", "autumn", "--minutes", str(minutes)).exit_code == 0
    assert cli("members", "add", "tom@hedge-end.sch.uk", "--name", "Tom Green").exit_code == 0
    welcome = outgoing(app, "tom@hedge-end.sch.uk")[0]
    files = {p.get_filename(): p for p in welcome.iter_attachments()}
    assert set(files) == {"minutes-autumn.html"}
    assert "We agreed the cover policy." in str(files["minutes-autumn.html"].get_content())
    assert "minutes of the last meeting are attached" in text_of(welcome)


def test_edit_keeps_the_member_and_their_history(app: App, cli: Cli) -> None:
    group = make_group(app)
    item = add_item(app, group.meeting, group.id(SAM), "question", "Cover?")
    result = cli("members", "edit", SAM, "--name", "Samir Patel", "--org", "Westend",
                 "--role", "coordinator", "--email", "samir@westend.sch.uk")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    member = _member(app, "samir@westend.sch.uk")
    assert (member.id, member.name, member.organisation, member.role) == (
        group.id(SAM), "Samir Patel", "Westend", "coordinator")  # fmt: skip
    with app.session() as session:
        assert session.get_one(Item, item).member_id == member.id
    taken = cli("members", "edit", JANE, "--email", RUTH)
    assert taken.exit_code == 1 and "already the address of Ruth Evans" in taken.stderr
    assert cli("members", "edit", JANE).exit_code == 1


# --------------------------------------------------------------------------- held mail


def test_held_mail_makes_one_notice_an_hour(app: App, server: Any) -> None:
    make_group(app)
    start = app.now()
    send(server, "stranger@else.example", GROUP, "Buy now", subject="Offer")
    tick.run(app)
    notices = [m for m in outgoing(app, MARY) if "held for you" in str(m["Subject"])]
    assert len(notices) == 1
    text = text_of(notices[0])
    for words in ("stranger@else.example", "Offer", "is not a member", "mailflow held release 1",
                  "mailflow held discard 1"):  # fmt: skip
        assert words in text
    send(server, "other@else.example", GROUP, "More", subject="Second")
    app.clock = lambda: start + timedelta(minutes=30)
    tick.run(app)
    tick.run(app)
    assert len([m for m in outgoing(app, MARY) if "held for you" in str(m["Subject"])]) == 1
    app.clock = lambda: start + timedelta(minutes=61)
    tick.run(app)
    later = [m for m in outgoing(app, MARY) if "held for you" in str(m["Subject"])]
    assert len(later) == 2
    assert "Second" in text_of(later[1]) and "Offer" not in text_of(later[1])


# --------------------------------------------------------------------------- List-Unsubscribe


def test_every_kind_of_member_mail_carries_a_signed_list_unsubscribe(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    group = make_group(app)
    send(server, JANE, address(app, "c", group.meeting, group.id(JANE)), "Q: Cover policy?")
    send(server, SAM, GROUP, "The framework is out.", subject="Inspection update")
    with app.session() as session:
        meeting = session.get_one(Meeting, group.meeting)
        planning.call_for_items(session, app.settings, meeting, now=app.now())
        planning.call_for_items(session, app.settings, meeting, now=app.now(), reminder=True)
    with app.session() as session:
        digest.send_digest(session, app.settings, now=app.now())
    assert cli("send-invites", "autumn").exit_code == 0
    minutes = tmp_path / "minutes.md"
    minutes.write_text("# Minutes\n\nAll well.\n", encoding="utf-8")
    app.clock = _after_meeting
    assert cli("send-minutes", "autumn", "--minutes", str(minutes)).exit_code == 0
    ids = {email_address: group.id(email_address) for email_address in (JANE, SAM, RUTH, MARY)}
    with app.session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        subjects = set()
        for row in rows:
            msg = email.message_from_bytes(row.raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            if row.recipient in ids:
                _check_unsubscribe(app, msg, ids[row.recipient])
                subjects.add(str(msg["Subject"]).split(":")[0])
    assert {"Re", "Call for items", "Reminder", "Invitation", "Minutes"} <= subjects
    assert any("news" in s for s in subjects)
