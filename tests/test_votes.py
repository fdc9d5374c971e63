"""Priority votes by reply, over real SMTP: they reorder the agenda and are acknowledged."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from mailflow import tick
from mailflow.app import App
from tests.conftest import Cli
from tests.loops import (
    JANE,
    NOW,
    RUTH,
    SAM,
    Group,
    add_item,
    address,
    make_group,
    outgoing,
    reply_to,
    send,
    text_of,
)


def agenda_order(cli: Cli) -> list[int]:
    result = cli("agenda", "autumn", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return [i for slot in json.loads(result.stdout)["slots"] for i in slot["items"]]


def votes_of(cli: Cli) -> dict[int, int]:
    listed = json.loads(cli("items", "list", "autumn", "--json").stdout)
    return {i["id"]: i["votes"] for i in listed}


def test_vote_replies_change_the_agenda_order(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    first = add_item(app, group.meeting, group.id(JANE), "agenda", "Attendance codes")
    second = add_item(app, group.meeting, group.id(SAM), "agenda", "Moderation of writing")
    assert agenda_order(cli) == [first, second]

    ruth = address(app, "c", group.meeting, group.id(RUTH))
    row = send(server, RUTH, ruth, f"+1 {second}\n-1 {first}\n\nThanks,\nRuth", name="Ruth Evans")
    assert row.status == "processed", row.outcome
    send(server, SAM, address(app, "c", group.meeting, group.id(SAM)), f"+1 {second}")
    assert agenda_order(cli) == [second, first]
    assert votes_of(cli) == {first: -1, second: 2}

    # A new vote replaces the old one: Ruth changes her mind, and counts once.
    send(server, RUTH, ruth, f"-1 {second}\n+1 {first}")
    assert votes_of(cli) == {first: 1, second: 0}
    assert agenda_order(cli) == [first, second]

    [*_, ack] = outgoing(app, to=RUTH)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert f"your vote +1 on #{first} Attendance codes is counted (total +1)" in text_of(ack)
    assert len(outgoing(app, to=RUTH)) == 2  # one brief acknowledgement per reply


def test_votes_and_items_in_one_reply(app: App, server: Any) -> None:
    group = make_group(app)
    topic = add_item(app, group.meeting, group.id(JANE), "agenda", "Attendance codes")
    to = address(app, "a", group.meeting, group.id(SAM))
    row = send(server, SAM, to, f"+1 {topic}\n+1 999\n\nQ: Who has a new SEND policy?")
    assert row.status == "processed", row.outcome
    assert "question #" in row.outcome and "999 is not an item open for votes" in row.outcome
    [ack] = outgoing(app, to=SAM)
    text = text_of(ack)
    assert "Who has a new SEND policy?" in text and f"+1 on #{topic}" in text


def test_proposed_items_mail_goes_out_halfway_once(app: App, cli: Cli) -> None:
    group: Group = make_group(app)
    call_at = NOW + timedelta(days=29)  # 2026-10-30 09:00; the deadline is 2026-11-12 16:00
    app.clock = lambda: call_at
    assert any("call for items" in line for line in tick.run(app))
    add_item(app, group.meeting, group.id(JANE), "question", "Attendance codes?")
    app.clock = lambda: call_at + timedelta(days=6)
    assert not any("proposed" in line for line in tick.run(app))  # not halfway yet
    app.clock = lambda: call_at + timedelta(days=7)  # halfway is 2026-11-06 00:30
    assert any("proposed items mailed to 4" in line for line in tick.run(app))
    assert not any("proposed" in line for line in tick.run(app))
    proposed = [m for m in outgoing(app, to=JANE) if "What has been proposed" in str(m["Subject"])]
    assert len(proposed) == 1
    assert "Attendance codes?" in text_of(proposed[0]) and "+1 3 7" in text_of(proposed[0])
    assert reply_to(proposed[0]).startswith("dht+c")
    result = cli("items", "digest", "autumn")
    assert result.exit_code == 0 and "already sent" in result.stdout
