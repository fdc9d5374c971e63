"""Tests for mailflow.planner: ordering, fitting, leftovers, rendering."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.planner import (
    Agenda,
    PlannerItem,
    Slot,
    build_agenda,
    is_aob,
    md_escape,
    render_markdown,
    render_text,
)

STANDING = ("Welcome and apologies", "Matters arising from the last minutes", "Any other business")


def item(
    id: int, kind: str = "agenda", minutes: int | None = None, **kw: object
) -> PlannerItem:  # fmt: skip
    values: dict[str, object] = {
        "id": id,
        "kind": kind,
        "title": f"{kind} {id}",
        "member": f"m{id}@example.org",
        "presenter": f"Member {id}",
        "minutes": minutes,
        "submitted_order": id,
    }
    values.update(kw)
    return PlannerItem(**values)  # type: ignore[arg-type]


def plan(items: list[PlannerItem], meeting: int = 90, **kw: object) -> Agenda:
    options: dict[str, object] = {
        "meeting_minutes": meeting,
        "default_item_minutes": 10,
        "question_minutes": 5,
        "standing_items": STANDING,
        "standing_item_minutes": 5,
    }
    options.update(kw)
    return build_agenda(items, **options)  # type: ignore[arg-type]


def titles(agenda: Agenda) -> list[str]:
    return [s.title for s in agenda.slots]


class TestStanding:
    def test_empty_input_gives_only_standing_items(self) -> None:
        agenda = plan([])
        assert titles(agenda) == list(STANDING)
        assert agenda.total_minutes == 15
        assert (agenda.scheduled, agenda.deferred, agenda.written_answer) == ((), (), ())
        assert all(s.kind == "standing" and s.items == () for s in agenda.slots)

    def test_aob_goes_last_whatever_its_position(self) -> None:
        agenda = plan([item(1)], standing_items=("AOB", "Welcome", "Any other business (brief)"))
        assert titles(agenda) == ["Welcome", "agenda 1", "AOB", "Any other business (brief)"]

    def test_is_aob(self) -> None:
        assert is_aob("Any other business")
        assert is_aob("aob")
        assert is_aob("AOB and close")
        assert not is_aob("Aobelisk review")
        assert not is_aob("Welcome")

    def test_standing_items_longer_than_the_meeting_shrink_last_first(self) -> None:
        agenda = plan([item(1)], meeting=12)
        assert [(s.title, s.minutes) for s in agenda.slots] == [
            ("Welcome and apologies", 5),
            ("Matters arising from the last minutes", 5),
            ("Any other business", 2),
        ]
        assert agenda.deferred == (1,)
        assert agenda.total_minutes == 12

    def test_standing_items_dropped_but_welcome_kept(self) -> None:
        agenda = plan([], meeting=3)
        assert [(s.title, s.minutes) for s in agenda.slots] == [("Welcome and apologies", 3)]
        assert agenda.total_minutes == 3

    def test_zero_length_meeting_keeps_the_welcome(self) -> None:
        agenda = plan([item(1, "question")], meeting=0)
        assert titles(agenda) == ["Welcome and apologies"]
        assert agenda.total_minutes == 0
        assert agenda.written_answer == (1,)

    def test_no_standing_items(self) -> None:
        agenda = plan([item(1)], standing_items=())
        assert titles(agenda) == ["agenda 1"]
        assert agenda.total_minutes == 10


class TestFitting:
    def test_agenda_items_get_their_own_slots(self) -> None:
        agenda = plan([item(1, minutes=20), item(2)])
        assert agenda.slots[2] == Slot("agenda 1", "agenda", 20, (1,), "Member 1")
        assert agenda.slots[3] == Slot("agenda 2", "agenda", 10, (2,), "Member 2")
        assert agenda.scheduled == (1, 2)

    def test_zero_or_negative_request_means_default(self) -> None:
        agenda = plan([item(1, minutes=0), item(2, minutes=-4)])
        assert [s.minutes for s in agenda.slots[2:4]] == [10, 10]

    def test_only_questions(self) -> None:
        agenda = plan([item(i, "question", title=f"Q{i}?") for i in (1, 2, 3)])
        assert titles(agenda) == [STANDING[0], STANDING[1], "Questions", STANDING[2]]
        questions = agenda.slots[2]
        assert (questions.kind, questions.minutes, questions.items) == ("questions", 15, (1, 2, 3))
        assert questions.presenter is None

    def test_question_time_requests_are_ignored(self) -> None:
        agenda = plan([item(1, "question", minutes=40)])
        assert agenda.slots[2].minutes == 5

    def test_questions_after_agenda_items_before_aob(self) -> None:
        agenda = plan([item(1, "question"), item(2), item(3, "question")])
        assert [s.kind for s in agenda.slots] == [
            "standing",
            "standing",
            "agenda",
            "questions",
            "standing",
        ]
        assert agenda.scheduled == (2, 1, 3)

    def test_overfull_defers_agenda_and_writes_answers(self) -> None:
        items = [item(i, minutes=20) for i in range(1, 6)] + [
            item(i, "question") for i in range(6, 9)
        ]
        agenda = plan(items)
        # 75 free minutes: three 20-minute items (60), then three questions (15).
        assert agenda.scheduled == (1, 2, 3, 6, 7, 8)
        assert agenda.deferred == (4, 5)
        assert agenda.reasons[4] == "the meeting's 90 minutes were full"
        assert agenda.total_minutes == 90

    def test_questions_that_do_not_fit_go_to_written_answer(self) -> None:
        agenda = plan([item(1, minutes=70)] + [item(i, "question") for i in (2, 3)])
        assert agenda.scheduled == (1, 2)
        assert agenda.written_answer == (3,)
        assert agenda.reasons[3] == "the meeting's 90 minutes were full"

    def test_request_larger_than_the_meeting(self) -> None:
        agenda = plan([item(1, minutes=120), item(2)])
        assert agenda.deferred == (1,)
        assert agenda.reasons[1] == "asked for 120 minutes; the meeting is 90"
        assert agenda.scheduled == (2,)

    def test_request_larger_than_the_free_time(self) -> None:
        agenda = plan([item(1, minutes=80)])
        assert agenda.deferred == (1,)
        assert agenda.reasons[1] == (
            "asked for 80 minutes; only 75 of the meeting's 90 are free after the standing items"
        )

    def test_smaller_later_items_still_fit(self) -> None:
        agenda = plan([item(1, minutes=60), item(2, minutes=30), item(3, minutes=15)])
        assert agenda.scheduled == (1, 3)
        assert agenda.deferred == (2,)
        assert agenda.total_minutes == 90

    def test_withdrawn_apologies_and_resources_are_ignored(self) -> None:
        items = [
            item(1, status="withdrawn"),
            item(2, "apology"),
            item(3, "resource"),
            item(4, "question", status="withdrawn"),
        ]
        agenda = plan(items)
        assert agenda == plan([])

    def test_coordinator_written_answer_stays(self) -> None:
        agenda = plan([item(1, "question", status="written-answer"), item(2, "question")])
        assert agenda.written_answer == (1,)
        assert agenda.scheduled == (2,)
        assert agenda.reasons[1] == "marked for a written answer by the coordinator"

    def test_previously_scheduled_or_deferred_items_are_planned_again(self) -> None:
        agenda = plan([item(1, status="scheduled"), item(2, status="deferred", carried=1)])
        assert agenda.scheduled == (2, 1)

    def test_items_from_absent_members_are_kept(self) -> None:
        # Apologies are a separate item kind; the member's own items are planned as usual.
        agenda = plan([item(1, "apology", member="a@x.org"), item(2, member="a@x.org")])
        assert agenda.scheduled == (2,)

    @pytest.mark.parametrize(
        ("field", "value"), [("kind", "minutes"), ("status", "maybe"), ("kind", "Question")]
    )
    def test_unknown_kind_or_status(self, field: str, value: str) -> None:
        with pytest.raises(ValueError, match=f"unknown {field}"):
            plan([replace(item(1), kind=value) if field == "kind" else item(1, status=value)])

    def test_negative_lengths(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            plan([], meeting=-1)


class TestOrdering:
    def test_carried_items_first_older_first(self) -> None:
        items = [item(1), item(2, carried=1), item(3, carried=2), item(4, priority=9)]
        assert plan(items).scheduled == (3, 2, 4, 1)

    def test_priority_then_votes_then_arrival(self) -> None:
        items = [
            item(1, votes=3),
            item(2, priority=1),
            item(3, votes=5),
            item(4),
            item(5, votes=-2),
            item(6, priority=1, votes=1),
        ]
        assert plan(items).scheduled == (6, 2, 3, 1, 4, 5)

    def test_submitted_order_breaks_ties_not_id(self) -> None:
        items = [item(1, submitted_order=9), item(2, submitted_order=3)]
        assert plan(items).scheduled == (2, 1)

    def test_carried_items_win_the_last_minutes(self) -> None:
        items = [item(1, minutes=40), item(2, minutes=40, carried=1)]
        agenda = plan(items)
        assert agenda.scheduled == (2,)
        assert agenda.deferred == (1,)

    def test_high_priority_question_beats_low_priority_item(self) -> None:
        items = [item(1, minutes=75), item(2, "question", priority=1)]
        agenda = plan(items)
        assert agenda.scheduled == (2,)
        assert agenda.deferred == (1,)

    def test_input_order_does_not_matter(self) -> None:
        items = [item(i, minutes=(i * 7) % 30 + 5, votes=i % 3) for i in range(1, 12)]
        assert plan(items) == plan(list(reversed(items)))


planner_items = st.lists(
    st.builds(
        PlannerItem,
        id=st.integers(0, 10_000),
        kind=st.sampled_from(["question", "agenda", "apology", "resource"]),
        title=st.text(max_size=20),
        member=st.just("m@example.org"),
        presenter=st.text(max_size=10),
        minutes=st.none() | st.integers(-5, 200),
        priority=st.integers(-3, 3),
        votes=st.integers(-5, 5),
        carried=st.integers(0, 3),
        submitted_order=st.integers(0, 50),
        status=st.sampled_from(
            ["proposed", "scheduled", "deferred", "written-answer", "withdrawn"]
        ),
    ),
    max_size=40,
    unique_by=lambda i: i.id,
)


@settings(max_examples=300)
@given(
    items=planner_items,
    meeting=st.integers(0, 240),
    default=st.integers(0, 60),
    question=st.integers(0, 20),
    standing=st.lists(st.sampled_from(["Welcome", "Matters arising", "AOB", "Notices"])),
    standing_minutes=st.integers(0, 30),
)
def test_total_never_exceeds_the_meeting_and_nothing_is_lost(
    items: list[PlannerItem],
    meeting: int,
    default: int,
    question: int,
    standing: list[str],
    standing_minutes: int,
) -> None:
    agenda = build_agenda(
        items,
        meeting_minutes=meeting,
        default_item_minutes=default,
        question_minutes=question,
        standing_items=standing,
        standing_item_minutes=standing_minutes,
    )
    assert agenda.total_minutes == sum(s.minutes for s in agenda.slots)
    assert agenda.total_minutes <= meeting
    live = {i.id for i in items if i.kind in ("question", "agenda") and i.status != "withdrawn"}
    placed = [*agenda.scheduled, *agenda.deferred, *agenda.written_answer]
    assert sorted(placed) == sorted(live)
    assert set(agenda.reasons) == set(agenda.deferred) | set(agenda.written_answer)
    kinds = {i.id: i.kind for i in items}
    assert all(kinds[i] == "agenda" for i in agenda.deferred)
    if any(not is_aob(t) for t in standing):
        assert agenda.slots[0].kind == "standing"
    json.dumps(agenda.to_json("m"))


class TestJson:
    def test_shape(self) -> None:
        agenda = plan([item(1, minutes=120), item(2), item(3, "question")])
        data = agenda.to_json("autumn-2026")
        assert list(data) == [
            "meeting",
            "total_minutes",
            "slots",
            "deferred",
            "written_answer",
        ]
        assert data["meeting"] == "autumn-2026"
        assert data["total_minutes"] == 30
        assert data["deferred"] == [1]
        assert data["written_answer"] == []
        slots = data["slots"]
        assert isinstance(slots, list)
        assert slots[2] == {
            "title": "agenda 2",
            "kind": "agenda",
            "minutes": 10,
            "items": [2],
            "presenter": "Member 2",
        }
        assert slots[3]["kind"] == "questions"
        assert slots[0]["presenter"] is None
        assert json.loads(json.dumps(data)) == data

    def test_reasons_are_read_only(self) -> None:
        agenda = plan([item(1, minutes=200)])
        assert isinstance(agenda.reasons, MappingProxyType)
        with pytest.raises(TypeError):
            agenda.reasons[2] = "x"  # type: ignore[index]


def sample() -> tuple[Agenda, dict[int, PlannerItem]]:
    items = [
        item(1, minutes=20, title="Budget pressures", presenter="Ann Lee"),
        item(2, "question", title="Who uses *Arbor* for [attendance]?", presenter="Bob Ray"),
        item(3, minutes=120, title="Curriculum review", presenter="Cy Doe"),
        item(4, "question", status="written-answer", title="Cover costs?", presenter="Di Fox"),
    ]
    return plan(items), {i.id: i for i in items}


def test_render_text() -> None:
    agenda, items = sample()
    assert render_text(agenda, items, heading="DHT meeting, 19 November 2026") == (
        "DHT meeting, 19 November 2026\n"
        "=============================\n"
        "\n"
        " 1. Welcome and apologies (5 min)\n"
        " 2. Matters arising from the last minutes (5 min)\n"
        " 3. Budget pressures (20 min) - Ann Lee\n"
        " 4. Questions (5 min)\n"
        "    - Who uses *Arbor* for [attendance]? (Bob Ray)\n"
        " 5. Any other business (5 min)\n"
        "\n"
        "Total: 40 min\n"
        "\n"
        "Deferred to the next meeting:\n"
        "  - Curriculum review (Cy Doe): asked for 120 minutes; the meeting is 90\n"
        "\n"
        "For a written answer:\n"
        "  - Cover costs? (Di Fox): marked for a written answer by the coordinator\n"
    )


def test_render_markdown_escapes_member_text() -> None:
    agenda, items = sample()
    text = render_markdown(agenda, items, heading="DHT meeting")
    assert text.startswith("# DHT meeting\n\n1. **Welcome and apologies** (5 min)\n")
    assert "3. **Budget pressures** (20 min) — Ann Lee\n" in text
    assert "   - Who uses \\*Arbor\\* for \\[attendance\\]? (Bob Ray)\n" in text
    assert "## Deferred to the next meeting\n\n- Curriculum review (Cy Doe): asked for" in text
    assert "## For a written answer\n\n- Cover costs? (Di Fox): marked" in text


def test_render_without_leftovers_or_known_items() -> None:
    agenda = plan([item(7, minutes=200)])
    text = render_text(agenda, {}, heading="H")
    assert "  - item #7: asked for 200 minutes; the meeting is 90\n" in text
    assert "written answer" not in text
    assert "Deferred" not in render_text(plan([]), {}, heading="H")


def test_md_escape() -> None:
    assert md_escape("a_b <script> [x](y) `c`\n# d") == (
        "a\\_b \\<script\\> \\[x\\](y) \\`c\\` \\# d"
    )
