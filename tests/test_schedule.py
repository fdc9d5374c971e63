"""Tests for mailflow.schedule: local times across BST/GMT, and term rules to meetings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailflow.config import TermConfig
from mailflow.errors import UserError
from mailflow.schedule import (
    PlannedMeeting,
    human_local,
    iso_local,
    parse_local,
    plan_term,
    to_local,
)

LONDON = ZoneInfo("Europe/London")
HALF_TERM = tuple(date(2026, 10, 26) + timedelta(days=i) for i in range(5))


def term(meeting: str, **overrides: object) -> TermConfig:
    values: dict[str, object] = {
        "name": "autumn-2026",
        "start": date(2026, 9, 3),
        "end": date(2026, 12, 18),
        "meeting": meeting,
        "location": "Teachers' Centre, Room 2",
    }
    values.update(overrides)
    return TermConfig(**values)  # type: ignore[arg-type]


def plan(meeting: str, **overrides: object) -> list[PlannedMeeting]:
    return plan_term(
        term(meeting, **overrides), tz=LONDON, default_title="DHT meeting", default_duration=90
    )


def local_days(planned: list[PlannedMeeting]) -> list[str]:
    return [to_local(p.start, LONDON).strftime("%Y-%m-%d %H:%M") for p in planned]


class TestParseLocal:
    def test_winter_time_is_utc(self) -> None:
        assert parse_local("2026-11-19 16:00", LONDON) == datetime(2026, 11, 19, 16, tzinfo=UTC)

    def test_summer_time_is_an_hour_ahead(self) -> None:
        assert parse_local("2026-06-18 16:00", LONDON) == datetime(2026, 6, 18, 15, tzinfo=UTC)

    def test_t_separator_and_whitespace(self) -> None:
        assert parse_local(" 2026-06-18T16:00 ", LONDON) == datetime(2026, 6, 18, 15, tzinfo=UTC)

    def test_result_is_utc_aware(self) -> None:
        assert parse_local("2026-06-18 09:05", LONDON).tzinfo is UTC

    @pytest.mark.parametrize(
        "text", ["", "tomorrow", "2026-11-19", "19/11/2026 16:00", "2026-11-19 16:00:00"]
    )
    def test_bad_format(self, text: str) -> None:
        with pytest.raises(UserError, match="expected YYYY-MM-DD HH:MM"):
            parse_local(text, LONDON)

    @pytest.mark.parametrize("text", ["2026-02-30 10:00", "2026-13-01 10:00", "2026-11-19 24:00"])
    def test_impossible_values(self, text: str) -> None:
        with pytest.raises(UserError, match="bad date and time"):
            parse_local(text, LONDON)

    def test_spring_forward_gap(self) -> None:
        with pytest.raises(UserError, match=r"does not exist .* clocks go forward") as info:
            parse_local("2026-03-29 01:30", LONDON)
        assert "\n" not in str(info.value)

    def test_fall_back_overlap(self) -> None:
        with pytest.raises(UserError, match=r"is ambiguous .* clocks go back"):
            parse_local("2026-10-25 01:30", LONDON)

    def test_times_next_to_the_changes_are_fine(self) -> None:
        assert parse_local("2026-03-29 02:00", LONDON) == datetime(2026, 3, 29, 1, tzinfo=UTC)
        assert parse_local("2026-10-25 02:00", LONDON) == datetime(2026, 10, 25, 2, tzinfo=UTC)

    @given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)))
    def test_round_trip_or_clear_error(self, naive: datetime) -> None:
        text = naive.strftime("%Y-%m-%d %H:%M")
        try:
            when = parse_local(text, LONDON)
        except UserError as exc:
            assert "clocks go" in str(exc)
            return
        assert to_local(when, LONDON).strftime("%Y-%m-%d %H:%M") == text


class TestShowing:
    def test_iso_local_offsets(self) -> None:
        assert iso_local(datetime(2026, 11, 19, 16, tzinfo=UTC), LONDON) == (
            "2026-11-19T16:00:00+00:00"
        )
        assert iso_local(datetime(2026, 6, 18, 15, tzinfo=UTC), LONDON) == (
            "2026-06-18T16:00:00+01:00"
        )

    def test_human_local(self) -> None:
        assert human_local(datetime(2026, 11, 19, 16, tzinfo=UTC), LONDON) == (
            "Thursday 19 November 2026, 16:00 GMT"
        )
        assert human_local(datetime(2026, 6, 18, 15, tzinfo=UTC), LONDON) == (
            "Thursday 18 June 2026, 16:00 BST"
        )

    def test_to_local_refuses_naive(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            to_local(datetime(2026, 6, 18, 15), LONDON)

    def test_other_zone(self) -> None:
        when = datetime(2026, 6, 18, 15, tzinfo=UTC)
        assert iso_local(when, ZoneInfo("America/New_York")) == "2026-06-18T11:00:00-04:00"


class TestFixedTimes:
    def test_one_meeting_takes_the_term_name(self) -> None:
        [meeting] = plan("2026-11-19 16:00")
        assert meeting == PlannedMeeting(
            ref="autumn-2026",
            title="DHT meeting",
            start=datetime(2026, 11, 19, 16, tzinfo=UTC),
            duration_minutes=90,
            location="Teachers' Centre, Room 2",
            rrule=None,
            exdates=(),
        )

    def test_term_title_and_duration_win(self) -> None:
        [meeting] = plan("2026-11-19 16:00", title="Autumn DHT", duration_minutes=60)
        assert (meeting.title, meeting.duration_minutes) == ("Autumn DHT", 60)

    def test_several_times_are_numbered_in_the_order_written(self) -> None:
        planned = plan("2026-09-24 16:00; 2026-11-19 16:00;2026-12-10 15:30")
        assert [p.ref for p in planned] == ["autumn-2026-1", "autumn-2026-2", "autumn-2026-3"]
        assert local_days(planned) == ["2026-09-24 16:00", "2026-11-19 16:00", "2026-12-10 15:30"]
        assert [p.start.hour for p in planned] == [15, 16, 15]

    def test_outside_the_term(self) -> None:
        with pytest.raises(UserError, match="outside term autumn-2026"):
            plan("2027-01-14 16:00")

    def test_on_the_last_day_is_inside(self) -> None:
        assert local_days(plan("2026-12-18 16:00")) == ["2026-12-18 16:00"]

    def test_duplicate_times(self) -> None:
        with pytest.raises(UserError, match="same time"):
            plan("2026-11-19 16:00; 2026-11-19 16:00")

    def test_closure_moves_a_week_later(self) -> None:
        planned = plan("2026-10-29 16:00", closures=HALF_TERM)
        assert local_days(planned) == ["2026-11-05 16:00"]
        # The clocks went back on 25 October, so both days are GMT.
        assert planned[0].start == datetime(2026, 11, 5, 16, tzinfo=UTC)

    def test_closure_move_crossing_the_clock_change_keeps_local_hour(self) -> None:
        planned = plan("2026-10-22 16:00", closures=(date(2026, 10, 22),))
        assert local_days(planned) == ["2026-10-29 16:00"]
        assert planned[0].start == datetime(2026, 10, 29, 16, tzinfo=UTC)

    def test_closure_move_past_the_end(self) -> None:
        with pytest.raises(UserError, match="after the end of term"):
            plan("2026-12-17 16:00", closures=(date(2026, 12, 17),))

    def test_nonexistent_time(self) -> None:
        with pytest.raises(UserError, match="clocks go forward"):
            plan("2026-03-29 01:30", start=date(2026, 1, 5), end=date(2026, 4, 1))


class TestRules:
    def test_second_thursday_of_second_half(self) -> None:
        # Midpoint of 3 Sep..18 Dec is Monday 26 Oct; its Thursdays: 29 Oct, 5 Nov.
        [meeting] = plan("second Thursday of the second half of term at 16:00")
        assert meeting.ref == "autumn-2026"
        assert local_days([meeting]) == ["2026-11-05 16:00"]

    def test_first_half(self) -> None:
        assert local_days(plan("last Friday of the first half of term at 15:00")) == [
            "2026-10-23 15:00"
        ]

    def test_second_half_with_half_term_closure(self) -> None:
        planned = plan("first Thursday of second half of term at 16:00", closures=HALF_TERM)
        assert local_days(planned) == ["2026-11-05 16:00"]

    def test_first_tuesday_of_term(self) -> None:
        [meeting] = plan("first Tuesday of term at 16:00")
        assert local_days([meeting]) == ["2026-09-08 16:00"]
        assert meeting.start == datetime(2026, 9, 8, 15, tzinfo=UTC)

    def test_last_wednesday_of_term(self) -> None:
        assert local_days(plan("last Wednesday of term at 15:30")) == ["2026-12-16 15:30"]

    def test_case_spacing_numbers_and_pm(self) -> None:
        assert local_days(plan("  2nd  THURSDAY of the Second Half of Term at 4pm. ")) == [
            "2026-11-05 16:00"
        ]
        assert local_days(plan("first Tuesday of term at 4:30 pm")) == ["2026-09-08 16:30"]

    def test_each_month(self) -> None:
        planned = plan("second Thursday of each month at 16:00")
        assert [p.ref for p in planned] == [f"autumn-2026-{i}" for i in range(1, 5)]
        assert local_days(planned) == [
            "2026-09-10 16:00",
            "2026-10-08 16:00",
            "2026-11-12 16:00",
            "2026-12-10 16:00",
        ]
        assert [p.start.hour for p in planned] == [15, 15, 16, 16]

    def test_each_month_skips_days_outside_the_term(self) -> None:
        planned = plan("first Monday of every month at 16:00", start=date(2026, 9, 10))
        assert local_days(planned)[0] == "2026-10-05 16:00"
        assert len(planned) == 3

    def test_each_month_closure(self) -> None:
        planned = plan("second Thursday of each month at 16:00", closures=(date(2026, 10, 8),))
        assert local_days(planned)[1] == "2026-10-15 16:00"

    def test_day_that_does_not_exist_in_the_window(self) -> None:
        with pytest.raises(UserError, match="no such day"):
            plan("fourth Monday of term at 16:00", start=date(2026, 9, 1), end=date(2026, 9, 20))

    def test_rules_and_fixed_times_mix(self) -> None:
        planned = plan("first Tuesday of term at 16:00; 2026-12-10 15:30")
        assert [p.ref for p in planned] == ["autumn-2026-1", "autumn-2026-2"]
        assert local_days(planned) == ["2026-09-08 16:00", "2026-12-10 15:30"]

    @pytest.mark.parametrize(
        "rule",
        [
            "whenever suits",
            "fifth Thursday of term at 16:00",
            "second Funday of term at 16:00",
            "second Thursday of term",
            "",
        ],
    )
    def test_unknown_rules_name_the_rule_and_the_forms(self, rule: str) -> None:
        with pytest.raises(UserError, match="accepted forms") as info:
            plan(rule)
        if rule:
            assert repr(rule) in str(info.value)
        assert "every Monday at 20:00" in str(info.value)

    @pytest.mark.parametrize("when", ["25:00", "16:75", "13pm", "16"])
    def test_bad_times(self, when: str) -> None:
        with pytest.raises(UserError, match="bad time"):
            plan(f"first Tuesday of term at {when}")

    def test_rule_landing_in_a_gap(self) -> None:
        with pytest.raises(UserError, match="clocks go forward"):
            plan("last Sunday of term at 01:30", start=date(2026, 3, 1), end=date(2026, 3, 31))

    def test_rule_landing_in_an_overlap(self) -> None:
        with pytest.raises(UserError, match="clocks go back"):
            plan("last Sunday of term at 01:30", start=date(2026, 10, 1), end=date(2026, 10, 31))

    def test_deterministic(self) -> None:
        rule = "second Thursday of each month at 16:00"
        assert plan(rule, closures=HALF_TERM) == plan(rule, closures=HALF_TERM)


class TestWeekly:
    def test_every_monday(self) -> None:
        [meeting] = plan("every Monday at 20:00", closures=(date(2026, 10, 26),))
        assert meeting.ref == "autumn-2026"
        assert local_days([meeting]) == ["2026-09-07 20:00"]
        assert meeting.start == datetime(2026, 9, 7, 19, tzinfo=UTC)
        assert meeting.rrule == "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261218T235959Z"
        assert meeting.exdates == (datetime(2026, 10, 26, 20, tzinfo=UTC),)

    def test_weekly_on(self) -> None:
        assert plan("weekly on Monday at 20:00") == plan("every Monday at 20:00")

    def test_first_day_is_a_closure(self) -> None:
        [meeting] = plan("every Thursday at 20:00", closures=(date(2026, 9, 3),))
        assert local_days([meeting]) == ["2026-09-10 20:00"]
        assert meeting.exdates == ()

    def test_term_starting_on_the_day(self) -> None:
        [meeting] = plan("every Thursday at 20:00")
        assert local_days([meeting]) == ["2026-09-03 20:00"]

    def test_until_is_end_of_the_last_local_day_in_utc(self) -> None:
        [meeting] = plan("every Monday at 19:00", start=date(2026, 4, 20), end=date(2026, 7, 17))
        assert meeting.rrule == "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260717T225959Z"

    def test_exdates_keep_the_local_hour(self) -> None:
        [meeting] = plan("every Monday at 20:00", closures=(date(2026, 10, 19), date(2026, 11, 2)))
        assert [iso_local(d, LONDON) for d in meeting.exdates] == [
            "2026-10-19T20:00:00+01:00",
            "2026-11-02T20:00:00+00:00",
        ]

    def test_all_days_closed(self) -> None:
        with pytest.raises(UserError, match="no such day"):
            plan("every Monday at 20:00", start=date(2026, 9, 7), end=date(2026, 9, 13),
                 closures=(date(2026, 9, 7),))  # fmt: skip

    def test_weekly_must_be_alone(self) -> None:
        with pytest.raises(UserError, match="only meeting rule"):
            plan("every Monday at 20:00; 2026-11-19 16:00")

    def test_weekly_occurrence_in_a_gap(self) -> None:
        with pytest.raises(UserError, match="clocks go forward"):
            plan("every Sunday at 01:30", start=date(2026, 3, 1), end=date(2026, 4, 30))
