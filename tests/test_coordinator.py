"""The coordinator by email: the draft, commands that change the agenda, nothing guessed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailflow.app import App
from mailflow.server import InboundServer
from tests.conftest import Cli
from tests.loops import (
    JANE,
    MARY,
    RUTH,
    SAM,
    Group,
    add_item,
    address,
    get_item,
    make_group,
    message,
    outgoing,
    reply_to,
    send,
    text_of,
)

COORDINATOR = "coordinator@example.org"  # [group] coordinator in the test config, not a member


def items_of(group: Group, app: App) -> dict[str, int]:
    return {
        "codes": add_item(app, group.meeting, group.id(JANE), "agenda", "Attendance codes"),
        "writing": add_item(app, group.meeting, group.id(SAM), "agenda", "Moderation of writing"),
        "send": add_item(app, group.meeting, group.id(RUTH), "question", "SEND reviews?"),
        "send2": add_item(app, group.meeting, group.id(JANE), "question", "SEND review dates?"),
    }


def slots(cli: Cli, meeting: str = "autumn") -> dict[int, int]:
    data = json.loads(cli("agenda", meeting, "--format", "json").stdout)
    return {i: s["minutes"] for s in data["slots"] for i in s["items"] if s["kind"] == "agenda"}


def invitations(app: App) -> list[Any]:
    return [m for m in outgoing(app) if str(m["Subject"]).startswith("Invitation")]


def test_commands_change_the_agenda_and_unknown_lines_are_answered(
    app: App, server: Any, cli: Cli
) -> None:
    group = make_group(app)
    ids = items_of(group, app)
    result = cli("agenda", "autumn", "--mail")
    assert result.exit_code == 0 and "2 message(s) queued" in result.stdout, result.stderr
    [draft] = outgoing(app, to=MARY)
    assert str(draft["Subject"]).startswith("Agenda draft: Autumn meeting")
    assert f"#{ids['codes']} agenda: Attendance codes (Jane Smith)" in text_of(draft)
    k = reply_to(draft)
    assert k == address(app, "k", group.meeting, group.id(MARY))
    assert len(outgoing(app, to=COORDINATOR)) == 1
    assert "already mailed" in cli("agenda", "autumn", "--mail").stdout

    commands = (f"minutes {ids['codes']} 20\ndefer {ids['writing']}\n"
                f"merge {ids['send']} {ids['send2']}\nPlease put attendance first\n\n"
                "Thanks,\nMary")  # fmt: skip
    row = send(server, MARY, k, commands, name="Mary Jones")
    assert row.status == "processed", row.outcome
    answer = text_of(outgoing(app, to=MARY)[-1])
    codes = ids["codes"]
    assert f"Done: minutes {codes} 20 -- #{codes} Attendance codes now has 20" in answer
    assert f"Done: defer {ids['writing']} -- " in answer and "deferred to Spring meeting" in answer
    assert f"Done: merge {ids['send']} {ids['send2']}" in answer
    assert "Not understood" in answer and "> Please put attendance first" in answer
    assert slots(cli) == {ids["codes"]: 20}
    assert ids["writing"] in slots(cli, "spring")
    assert get_item(app, ids["send2"]).status == "withdrawn"
    assert invitations(app) == []  # nothing approved yet

    row = send(server, MARY, k, f"approve\nmove {ids['codes']} up")
    answer = text_of(outgoing(app, to=MARY)[-1])
    assert "Not done: approve -- invitations not sent" in answer
    assert f"> move {ids['codes']} up" in answer
    assert invitations(app) == []  # never guessed

    send(server, MARY, k, "Approve.")
    answer = text_of(outgoing(app, to=MARY)[-1])
    assert "Done: Approve. -- invitations sent to 4 member(s)" in answer
    assert len(invitations(app)) == 4
    send(server, MARY, k, "approve")
    assert "had already gone out" in text_of(outgoing(app, to=MARY)[-1])
    assert len(invitations(app)) == 4


def test_bad_commands_are_explained(app: App, server: Any) -> None:
    group = make_group(app)
    ids = items_of(group, app)
    k = address(app, "k", group.meeting, group.id(MARY))
    send(server, MARY, k, f"minutes {ids['send']} 10\nminutes {ids['codes']} 500\ndefer 999\n"
                          f"merge {ids['codes']} {ids['codes']}")  # fmt: skip
    answer = text_of(outgoing(app, to=MARY)[-1])
    assert "Not done" in answer and "questions share the Questions slot" in answer
    assert "500 minutes is not between 1 and 90" in answer
    assert "#999 is not an item of this meeting" in answer
    assert "cannot merge an item into itself" in answer
    assert get_item(app, ids["codes"]).minutes is None


def test_commands_only_from_the_coordinator(app: App, server: Any) -> None:
    group = make_group(app)
    row = send(server, SAM, address(app, "k", group.meeting, group.id(SAM)), "approve")
    assert row.status == "held" and "who is not a coordinator" in row.outcome
    row = send(server, JANE, address(app, "k", group.meeting, 0), "approve")
    assert row.status == "held"
    assert invitations(app) == []


@pytest.mark.parametrize(
    ("results", "status"),
    [
        (None, "held"),
        ("mx.example.org; dkim=fail header.d=example.org", "held"),
        ("evil.example; dkim=pass header.d=example.org", "held"),
        ("mx.example.org; dkim=pass header.d=elsewhere.example", "held"),
        ("mx.example.org 1; spf=pass (sender SPF authorized) smtp.mailfrom=coordinator@example.org",
         "processed"),
        ("mx.example.org;\r\n dkim=pass header.d=example.org header.s=s1; spf=fail", "processed"),
    ],
)  # fmt: skip
def test_authentication_results_are_required_when_configured(
    strict: tuple[App, InboundServer], results: str | None, status: str
) -> None:
    app, srv = strict
    group = make_group(app)
    codes = add_item(app, group.meeting, group.id(JANE), "agenda", "Attendance codes")
    k = address(app, "k", group.meeting, 0)  # the [group] coordinator, who is not a member
    raw = message(COORDINATOR, k, f"minutes {codes} 15")
    if results:  # added as the receiving server does: on top, possibly folded
        raw = f"Authentication-Results: {results}\r\n".encode() + raw
    row = send(srv, COORDINATOR, k, raw)
    assert row.status == status, row.outcome
    if status == "held":
        assert "coordinator" in row.outcome or "not a member" in row.outcome
        assert get_item(app, codes).minutes is None
        return
    assert get_item(app, codes).minutes == 15
    [confirmation] = outgoing(app, to=COORDINATOR)
    assert f"Done: minutes {codes} 15" in text_of(confirmation)
    assert reply_to(confirmation) == k
