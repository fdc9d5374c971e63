"""Minutes Markdown: actions, due dates, sanitised HTML."""

from __future__ import annotations

from datetime import date

import pytest

from mailflow.minutes import due_date, find_actions, render_minutes

MEMBERS = {"jane smith": "jane@hamble.sch.uk", "tom hughes": "tom@stjames.sch.uk"}
TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("line", "owner", "text"),
    [
        ("- ACTION Jane Smith: send the moderation guide by 2026-12-10", "Jane Smith",
         "send the moderation guide by 2026-12-10"),
        ("ACTION: Tom Hughes: ask the LA", "Tom Hughes", "ask the LA"),
        ("* **Action** Jane Smith: book the room", "Jane Smith", "book the room"),
        ("1. action - Priya Shah: share the list", "Priya Shah", "share the list"),
    ],
)  # fmt: skip
def test_action_lines(line: str, owner: str, text: str) -> None:
    [action] = find_actions(line, MEMBERS, today=TODAY)
    assert (action.owner, action.text) == (owner, text)
    assert action.email == MEMBERS.get(owner.lower())


def test_not_actions() -> None:
    assert find_actions("We discussed actions at length.\nTransaction: none", MEMBERS,
                        today=TODAY) == ()  # fmt: skip


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("send it by 2026-12-10", date(2026, 12, 10)),
        ("send it by 10 December", date(2026, 12, 10)),
        ("send it by 3rd March", date(2027, 3, 3)),
        ("send it by 15 January 2027", date(2027, 1, 15)),
        ("send it soon", None),
        ("send it by 2026-02-30", None),
        ("send it by 31 Smarch", None),
    ],
)
def test_due_dates(text: str, due: date | None) -> None:
    assert due_date(text, today=TODAY) == due


def test_html_is_sanitised_and_actions_found() -> None:
    minutes = render_minutes(
        "## Notes\n\n<script>alert(1)</script>\n<a href='javascript:x()' onclick='y()'>link</a>\n\n"
        "- ACTION Tom Hughes: b\n- ACTION Jane Smith: a by 2026-12-01\n- ACTION Jane Smith: c\n",
        MEMBERS, today=TODAY,
    )  # fmt: skip
    assert "<h2>Notes</h2>" in minutes.html
    assert "<script" not in minutes.html and "javascript:" not in minutes.html
    assert "onclick" not in minutes.html
    assert [(a.email, a.text) for a in minutes.actions] == [
        ("tom@stjames.sch.uk", "b"), ("jane@hamble.sch.uk", "a by 2026-12-01"),
        ("jane@hamble.sch.uk", "c"),
    ]  # fmt: skip
    assert minutes.actions[1].due == date(2026, 12, 1)
