"""Series from the command line and by `tick`: one calendar series, a record per date.

`meetings add --every` (with or without --start, with --until), `meetings list` and
`show --json` (the `series` key), occurrence refs wherever a MEETING is taken, moving
and cancelling one date or the whole series (with --dry-run and the guards), a series
that started in the past, and two ticks at the same moment.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import pytest
from sqlalchemy import func, select

from mailflow import meetings, schedule, tick
from mailflow import members as members_
from mailflow.app import App
from mailflow.errors import UserError
from mailflow.models import Meeting, OutboxMessage
from tests.conftest import Cli, ok
from tests.loops import JANE, MARY, RUTH, SAM, outgoing

LONDON = schedule.ZoneInfo("Europe/London")


def local(days: int, at: str = "20:00") -> str:
    """The local date `days` from today, at `at`, as the CLI takes it."""
    return f"{(datetime.now(LONDON) + timedelta(days=days)).date().isoformat()} {at}"


def next_monday() -> date:
    today = datetime.now(LONDON).date()
    return today + timedelta(days=(0 - today.weekday()) % 7 or 7)


@pytest.fixture
def members(app: App) -> None:
    """Four members, no meetings."""
    with app.session() as session:
        for email in (JANE, SAM, RUTH, MARY):
            members_.add_member(session, email=email, name=email.split(".")[0].title(),
                                now=datetime.now(UTC))  # fmt: skip


def sent(app: App) -> int:
    with app.session() as session:
        return int(session.scalar(select(func.count(OutboxMessage.id))) or 0)


def test_every_with_and_without_start(cli: Cli, members: None) -> None:
    added = ok(cli("meetings", "add", "--title", "EdLdrs", "--every", "Monday 20:00",
                   "--duration", "60"))  # fmt: skip
    first = next_monday()
    assert f"next occurrence: edldrs-{first.isoformat()}" in added.stdout
    listed = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    occurrences = [m for m in listed if m["series"] == "edldrs"]
    assert [m["ref"] for m in occurrences] == [
        f"edldrs-{(first + timedelta(weeks=k)).isoformat()}" for k in range(4)
    ]  # the next few, not every week to come
    later = f"edldrs-{(first + timedelta(weeks=30)).isoformat()}"  # made when first named
    assert json.loads(ok(cli("items", "list", later, "--json")).stdout) == []
    assert json.loads(ok(cli("meetings", "show", later, "--json")).stdout)["series"] == "edldrs"
    shown = json.loads(ok(cli("meetings", "show", occurrences[1]["ref"], "--json")).stdout)
    series = next(m for m in listed if m["ref"] == "edldrs")
    assert (shown["series"], shown["uid"], series["series"]) == ("edldrs", series["uid"], None)
    assert series["rrule"] == "FREQ=WEEKLY;BYDAY=MO"

    start = (first + timedelta(days=1)).isoformat()
    until = (first + timedelta(weeks=10)).isoformat()
    ok(cli("meetings", "add", "--title", "Fortnightly", "--every", "every other Tuesday 19:30",
           "--start", f"{start} 19:30", "--until", until))  # fmt: skip
    listed = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    fortnightly = next(m for m in listed if m["ref"] == "fortnightly")
    assert fortnightly["rrule"].startswith("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=")
    dates = [m["start"][:10] for m in listed if m["series"] == "fortnightly"]
    assert dates[:2] == [start, (first + timedelta(days=15)).isoformat()]
    ok(cli("meetings", "add", "--title", "Monthly", "--every",
           "second Tuesday of each month at 16:00"))  # fmt: skip
    monthly = json.loads(ok(cli("meetings", "show", "monthly", "--json")).stdout)
    assert monthly["rrule"] == "FREQ=MONTHLY;BYDAY=2TU"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "Monday 20:00", "--start", "2099-01-06 20:00"], "not on --every's day"),
        (["--every", "now and then"], "--every 'now and then': expected"),
        (["--every", "Monday 20:00", "--until", "2001-01-01"], "before the series' first"),
        (["--start", local(-2, "16:00")], "is in the past; use --force"),
        (["--until", "2099-01-01"], "--start is required"),
    ],
)
def test_bad_series_are_refused_in_one_line(
    cli: Cli, members: None, args: list[str], message: str
) -> None:
    result = cli("meetings", "add", "--title", "Chat", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert json.loads(ok(cli("meetings", "list", "--json")).stdout) == []


def test_move_and_cancel_one_date(app: App, cli: Cli, members: None) -> None:
    ok(cli("meetings", "add", "--title", "EdLdrs", "--every", "Monday 20:00", "--duration", "60"))
    first, second = (next_monday() + timedelta(weeks=k) for k in (1, 2))
    # never announced: cancelling sends nothing and says so
    before = sent(app)
    quiet = ok(cli("meetings", "cancel", f"edldrs-{second.isoformat()}"))
    assert "nothing sent" in quiet.stdout and sent(app) == before
    ok(cli("send-invites", "edldrs", "--force"))
    invited = sent(app)
    ref = f"edldrs-{first.isoformat()}"
    dry = ok(cli("meetings", "move", ref, "--start", f"{first + timedelta(days=1)} 19:00",
                 "--dry-run"))  # fmt: skip
    assert "dry run: nothing sent" in dry.stdout and sent(app) == invited
    assert json.loads(ok(cli("meetings", "show", ref, "--json")).stdout)["sequence"] == 0
    ok(cli("meetings", "move", ref, "--start", f"{first + timedelta(days=1)} 19:00"))
    update = [m for m in outgoing(app, to=JANE) if "invite.ics" in str(m)][-1]
    [part] = [p for p in update.walk() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(part.get_content())
    [event] = cal.walk("VEVENT")
    assert "RRULE" not in event and int(event["SEQUENCE"]) == 1
    assert event["RECURRENCE-ID"].dt.date() == first
    assert event["DTSTART"].dt.date() == first + timedelta(days=1)
    past = cli("meetings", "move", ref, "--start", local(-1, "19:00"))
    assert past.exit_code == 1 and "in the past; use --force" in past.stderr
    missing = cli("meetings", "cancel", f"edldrs-{(first + timedelta(days=2)).isoformat()}")
    assert missing.exit_code == 1 and "no meeting" in missing.stderr


def test_a_series_that_started_in_the_past_picks_up(app: App, members: None) -> None:
    now = datetime(2027, 2, 3, 12, tzinfo=UTC)
    app.clock = lambda: now
    with app.session() as session:
        meetings.add_meeting(session, app.settings, title="Chat", start="2026-09-07 20:00",
                             every="Monday 20:00", now=now, duration=60)  # fmt: skip
    done = tick.run(app)
    assert any("series invitation" in line for line in done)
    assert any("chat-2027-02-08: theme poll" in line for line in done)
    with app.session() as session:
        refs = session.scalars(select(Meeting.ref).where(Meeting.recurrence_id.is_not(None)))
        assert min(refs) == "chat-2027-02-08"  # nothing for the weeks already past


def test_two_ticks_at_once_send_everything_once(app: App, members: None) -> None:
    now = datetime(2027, 2, 3, 12, tzinfo=UTC)
    with app.session() as session:
        meetings.add_meeting(session, app.settings, title="Chat", start="2027-02-08 20:00",
                             every="Monday 20:00", now=now, duration=60)  # fmt: skip
    errors: list[Exception] = []

    def run(clone: App) -> None:
        try:
            tick.run(clone)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    apps = [App.from_settings(app.settings) for _ in range(2)]
    for clone in apps:
        clone.clock = lambda: now
    threads = [threading.Thread(target=run, args=(clone,)) for clone in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for clone in apps:
        clone.close()
    assert errors == []
    with app.session() as session:
        rows = session.execute(select(OutboxMessage.recipient, OutboxMessage.subject)).all()
        assert len(rows) == len(set(rows)) == 8  # the invitation and the poll, to each of 4
        polls = session.scalar(select(func.count()).select_from(Meeting).where(
            Meeting.recurrence_id.is_not(None)))  # fmt: skip
        assert polls == app.settings.series.lookahead_weeks


def test_moving_a_series_that_has_not_started_keeps_its_uid(
    app: App, cli: Cli, members: Any
) -> None:
    ok(cli("meetings", "add", "--title", "EdLdrs", "--every", "Monday 20:00", "--duration", "60"))
    before = json.loads(ok(cli("meetings", "show", "edldrs", "--json")).stdout)
    tuesday = next_monday() + timedelta(days=1)
    moved = ok(cli("meetings", "move", "edldrs", "--start", f"{tuesday} 20:00"))
    assert "series so far" not in moved.stdout
    after = json.loads(ok(cli("meetings", "show", "edldrs", "--json")).stdout)
    assert (after["uid"], after["rrule"], after["sequence"]) == (
        before["uid"],
        "FREQ=WEEKLY;BYDAY=TU",
        1,
    )
    listed = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    assert next(m["ref"] for m in listed if m["series"] == "edldrs") == f"edldrs-{tuesday}"


def test_schedule_reads_every_form() -> None:
    assert schedule.parse_every("every other Monday at 8pm").rrule() == (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
    )
    assert schedule.parse_every("last Friday of the month 9:30").rrule() == (
        "FREQ=MONTHLY;BYDAY=-1FR"
    )
    with pytest.raises(UserError):
        schedule.parse_every("Monday 25:00")
    start = datetime(2027, 1, 12, 16, tzinfo=UTC)  # second Tuesday of January, 16:00 GMT
    found = schedule.occurrences(start, "FREQ=MONTHLY;BYDAY=2TU", LONDON, after=start, count=3)
    assert found == [
        start,
        datetime(2027, 2, 9, 16, tzinfo=UTC),
        datetime(2027, 3, 9, 16, tzinfo=UTC),
    ]
    summer = schedule.occurrences(start, "FREQ=MONTHLY;BYDAY=2TU", LONDON, after=start, count=5)
    assert summer[-1] == datetime(2027, 5, 11, 15, tzinfo=UTC)  # 16:00 BST


def test_moving_a_series_under_way_splits_it(app: App, cli: Cli, members: Any) -> None:
    monday = next_monday() - timedelta(weeks=3)
    ok(cli("meetings", "add", "--title", "EdLdrs", "--every", "Monday 20:00", "--duration", "60",
           "--start", f"{monday} 20:00", "--force"))  # fmt: skip
    ok(cli("send-invites", "edldrs", "--force"))
    before = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    tuesday = next_monday() + timedelta(weeks=1, days=1)
    dry = ok(cli("meetings", "move", "edldrs", "--start", f"{tuesday} 20:00", "--dry-run"))
    assert "would go to 8 recipient(s)" in dry.stdout  # the old series' end, the new series
    assert json.loads(ok(cli("meetings", "list", "--json")).stdout) == before
    moved = ok(cli("meetings", "move", "edldrs", "--start", f"{tuesday} 20:00"))
    ended = f"edldrs-to-{next_monday().isoformat()}"
    assert f"the series so far is {ended}" in moved.stdout
    old = json.loads(ok(cli("meetings", "show", ended, "--json")).stdout)
    new = json.loads(ok(cli("meetings", "show", "edldrs", "--json")).stdout)
    assert (old["uid"], old["series"]) == (before[0]["uid"], "edldrs") and new["uid"] != old["uid"]
    assert old["rrule"].startswith("FREQ=WEEKLY;BYDAY=MO;UNTIL=")
    assert new["rrule"] == "FREQ=WEEKLY;BYDAY=TU"
    refused = cli("meetings", "move", ended, "--start", f"{tuesday} 19:00")
    assert refused.exit_code == 1 and "move edldrs or one of its dates" in refused.stderr
