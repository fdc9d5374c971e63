"""Late mail goes forward: items sent after the agenda is fixed go to the next meeting,
or wait unplaced until one is planned; `items set --title --kind` corrects one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailflow import planning, tick
from mailflow.app import App
from mailflow.meetings import find_meeting
from mailflow.models import Item
from tests.conftest import Cli, ConfigFactory
from tests.loops import (
    JANE,
    SAM,
    Group,
    address,
    at,
    get_item,
    make_group,
    outgoing,
    send,
    text_of,
    without_terms,
)


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard test config without its [[terms]]: the tests add their own meetings."""
    return without_terms(configs.write())


def send_invites(app: App, ref: str) -> None:
    with app.session() as session:
        planning.send_invites(session, app.settings, find_meeting(session, ref), now=app.now())


def ack(app: App, to: str) -> str:
    """The text of the last acknowledgement to `to`."""
    [*_, last] = [m for m in outgoing(app, to) if str(m["Subject"]).startswith("Re:")]
    return text_of(last)


def question(app: App, server: Any, group: Group, who: str, purpose: str, meeting: int,
             text: str) -> int:  # fmt: skip
    row = send(server, who, address(app, purpose, meeting, group.id(who)), f"Q: {text}")
    assert row.status == "processed", row.outcome
    with app.session() as session:
        return int(session.scalar(select(func.max(Item.id))) or 0)


def test_a_question_after_the_invites_goes_to_the_next_meeting(
    app: App, server: Any, cli: Cli
) -> None:
    group = make_group(app)
    at(app, 2026, 11, 12, 17)
    send_invites(app, "autumn")
    at(app, 2026, 11, 14, 10)
    late = question(app, server, group, JANE, "i", group.meeting,
                    "Are others using the new attendance codes?")  # fmt: skip
    assert get_item(app, late).meeting_id == group.next_meeting
    said = ack(app, JANE)
    assert "Spring meeting, Thursday 18 March 2027, 16:00" in said
    assert "Autumn meeting already has its agenda fixed" in said

    # A question sent on the call's address after the meeting goes forward too.
    at(app, 2026, 11, 20, 9)
    after = question(app, server, group, SAM, "c", group.meeting, "Who runs the SEND audit?")
    assert get_item(app, after).meeting_id == group.next_meeting
    assert "Autumn meeting has already taken place" in ack(app, SAM)

    # The spring call lists both, and the spring agenda raises them.
    at(app, 2027, 2, 26, 9)
    assert any("call for items" in line for line in tick.run(app))
    [call] = [m for m in outgoing(app, SAM) if str(m["Subject"]).startswith("Call for items")]
    assert f"#{late} question: Are others using the new attendance codes?" in text_of(call)
    agenda = cli("agenda", "spring", "--format", "json")
    assert agenda.exit_code == 0, agenda.stderr
    raised = [i for s in json.loads(agenda.stdout)["slots"] for i in s["items"]]
    assert late in raised and after in raised


def test_with_no_next_meeting_items_wait_and_join_the_next_one_planned(
    app: App, server: Any, cli: Cli
) -> None:
    group = make_group(app)
    at(app, 2027, 3, 11, 17)
    send_invites(app, "spring")
    at(app, 2027, 3, 12, 8)
    waiting = question(app, server, group, JANE, "i", group.next_meeting,
                       "Can we share moderation dates for the summer?")  # fmt: skip
    assert get_item(app, waiting).meeting_id is None
    assert "will be raised at the next meeting" in ack(app, JANE)
    listed = cli("items", "list", "--unplaced", "--json")
    assert listed.exit_code == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["meeting"], entry["member"]) == (waiting, None, JANE)
    assert cli("items", "list").exit_code == 1  # a meeting or --unplaced
    both = cli("items", "list", "spring", "--unplaced", "--json")  # as DESIGN.md writes it
    assert [i["id"] for i in json.loads(both.stdout)] == [waiting]

    result = cli("meetings", "add", "--title", "Summer meeting", "--start", "2027-06-17 16:00")
    assert result.exit_code == 0, result.stderr
    assert get_item(app, waiting).meeting_id is not None  # it joined the new meeting
    assert json.loads(cli("items", "list", "--unplaced", "--json").stdout) == []
    summer = json.loads(cli("meetings", "list", "--json").stdout)[-1]["ref"]
    ids = [i["id"] for i in json.loads(cli("items", "list", summer, "--json").stdout)]
    assert ids == [waiting]


def test_apologies_after_the_invites_still_count_for_the_meeting(
    app: App, server: Any, cli: Cli
) -> None:
    group = make_group(app)
    at(app, 2026, 11, 12, 17)
    send_invites(app, "autumn")
    at(app, 2026, 11, 16, 8)
    row = send(server, SAM, address(app, "i", group.meeting, group.id(SAM)),
               "Apologies\n\nItem: Sharing SEND support staff training [15m]")  # fmt: skip
    assert row.status == "processed", row.outcome
    shown = json.loads(cli("meetings", "show", "autumn", "--json").stdout)
    assert {a["email"]: a["status"] for a in shown["attendance"]}[SAM] == "apologies"
    spring = [i["title"] for i in json.loads(cli("items", "list", "spring", "--json").stdout)]
    assert spring == ["Sharing SEND support staff training"]


def test_items_set_corrects_title_and_kind(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    item = question(app, server, group, JANE, "c", group.meeting, "attendance codes")
    result = cli("items", "set", str(item), "--title", "Attendance codes: what works",
                 "--kind", "agenda")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [listed] = json.loads(cli("items", "list", "autumn", "--json").stdout)
    assert (listed["title"], listed["kind"]) == ("Attendance codes: what works", "agenda")
    bad = cli("items", "set", str(item), "--kind", "apology")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1
    assert cli("items", "set", str(item), "--title", "  ").exit_code == 1
