"""The pure command parser: votes, volunteers, poll choices, coordinator commands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailflow.commands import (
    Command,
    VoteCommand,
    coordinator_commands,
    member_commands,
    poll_choice,
)

THEMES = ["Workload", "Accountability without conflict", "The changing curriculum"]


class TestMemberCommands:
    def test_votes_in_every_accepted_spelling(self) -> None:
        found = member_commands("+1 3 7\n-1 #4\n+1 for items #9, 10 and 11\n–1 12")
        assert found.votes == (
            VoteCommand(3, 1), VoteCommand(7, 1), VoteCommand(4, -1), VoteCommand(9, 1),
            VoteCommand(10, 1), VoteCommand(11, 1), VoteCommand(12, -1),
        )  # fmt: skip
        assert found.rest == "" and found.found

    def test_a_later_vote_on_the_same_item_wins(self) -> None:
        assert member_commands("+1 3\n-1 3").votes == (VoteCommand(3, -1),)

    def test_volunteers(self) -> None:
        found = member_commands("answer 5\nI'll answer question #6\n- answer 5")
        assert found.volunteers == (5, 6)

    @pytest.mark.parametrize(
        "line",
        ["+1", "+1 to that", "+12 3", "- 1 3", "+1 10m", "I agree with 3 and 7", "answer me",
         "The answer is 42", "+1 3 because it matters"],
    )  # fmt: skip
    def test_lines_that_are_not_commands_stay_text(self, line: str) -> None:
        found = member_commands(line)
        assert not found.found and found.rest == line

    def test_other_text_is_kept_for_the_item_parser(self) -> None:
        found = member_commands("Q: Who has a SEND policy?\n+1 3\nMore detail here.")
        assert found.votes == (VoteCommand(3, 1),)
        assert found.rest == "Q: Who has a SEND policy?\nMore detail here."

    def test_ids_are_bounded(self) -> None:
        assert not member_commands("+1 12345678901").found

    @pytest.mark.parametrize(
        ("line", "ids"),
        [("done 2", (2,)), ("done 2, 5", (2, 5)), ("Done: #2 and #5.", (2, 5)),
         ("#3 done", (3,)), ("3 done!", (3,)), ("action 3 is done", (3,)),
         ("Action #4 is complete now.", (4,)), ("- actions 6 & 7 done", (6, 7))],
    )  # fmt: skip
    def test_done_closes_actions(self, line: str, ids: tuple[int, ...]) -> None:
        found = member_commands(f"Hi Sam,\n{line}\nThanks")
        assert found.done == ids and found.found
        assert found.rest == "Hi Sam,\nThanks"

    @pytest.mark.parametrize(
        "line", ["Done!", "Done", "All done, thanks", "I'm done with 3 of them"]
    )
    def test_done_without_a_number_is_text(self, line: str) -> None:
        found = member_commands(line)
        assert found.done == () and found.rest == line

    @pytest.mark.parametrize(
        ("text", "votes", "volunteers", "rest"),
        [("Hi all,\n\nI vote for 27 and 3 please", (27, 3), (), "Hi all,"),
         ("Happy to support #9 and #21: +1 9 21", (9, 21), (), ""),
         ("Thanks! +1 for 4.", (4,), (), "Thanks!"),
         ("Happy to back item 8 - we need this.", (8,), (), ""),
         ("answer 27, 18", (), (27, 18), ""),
         ("I can answer 5 and 7 if that's ok.", (), (5, 7), ""),
         ("I'll take question 3. Q: Who runs it?", (), (3,), "Q: Who runs it?")],
    )  # fmt: skip
    def test_commands_in_prose(
        self, text: str, votes: tuple[int, ...], volunteers: tuple[int, ...], rest: str
    ) -> None:
        found = member_commands(text)
        assert tuple(v.item_id for v in found.votes) == votes
        assert found.volunteers == volunteers and found.rest == rest

    @pytest.mark.parametrize(
        "text",
        ["I vote for 3 of them", "We support 30 pupils in the base.",
         "I support the idea of 3 meetings.", "Year 6 answer 4 questions a day."],
    )  # fmt: skip
    def test_numbers_in_prose_that_are_not_commands(self, text: str) -> None:
        assert not member_commands(text).found

    def test_themes_are_proposed(self) -> None:
        found = member_commands(
            "Theme: Workload and wellbeing\nSuggested theme - Ofsted readiness.\n"
            "theme idea: Retention\nThe theme of the day was good"
        )
        assert found.themes == ("Workload and wellbeing", "Ofsted readiness", "Retention")
        assert found.rest == "The theme of the day was good"


class TestPollChoice:
    @pytest.mark.parametrize(
        ("text", "choice"),
        [("2", 2), ("#3", 3), ("Option 1", 1), ("I vote for 2", 2), ("workload", 1),
         ("Workload!", 1), ("curriculum", 3), ("I vote for curriculum", 3),
         ("I'd like accountability please", 2), ("Hi,\n\n2\n\nThanks", 2),
         ("the changing curriculum", 3), ("Option 2 please!", 2), ("Actually, 2", 2),
         ("I'd go for workload", 1), ("+1 2", 2), ("2 please", 2), ("number 2", 2),
         ("My vote is 3, thanks", 3), ("2\n\nSent from my iPhone", 2)],
    )  # fmt: skip
    def test_a_number_or_words_choose(self, text: str, choice: int) -> None:
        assert poll_choice(text, THEMES) == choice

    @pytest.mark.parametrize(
        "text",
        [
            "7",
            "0",
            "workload or curriculum",
            "banana",
            "",
            "1\n3",
            "Thanks",
            "2 or 3",
            "1 and 2 please",
            "Option 2, or 7",
        ],
    )
    def test_unclear_replies_choose_nothing(self, text: str) -> None:
        assert poll_choice(text, THEMES) is None


class TestCoordinatorCommands:
    def test_every_command(self) -> None:
        reply = coordinator_commands(
            "approve\ndefer 7\nmerge 3 5\nmerge 5 into 3\nminutes 4 15\n- Minutes #4: 15 min\n"
        )
        assert [(c.verb, c.args) for c in reply.commands] == [
            ("approve", ()), ("defer", (7,)), ("merge", (3, 5)), ("merge", (3, 5)),
            ("minutes", (4, 15)), ("minutes", (4, 15)),
        ]  # fmt: skip
        assert reply.not_understood == () and not reply.doubtful

    def test_what_is_not_understood_is_returned_not_guessed(self) -> None:
        reply = coordinator_commands("approve\nmove item 4 up\n\nLooks good")
        assert reply.commands == (Command("approve", (), "approve"),)
        assert reply.not_understood == ("move item 4 up", "Looks good")
        assert reply.doubtful  # a number in a line we did not understand

    def test_chatter_without_numbers_is_not_doubtful(self) -> None:
        reply = coordinator_commands("Looks good, thanks\napprove")
        assert reply.not_understood == ("Looks good, thanks",) and not reply.doubtful

    def test_near_misses_are_not_commands(self) -> None:
        reply = coordinator_commands("defer\nmerge 3\nminutes 4\napprove 3\ndefer seven")
        assert reply.commands == ()
        assert len(reply.not_understood) == 5


@given(st.text())
def test_member_commands_never_raise(text: str) -> None:
    found = member_commands(text)
    assert all(v.value in (1, -1) and v.item_id >= 0 for v in found.votes)


@given(st.text(), st.lists(st.text(min_size=1), min_size=2, max_size=5))
def test_poll_choice_never_raises(text: str, options: list[str]) -> None:
    choice = poll_choice(text, options)
    assert choice is None or 1 <= choice <= len(options)


@given(st.text())
def test_coordinator_commands_never_raise(text: str) -> None:
    reply = coordinator_commands(text)
    assert all(c.verb in ("approve", "defer", "merge", "minutes") for c in reply.commands)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(reply.commands) + len(reply.not_understood) == len(lines)
