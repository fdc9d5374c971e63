"""Polls by reply for the weekly chat: one vote per member, the tally, the theme in the invite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest

from mailflow import meetings, planning, polls, tick
from mailflow.app import App
from mailflow.errors import UserError
from mailflow.models import Meeting, Poll
from tests.conftest import Cli, ConfigFactory
from tests.loops import (
    JANE,
    MARY,
    NOW,
    RUTH,
    SAM,
    Group,
    address,
    make_group,
    outgoing,
    reply_to,
    send,
    text_of,
)

THEMES = ["Workload", "Accountability without conflict", "The changing curriculum"]
WEEKLY = """
[[terms]]
name = "edldrs"
start = "2026-10-05"
end = "2026-12-14"
meeting = "every Monday at 20:00"
title = "#EdLdrs chat"
duration_minutes = 60
location = "https://chat.example.org/edldrs"
"""


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard config plus a weekly one-hour chat."""
    return configs.write(extra=WEEKLY)


@pytest.fixture
def chat(app: App) -> Iterator[tuple[Group, int, int]]:
    """The group, the weekly chat's meeting id and a poll on its theme closing the next
    evening."""
    group = make_group(app)
    with app.session() as session:
        [(meeting, _)] = meetings.plan_term(session, app.settings, "edldrs", now=NOW)
        assert meeting.rrule is not None and meeting.rrule.startswith("FREQ=WEEKLY")
        poll = polls.create_poll(session, app.settings, meeting=meeting, options=THEMES,
                                 question="Theme for next session", closes="2026-10-02 18:00",
                                 now=NOW)  # fmt: skip
        session.commit()
        assert polls.send_poll(session, app.settings, poll, now=NOW) == 4
        yield group, meeting.id, poll.id


def summary(msg: Any) -> str:
    [part] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    [event] = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert "RRULE" in event
    return f"{event['SUMMARY']}|{event['SEQUENCE']}|{event['DESCRIPTION']}"


def test_poll_closes_with_the_right_tally(
    app: App, server: Any, cli: Cli, chat: tuple[Group, int, int]
) -> None:
    group, meeting_id, poll_id = chat
    ids = group.ids
    [mail] = outgoing(app, to=JANE)
    assert reply_to(mail) == address(app, "p", poll_id, ids[JANE])
    assert "1. Workload" in text_of(mail) and "3. The changing curriculum" in text_of(mail)

    def vote(who: str, text: str) -> str:
        row = send(server, who, address(app, "p", poll_id, ids[who]), text)
        assert row.status == "processed", row.outcome
        return text_of(outgoing(app, to=who)[-1])

    assert 'Your vote in "Theme for next session": 2.' in vote(JANE, "2\n\nJane")
    assert ": 1. Workload" in vote(SAM, "workload")
    assert ": 3. The changing curriculum" in vote(RUTH, "I vote for curriculum")
    assert ": 1. Workload" in vote(JANE, "Changed my mind: Workload")  # replaces her "2"
    assert "could not tell which option" in vote(MARY, "Whatever suits everyone")

    shown = json.loads(cli("polls", "show", str(poll_id), "--json").stdout)
    assert [o["votes"] for o in shown["options"]] == [2, 0, 1]
    assert shown["voters"] == 3 and shown["status"] == "open"

    # The invites are out before the poll closes: closing sends an update with the theme.
    with app.session() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        planning.send_invites(session, app.settings, meeting, now=NOW)
    assert summary(outgoing(app, to=JANE)[-1]).startswith("#EdLdrs chat|0|")

    app.clock = lambda: NOW + timedelta(days=1, hours=9)  # 2 October, 18:00 BST
    assert "poll 1 closed: Workload" in tick.run(app)
    assert "poll 1 closed" not in " ".join(tick.run(app))
    with app.session() as session:
        poll = session.get(Poll, poll_id)
        assert poll is not None
        assert polls.close_poll(session, app.settings, poll, now=app.now()) == "Workload"
        assert poll.meeting is not None and poll.meeting.sequence == 1  # one update only
    update = [m for m in outgoing(app, to=JANE) if "invite.ics" in str(m)][-1]
    assert summary(update).startswith("#EdLdrs chat: Workload|1|#EdLdrs chat: Workload")
    assert "This session's theme, chosen by poll: Workload" in text_of(update)
    agenda = cli("agenda", "edldrs").stdout
    assert agenda.startswith("#EdLdrs chat: Workload (edldrs)")

    assert "closed on Friday 2 October 2026, 18:00 BST" in vote(RUTH, "2")
    shown = json.loads(cli("polls", "show", str(poll_id), "--json").stdout)
    assert [o["votes"] for o in shown["options"]] == [2, 0, 1]
    assert (shown["status"], shown["winner"]) == ("closed", "Workload")


def test_polls_from_the_command_line(cli: Cli, chat: tuple[Group, int, int]) -> None:
    result = cli("polls", "create", "edldrs", "Next theme?", "--option", "Workload",
                 "--option", "Wellbeing", "--closes", "2099-01-01 12:00")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "4 message(s) queued" in result.stdout
    listed = json.loads(cli("polls", "list", "--json").stdout)
    assert [p["question"] for p in listed] == ["Next theme?", "Theme for next session"]
    closed = cli("polls", "close", str(listed[0]["id"]))
    assert closed.exit_code == 0 and "no votes, no winner" in closed.stdout
    for bad in (
        ["polls", "create", "edldrs", "Q", "--option", "A", "--closes", "2099-01-01 12:00"],
        ["polls", "create", "edldrs", "Q", "--option", "A", "--option", "a",
         "--closes", "2099-01-01 12:00"],
        ["polls", "create", "edldrs", "Q", "--option", "A", "--option", "B",
         "--closes", "2001-01-01 12:00"],
        ["polls", "show", "99"],
    ):  # fmt: skip
        failed = cli(*bad)
        assert failed.exit_code == 1 and failed.stderr.startswith("mailflow: ")


def test_proposed_themes_wait_for_approval_unless_configured(
    app: App, chat: tuple[Group, int, int]
) -> None:
    from dataclasses import replace

    from mailflow.members import find_member

    _, _, poll_id = chat
    with app.session() as session:
        poll, jane = session.get(Poll, poll_id), find_member(session, JANE)
        assert poll is not None and jane is not None
        said = polls.propose(session, app.settings, poll, jane, "  Making   initiatives last ")
        assert "once the coordinator approves it" in said and len(poll.options) == 3
        again = polls.propose(session, app.settings, poll, jane, "workload")
        assert again == '"workload" is already proposed'
        assert polls.approve(session, poll, 1) == '"Making initiatives last" is option 4'
        assert polls.approve(session, poll, 1) == '"Making initiatives last" is option 4'
        auto = replace(app.settings, series=replace(app.settings.series, approve_themes=True))
        assert polls.propose(session, auto, poll, jane, "Wellbeing") == '"Wellbeing" is option 5'
        assert polls.approved_proposals(poll) == ["Making initiatives last", "Wellbeing"]
        with pytest.raises(UserError):
            polls.approve(session, poll, 9)
