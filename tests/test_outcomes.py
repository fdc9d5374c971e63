"""Truthful minutes: a question is "discussed" only when the minutes say so; the rest of
the agenda is "not reached" (and flagged for carrying over); the meeting is minuted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mailflow.app import App
from mailflow.items import meeting_items
from mailflow.models import Meeting
from tests.conftest import Cli
from tests.loops import JANE, RUTH, SAM, add_item, make_group, text_of
from tests.test_attendance import minutes_to, send_minutes


def test_only_what_the_minutes_name_was_discussed(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    group = make_group(app)
    ask = {
        "codes": (JANE, "How are schools handling the new attendance codes?"),
        "moderation": (SAM, "Who is leading Year 6 moderation?"),
        "uniform": (RUTH, "Uniform grant for Year 7?"),
        "send": (JANE, "SEND funding changes?"),
        "trips": (SAM, "Residential trip insurance?"),
    }
    names = {JANE: "Jane Smith", SAM: "Sam Patel", RUTH: "Ruth Evans"}
    ids = {key: add_item(app, group.meeting, group.id(who), "question", title,
                         status="scheduled")
           for key, (who, title) in ask.items()}  # fmt: skip
    ids["deferred"] = add_item(app, group.meeting, group.id(RUTH), "question",
                               "Ofsted framework?", status="deferred")  # fmt: skip
    minutes = (
        "## How are schools handling the new attendance codes?\n\nMost follow the LA note.\n\n"
        f"## #{ids['moderation']} Moderation\n\nPriya leads it.\n\n"
        f"Discussed: {ids['uniform']}\n\n"
        "## Any other business\n\nSEND funding changes were mentioned but not reached.\n"
    )
    sent = send_minutes(cli, tmp_path, minutes)
    assert sent.exit_code == 0, sent.stderr

    text = text_of(minutes_to(app, RUTH))
    raised = text.split("QUESTIONS RAISED\n")[1]
    for key, outcome in (("codes", "discussed at the meeting"),
                         ("moderation", "discussed at the meeting"),
                         ("uniform", "discussed at the meeting"), ("send", "not reached"),
                         ("trips", "not reached")):  # fmt: skip
        who, title = ask[key]
        assert f"  - {title} ({names[who]}): {outcome}\n" in raised, raised
    assert "  - Ofsted framework? (Ruth Evans): deferred to the next meeting\n" in raised
    assert "Discussed:" not in text

    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None and meeting.status == "minuted"
        flags = {i.id: i.discussed for i in meeting_items(session, meeting)}
        assert [i for i, discussed in flags.items() if discussed is False] == sorted(
            [ids["send"], ids["trips"]]
        )
        assert flags[ids["deferred"]] is None  # deferred beforehand: not "not reached"
    shown = json.loads(cli("meetings", "show", "autumn", "--json").stdout)
    assert shown["status"] == "minuted"
