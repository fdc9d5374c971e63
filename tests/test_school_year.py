"""A whole school year as a coordinator lives it: twelve members, three termly meetings,
every mail read as the members receive it and answered from their own mail client, over
real SMTP, with the clock moved through the year and `tick` run as cron would."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import answers, members, sendminutes, tick
from mailflow.app import App
from mailflow.meetings import add_meeting
from mailflow.models import Item
from tests.conftest import Cli, ConfigFactory
from tests.loops import (
    at,
    attached,
    delivered,
    message,
    send,
    text_of,
    with_file,
    without_terms,
)

PEOPLE = [
    ("jane.smith@hamble.sch.uk", "Jane Smith"), ("sam.patel@westend.sch.uk", "Sam Patel"),
    ("ruth.evans@bursledon.sch.uk", "Ruth Evans"), ("tom.hughes@stjames.sch.uk", "Tom Hughes"),
    ("priya.shah@netley.sch.uk", "Priya Shah"), ("mark.jones@botley.sch.uk", "Mark Jones"),
    ("anna.lee@fairoak.sch.uk", "Anna Lee"), ("dev.rao@chandlers.sch.uk", "Dev Rao"),
    ("kate.moss@hedge-end.sch.uk", "Kate Moss"), ("li.wei@wildern.sch.uk", "Li Wei"),
    ("ben.cole@kings.sch.uk", "Ben Cole"), ("mary.jones@eastleigh.sch.uk", "Mary Jones"),
]  # fmt: skip
EMAILS = [e for e, _ in PEOPLE]
JANE, SAM, RUTH, TOM, PRIYA = EMAILS[:5]
BEN, MARY = EMAILS[10], EMAILS[11]
QUESTIONS = [
    "How are schools recording the new attendance codes?",
    "Who has moved to the new phonics scheme in Year 1?",
    "Has anyone audited SEND provision this year?",
    "What do schools pay for supply cover per day?",
    "Who runs a breakfast club without a charge?",
    "How are you timetabling the multiplication check?",
    "Who has trained staff in the new safeguarding guidance?",
    "How do schools report attendance to governors?",
    "Who shares a moderation day with a partner school?",
    "Has anyone changed their homework policy this year?",
]
CHECKLIST = b"%PDF-1.4\n% SEND support staff training checklist\n" + bytes(range(256)) * 4
SUMMARY = b"%PDF-1.4\n% attendance summary\n" + bytes(range(200)) * 3
GUIDE = b"%PDF-1.4\n% LA guide to the new codes\n" + bytes(range(128)) * 5


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard test config without its [[terms]]: the year's meetings are added."""
    return without_terms(configs.write())


def last(app: App, to: str, subject: str) -> EmailMessage:
    """The latest mail `to` received whose subject starts with `subject`."""
    found = delivered(app, to, subject)
    assert found, f"{to} received no {subject!r}"
    return found[-1]


def reply(server: Any, app: App, who: str, to_mail: EmailMessage, body: str) -> Item | None:
    """`who` answers a mail they received, as their client does; returns the last item."""
    name = dict(PEOPLE)[who]
    to = to_mail["Reply-To"].addresses[0].addr_spec
    row = send(server, who, to, message(who, to, body, subject=f"Re: {to_mail['Subject']}",
                                        name=name))  # fmt: skip
    assert row.status == "processed", row.outcome
    with app.session() as session:
        return session.scalars(select(Item).order_by(Item.id.desc())).first()


def reply_with_file(server: Any, who: str, to_mail: EmailMessage, body: str, filename: str,
                    data: bytes) -> None:  # fmt: skip
    to = to_mail["Reply-To"].addresses[0].addr_spec
    raw = with_file(who, dict(PEOPLE)[who], to, body, filename, data,
                    subject=f"RE: {to_mail['Subject']}")  # fmt: skip
    row = send(server, who, to, raw)
    assert row.status == "processed", row.outcome


def write_minutes(app: App, tmp_path: Path, ref: str, text: str) -> None:
    path = tmp_path / f"{ref}.md"
    path.write_text(text, encoding="utf-8")
    sendminutes.send_minutes(app, ref, path, [])


def items(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("items", "list", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


def test_a_school_year(app: App, server: Any, cli: Cli, tmp_path: Path) -> None:
    at(app, 2026, 9, 7, 9)
    with app.session() as session:
        for address, name in PEOPLE:
            role = "coordinator" if address == MARY else "member"
            members.add_member(session, email=address, name=name, role=role, now=app.now())
        for title, start, ref in (("Autumn meeting", "2026-11-19 16:00", "autumn"),
                                  ("Spring meeting", "2027-03-18 16:00", "spring")):  # fmt: skip
            add_meeting(session, app.settings, title=title, start=start, now=app.now(), ref=ref)
        session.commit()

    # --- autumn: the call, replies, papers with the invite, apologies on the agenda ------
    at(app, 2026, 10, 29, 17)
    tick.run(app)
    calls = {e: last(app, e, "Call for items: Autumn meeting") for e in EMAILS}
    assert text_of(calls[JANE]).startswith("Dear Jane,")
    at(app, 2026, 11, 2, 9)
    reply(server, app, BEN, calls[BEN], "Apologies, I am on a course that day.\n\n"
          "Item: Sharing SEND support staff training [15m]")  # fmt: skip
    reply_with_file(server, PRIYA, calls[PRIYA], "Item: Supply cover costs [20m]\n\n"
                    "Our checklist is attached.", "checklist.pdf", CHECKLIST)  # fmt: skip
    asked = {}
    for address, question in zip(EMAILS, QUESTIONS, strict=False):
        item = reply(server, app, address, calls[address], f"Q: {question}")
        assert item is not None
        asked[address] = item.id
    ack = last(app, BEN, "Re: Call for items")
    assert (
        str(ack["Subject"]) == "Re: Call for items: Autumn meeting (Thursday 19 November "
        "2026, 16:00 GMT)"
    )

    at(app, 2026, 11, 12, 17)
    tick.run(app)
    invites = {e: last(app, e, "Invitation: Autumn meeting") for e in EMAILS}
    for invite in invites.values():
        assert attached(invite) == {"checklist.pdf": CHECKLIST}
    agenda = text_of(invites[JANE])
    assert ("Sharing SEND support staff training (15 min) - Ben Cole (apologies sent, raised "
            "in their absence)") in agenda  # fmt: skip
    assert "You sent apologies" in text_of(invites[BEN])
    assert "Please accept or decline" not in text_of(invites[BEN])
    autumn = {i["id"]: i for i in items(cli, "autumn")}
    written = [i for i in asked.values() if autumn[i]["status"] == "written-answer"]
    assert len(written) == 2  # 75 free minutes: the two items and eight questions fit

    # --- after the invites: a late question goes forward, a volunteer, a late paper ------
    at(app, 2026, 11, 13, 10)
    late = reply(server, app, TOM, invites[TOM], "Q: Who is piloting the new reading test?")
    assert late is not None and late.meeting_id is not None
    assert "goes to Spring meeting on Thursday 18 March 2027, 16:00" in text_of(
        last(app, TOM, "Re: Invitation"))  # fmt: skip
    first, second = written
    reply(server, app, SAM, invites[SAM], f"answer {first}")
    request = last(app, SAM, "Would you answer in writing")
    with app.session() as session:
        answers.assign(session, app.settings, second, RUTH, now=app.now())
        session.commit()
    at(app, 2026, 11, 16, 9)
    reply_with_file(server, JANE, invites[JANE], "For Thursday: the LA guide.", "guide.pdf", GUIDE)
    for when in ((2026, 11, 18, 17), (2026, 11, 18, 18)):
        at(app, *when)
        tick.run(app)
    for address in EMAILS:
        [papers] = delivered(app, address, "Papers for Thursday: Autumn meeting")
        assert attached(papers) == {"guide.pdf": GUIDE}

    # --- the minutes, then an answer after them reaches everyone ---------------------
    discussed = [i for i in asked.values() if autumn[i]["status"] == "scheduled"][:-1]
    not_reached = [i for i in asked.values() if autumn[i]["status"] == "scheduled"][-1]
    at(app, 2026, 11, 20, 9)
    write_minutes(app, tmp_path, "autumn", "Present: Jane Smith, Sam Patel, Ruth Evans\n"
                  "Apologies: Ben Cole\n\nDiscussed: " + ", ".join(map(str, discussed))
                  + "\n\n## Questions\n\nA good discussion.\n")  # fmt: skip
    minutes = text_of(last(app, PRIYA, "Minutes: Autumn meeting"))
    assert "not reached" in minutes
    at(app, 2026, 11, 25, 10)
    reply_with_file(server, SAM, request, "We used the county checklist, attached.\n\nSam",
                    "county.pdf", SUMMARY)  # fmt: skip
    for when in ((2026, 11, 25, 12), (2026, 11, 25, 13)):
        at(app, *when)
        tick.run(app)
    for address in EMAILS:
        [mail] = delivered(app, address, "Answers since Autumn meeting")
        assert "We used the county checklist" in text_of(mail)
        assert attached(mail) == {"county.pdf": SUMMARY}

    # --- spring: carried over, reminded once, late items wait for the summer ---------
    for when in ((2027, 2, 26, 9), (2027, 2, 27, 9)):
        at(app, *when)
        tick.run(app)
    call = text_of(last(app, ANNA := EMAILS[6], "Call for items: Spring meeting"))
    assert f"#{late.id} question: Who is piloting the new reading test?" in call
    assert f"#{second} question:" in call and "still waiting for a written answer" in call
    assert f"#{not_reached} question:" in call
    assert len(delivered(app, RUTH, "Reminder: Would you answer in writing")) == 1
    at(app, 2027, 3, 11, 17)
    tick.run(app)
    at(app, 2027, 3, 12, 9)
    waiting = reply(server, app, ANNA, last(app, ANNA, "Invitation: Spring meeting"),
                    "Q: Can we plan a joint INSET day in June?")  # fmt: skip
    assert waiting is not None and waiting.meeting_id is None
    assert [i["id"] for i in items(cli, "--unplaced")] == [waiting.id]
    at(app, 2027, 3, 19, 9)
    write_minutes(app, tmp_path, "spring", "Present: Jane Smith, Anna Lee\n\n## Notes\n\nBrief.\n")
    spring_minutes = text_of(last(app, TOM, "Minutes: Spring meeting"))
    assert "We used the county checklist" in spring_minutes  # answered since the last meeting

    # --- summer: planned later; the waiting question joins it -------------------------
    result = cli("meetings", "add", "--title", "Summer meeting", "--start", "2027-06-17 16:00")
    assert result.exit_code == 0, result.stderr
    at(app, 2027, 5, 28, 9)
    tick.run(app)
    summer_call = text_of(last(app, JANE, "Call for items: Summer meeting"))
    assert f"#{waiting.id} question: Can we plan a joint INSET day in June?" in summer_call
    assert items(cli, "--unplaced") == []

    # Nothing a member asked was dropped: every question was discussed, answered in
    # writing, or is on the summer meeting's list.
    summer = json.loads(cli("meetings", "list", "--json").stdout)[-1]["ref"]
    open_now = {i["id"] for i in items(cli, summer)}
    with app.session() as session:
        for one in session.scalars(select(Item).where(Item.kind == "question")):
            assert (one.discussed or one.answer or one.id in open_now
                    or one.status == "withdrawn"), one.title  # fmt: skip
