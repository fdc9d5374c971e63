"""Between meetings: answers after the minutes reach everyone, unanswered questions are
carried over and their assignee reminded once, papers go out before the meeting, and
the agenda and invites say who sent apologies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailflow import answers, planning, sendminutes, tick
from mailflow.app import App
from mailflow.config import GroupConfig
from mailflow.meetings import find_meeting
from tests.conftest import Cli, ConfigFactory
from tests.loops import (
    JANE,
    MARY,
    RUTH,
    SAM,
    add_item,
    address,
    at,
    attached,
    delivered,
    make_group,
    outgoing,
    send,
    text_of,
    with_file,
    without_terms,
)

EVERYONE = (JANE, SAM, RUTH, MARY)
CHECKLIST = b"%PDF-1.4\n% SEND audit checklist\n" + bytes(range(256)) * 8


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard test config without its [[terms]]: the tests add their own meetings."""
    return without_terms(configs.write())


def minutes(app: App, tmp_path: Path, ref: str) -> None:
    path = tmp_path / f"{ref}.md"
    path.write_text("## Attendance codes\n\nMost schools follow the LA guidance.\n", "utf-8")
    sendminutes.send_minutes(app, ref, path, [])


def test_an_answer_after_the_minutes_reaches_everyone_once_with_its_file(
    app: App, server: Any, tmp_path: Path
) -> None:
    group = make_group(app)
    question = add_item(app, group.meeting, group.id(JANE), "question",
                        "Has anyone audited SEND provision this year?",
                        status="written-answer")  # fmt: skip
    with app.session() as session:
        answers.assign(session, app.settings, question, SAM, now=app.now())
    at(app, 2026, 11, 20, 9)
    minutes(app, tmp_path, "autumn")

    at(app, 2026, 11, 25, 10)
    raw = with_file(SAM, "Sam Patel", address(app, "w", question, group.id(SAM)),
                    "Yes: we used the county checklist, attached.\n\nSam",
                    "SEND audit checklist.pdf", CHECKLIST)  # fmt: skip
    row = send(server, SAM, address(app, "w", question, group.id(SAM)), raw)
    assert row.status == "processed", row.outcome
    [to_asker] = delivered(app, JANE, "Answer:")
    assert attached(to_asker) == {"SEND audit checklist.pdf": CHECKLIST}

    at(app, 2026, 11, 25, 10, 30)
    assert not any("answers" in line for line in tick.run(app))  # a burst may follow
    at(app, 2026, 11, 25, 12)
    assert any("answers since the meeting" in line for line in tick.run(app))
    at(app, 2026, 11, 25, 13)
    tick.run(app)
    for member in EVERYONE:
        [mail] = delivered(app, member, "Answers since Autumn meeting")
        text = text_of(mail)
        assert "Has anyone audited SEND provision this year?" in text
        assert "we used the county checklist" in text and "answered by Sam Patel" in text
        assert attached(mail) == {"SEND audit checklist.pdf": CHECKLIST}

    # The next minutes list it again.
    at(app, 2027, 3, 19, 9)
    minutes(app, tmp_path, "spring")
    [spring] = delivered(app, RUTH, "Minutes: Spring meeting")
    assert "we used the county checklist" in text_of(spring)


def test_an_unanswered_question_is_carried_over_and_its_assignee_reminded_once(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    group = make_group(app)
    question = add_item(app, group.meeting, group.id(JANE), "question",
                        "Who has tried the new attendance codes?",
                        status="written-answer")  # fmt: skip
    with app.session() as session:
        answers.assign(session, app.settings, question, RUTH, now=app.now())
    at(app, 2026, 11, 20, 9)
    minutes(app, tmp_path, "autumn")

    at(app, 2027, 2, 26, 9)  # the spring call is due: the call, and one reminder
    tick.run(app)
    at(app, 2027, 2, 27, 9)
    tick.run(app)
    [reminder] = delivered(app, RUTH, "Reminder: Would you answer in writing")
    assert "Who has tried the new attendance codes?" in text_of(reminder)
    assert "Spring meeting" in text_of(reminder)
    [call] = delivered(app, SAM, "Call for items: Spring meeting")
    assert (f"#{question} question: Who has tried the new attendance codes? (Jane Smith) - "
            "carried over, still waiting for a written answer") in text_of(call)  # fmt: skip
    agenda = json.loads(cli("agenda", "spring", "--format", "json").stdout)
    assert question in agenda["written_answer"]


def test_papers_go_with_the_invite_and_later_ones_the_day_before(app: App, server: Any) -> None:
    group = make_group(app)
    at(app, 2026, 11, 2, 9)
    row = send(server, JANE, address(app, "c", group.meeting, group.id(JANE)),
               with_file(JANE, "Jane Smith", address(app, "c", group.meeting, group.id(JANE)),
                         "Item: SEND audits [10m]\n\nThe checklist we use is attached.",
                         "checklist.pdf", CHECKLIST))  # fmt: skip
    assert row.status == "processed", row.outcome
    at(app, 2026, 11, 12, 17)
    assert any("invites" in line for line in tick.run(app))
    [invite] = delivered(app, RUTH, "Invitation: Autumn meeting")
    assert attached(invite) == {"checklist.pdf": CHECKLIST}
    assert "checklist.pdf (attached)" in text_of(invite)

    at(app, 2026, 11, 16, 9)
    late = b"Termly attendance summary\n" * 50
    row = send(server, SAM, address(app, "i", group.meeting, group.id(SAM)),
               with_file(SAM, "Sam Patel", address(app, "i", group.meeting, group.id(SAM)),
                         "For Thursday.", "attendance.pdf", late))  # fmt: skip
    assert row.status == "processed", row.outcome
    at(app, 2026, 11, 17, 9)
    tick.run(app)
    assert delivered(app, RUTH, "Papers for") == []  # not yet: the day before
    at(app, 2026, 11, 18, 17)
    tick.run(app)
    at(app, 2026, 11, 18, 18)
    tick.run(app)
    for member in EVERYONE:
        [papers] = delivered(app, member, "Papers for Thursday: Autumn meeting")
        assert attached(papers) == {"attendance.pdf": late}
        assert "Thursday 19 November 2026, 16:00" in text_of(papers)


def test_the_agenda_and_invite_say_who_sent_apologies(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    at(app, 2026, 11, 2, 9)
    row = send(server, SAM, address(app, "c", group.meeting, group.id(SAM)),
               "Apologies, I am on a course that day.\n\n"
               "Item: Sharing SEND support staff training [15m]")  # fmt: skip
    assert row.status == "processed", row.outcome
    agenda = cli("agenda", "autumn").stdout
    assert ("Sharing SEND support staff training (15 min) - Sam Patel "
            "(apologies sent, raised in their absence)") in agenda  # fmt: skip
    with app.session() as session:
        planning.send_invites(session, app.settings, find_meeting(session, "autumn"),
                              now=app.now())  # fmt: skip
    [invite] = delivered(app, SAM, "Invitation")
    assert "You sent apologies: your items will be raised in your absence" in text_of(invite)
    assert "Please accept or decline" not in text_of(invite)
    [other] = delivered(app, JANE, "Invitation")
    assert "Please accept or decline" in text_of(other)
    assert "raised in their absence" in text_of(other)


def test_replies_have_one_re(app: App, server: Any) -> None:
    group = make_group(app)
    row = send(
        server,
        JANE,
        address(app, "c", group.meeting, group.id(JANE)),
        "Q: Who has the new MIS?",
        subject="RE: AW: Call for items: Autumn meeting",
    )
    assert row.status == "processed", row.outcome
    [ack] = outgoing(app, JANE)
    assert str(ack["Subject"]) == "Re: Call for items: Autumn meeting"
    assert text_of(ack).startswith("Dear Jane,\n")


def test_greetings_by_first_name_or_as_configured() -> None:
    first, full = GroupConfig(), GroupConfig(greeting="full name")
    assert [first.greet(n) for n in ("Jane Smith", "Dr Ruth Evans", "Cher", "")] == [
        "Jane", "Dr Evans", "Cher", ""]  # fmt: skip
    assert full.greet("Dr Ruth Evans") == "Dr Ruth Evans"
