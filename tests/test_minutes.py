"""Minutes Markdown: actions, due dates, record lines, outcomes, thanks, sanitised HTML."""

from __future__ import annotations

from datetime import date

import pytest

from mailflow.corrections import only_thanks
from mailflow.minutes import (
    DISCUSSED,
    NOT_REACHED,
    discussed_ids,
    due_date,
    find_actions,
    find_record,
    match_person,
    outcome,
    render_minutes,
)

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


RECORDED = """\
**Present:** Helen Brown (chair), Anna Lee and ben@school.org
- Apologies from: Dev Rao; Eve Hart - governor.
Absent: none
Discussed: 12, #14 and 15
Discussed: the new codes, at length

## #16 Attendance codes
### How are schools handling the new codes?
**Moderation**
"""


def test_record_lines() -> None:
    record = find_record(RECORDED)
    assert record.present == ("Helen Brown", "Anna Lee", "ben@school.org")
    assert (record.apologies, record.absent) == (("Dev Rao", "Eve Hart"), ())
    assert record.discussed == (12, 14, 15) and record.attendance
    assert not find_record("## Notes\n\nFunding is tight: present day budgets.\n").attendance
    rendered = render_minutes(RECORDED, {}, today=TODAY)
    assert "Helen Brown" not in rendered.text and "Discussed: 12" not in rendered.text
    assert "Discussed: the new codes, at length" in rendered.text  # the minutes' own words
    assert "Dev Rao" not in rendered.html


def test_names_are_matched_to_members() -> None:
    people = [("helen@x.org", "Helen Brown"), ("anna@x.org", "Anna Lee"),
              ("anna.k@x.org", "Anna King")]  # fmt: skip
    assert match_person("helen", people) == "helen@x.org"
    assert match_person("  Anna   LEE ", people) == "anna@x.org"
    assert match_person("Anna", people) is None  # two Annas
    assert match_person("Anna King <ANNA.K@x.org>", people) == "anna.k@x.org"
    assert match_person("nobody@x.org", people) is None


def test_discussed_only_when_the_minutes_say_so() -> None:
    titles = {12: "SEND funding", 14: "Uniform policy", 16: "Codes",
              17: "How are schools handling the new codes?", 18: "Moderation",
              19: "Never mentioned", 20: "Trips"}  # fmt: skip
    assert discussed_ids(RECORDED, titles) == {12, 14, 16, 17, 18}
    assert outcome(status="scheduled", discussed=False, answered=False) == NOT_REACHED
    assert outcome(status="scheduled", discussed=True, answered=False) == DISCUSSED
    assert outcome(status="deferred", discussed=False, answered=False) == (
        "deferred to the next meeting"
    )
    assert outcome(status="written-answer", discussed=False, answered=True) == (
        "answered in writing"
    )


@pytest.mark.parametrize(
    ("reply", "thanks"),
    [
        ("Thanks Helen, really useful meeting. See you in June!", True),
        ("Many thanks for the minutes!", True),
        ("Thank you for chairing, have a restful half term!", True),
        ("Cheers, looking forward to the next one\n\nJane", True),
        ("Thanks so much, great meeting!\nJane Smith | Deputy Head | Hamble Primary", True),
        ("Jane Smith was there too, thanks.", False),
        ("Item 4 should say the cluster meets in March, not May.", False),
        ("Thanks for the minutes. One correction: I was there, not on the apologies list.", False),
        ("Thanks - but Ben was present too.", False),
        ("Great minutes, thank you. Small point: the cluster meets in March.", False),
        ("Thanks! " * 60, False),
    ],
)
def test_only_thanks(reply: str, thanks: bool) -> None:
    assert only_thanks(reply, names=["Jane Smith", "Jane"]) is thanks
