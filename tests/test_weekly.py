"""Six weeks of the weekly chat, by `tick` on a controlled clock, with replies over SMTP.

The series "EdLdrs chat" (Mondays 20:00 UK time) is added on a Wednesday. Each week its
theme poll opens, members propose themes and vote as they write ("Option 2 please!",
"Actually, 2"), the poll closes and sets that week's theme, the reminder and the
summary go out with that week's date; one week is cancelled for half-term, one member
declines one week only from Google Calendar, and the series moves to Tuesdays from week
5. Every step runs `tick` twice: the second sends nothing. What members find is read
from the mail they are sent (and its calendars, by icalendar and recurring-ical-events).
"""

from __future__ import annotations

import email
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy import func, select

from mailflow import meetings, members, planning, schedule, series, tick
from mailflow.app import App
from mailflow.models import Item, Meeting, OutboxMessage, Poll
from tests.conftest import Cli, ConfigFactory
from tests.loops import JANE, MARY, RUTH, SAM, address, make_group, send, text_of
from tests.test_calendar_conformance import HERE, ICALJS_DIR, _run

START = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)  # a Wednesday; the chat starts Monday 11th
MONDAYS = [datetime(2027, 1, 11, 20, tzinfo=UTC) + timedelta(weeks=k) for k in range(6)]
HALF_TERM = 2  # week 3 (25 January) is cancelled
MOVED_FROM = 4  # Tuesdays from week 5 (9 February)
LEE, KIM = "lee.brown@fairoak.hants.sch.uk", "kim.green@stokepark.hants.sch.uk"
EVERYONE = (JANE, SAM, RUTH, MARY, LEE, KIM)
CALENDAR = Path(__file__).parent / "mail" / "calendar"
SERIES = """
[series]
theme_options = ["Workload", "Wellbeing", "Assessment"]
"""


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard config with the chat's themes."""
    return configs.write(extra=SERIES)


@pytest.fixture
def chat(app: App) -> Iterator[dict[str, int]]:
    """Six members and the series, added on `START`; returns member ids by address."""
    group = make_group(app, now=START)
    with app.session() as session:
        for email, name in ((LEE, "Lee Brown"), (KIM, "Kim Green")):
            group.ids[email] = members.add_member(session, email=email, name=name, now=START).id
        meetings.add_meeting(session, app.settings, title="EdLdrs chat", start=None, now=START,
                             every="Monday 20:00", duration=60, ref="edldrs",
                             location="https://chat.example.org/edldrs")  # fmt: skip
        series.ensure_coming(session, app.settings, now=START)
    yield group.ids


def outbox_size(app: App) -> int:
    with app.session() as session:
        return int(session.scalar(select(func.count(OutboxMessage.id))) or 0)


def mail_since(app: App, before: int, who: str | None = None) -> list[EmailMessage]:
    """The mail queued after the first `before` rows (optionally only to `who`)."""
    with app.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id).offset(before)
        rows = [r.raw for r in session.scalars(query) if who in (None, r.recipient)]
    return [email.message_from_bytes(raw, policy=policy.default) for raw in rows]  # type: ignore[misc]


def step(app: App, at: datetime) -> list[EmailMessage]:
    """Run `tick` twice at `at`; the second run must queue nothing. Returns the new mail."""
    app.clock = lambda: at
    before = outbox_size(app)
    tick.run(app)
    after = outbox_size(app)
    tick.run(app)
    assert outbox_size(app) == after, f"a second tick at {at} sent mail again"
    return mail_since(app, before)


def to(mails: list[EmailMessage], who: str) -> list[EmailMessage]:
    return [m for m in mails if m["To"].addresses[0].addr_spec == who]


def calendar(msg: EmailMessage) -> icalendar.Calendar | None:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return icalendar.Calendar.from_ical(part.get_content())
    return None


def occurrence(app: App, week: int) -> Meeting:
    """The week's occurrence record (after the move, found by its new date)."""
    with app.session() as session:
        query = select(Meeting).where(Meeting.recurrence_id.is_not(None)).order_by(Meeting.start)
        rows = [m for m in session.scalars(query) if m.ref.startswith("edldrs-2027")]
        return rows[week]


def poll_of(app: App, meeting_id: int) -> Poll:
    with app.session() as session:
        poll = session.scalar(select(Poll).where(Poll.meeting_id == meeting_id))
        assert poll is not None
        return poll


def vote(app: App, server: Any, ids: dict[str, int], poll_id: int, who: str, text: str) -> str:
    """A member's reply to the poll over SMTP; the answer they get back."""
    before = outbox_size(app)
    row = send(server, who, address(app, "p", poll_id, ids[who]), text)
    assert row.status == "processed", row.outcome
    [answer] = mail_since(app, before, who)
    return text_of(answer)


def decline_one_week(app: App, server: Any, ids: dict[str, int], week: int) -> None:
    """Jane declines one date only in Google Calendar ("this event only")."""
    with app.session() as session:
        root = meetings.find_meeting(session, "edldrs")
        uid, series_id = root.uid, root.id
    local = MONDAYS[week].strftime("%Y%m%dT%H%M%S")  # GMT in January: local is UTC
    raw = (CALENDAR / "google_declined_occurrence_with_note.eml").read_text(encoding="utf-8")
    raw = raw.replace("3f9c2a7e-5b1d-4e8a-9c64-0d2b7e1f8a53@example.org", uid)
    raw = raw.replace("RECURRENCE-ID;TZID=Europe/London:20271021T160000",
                      f"RECURRENCE-ID;TZID=Europe/London:{local}")  # fmt: skip
    raw = raw.replace("DTSTART;TZID=Europe/London:20271021T160000",
                      f"DTSTART;TZID=Europe/London:{local}")  # fmt: skip
    data = raw.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    row = send(server, JANE, address(app, "i", series_id, ids[JANE]), data)
    assert row.status == "processed", row.outcome


# each week a third member votes, in their own words
VOTERS = ((RUTH, "I'd go for workload"), (LEE, "+1 2"), (MARY, "Option 2 please!\n\nMary"))


def test_six_weeks_of_the_chat(
    app: App, server: Any, cli: Cli, chat: dict[str, int], tmp_path: Path
) -> None:
    ids = chat
    themes: dict[int, str] = {}
    # Wednesday: the series' invitation goes out at once (one calendar series) and the
    # first week's theme poll opens.
    mails = step(app, START)
    invitation = calendar(to(mails, JANE)[0])
    assert invitation is not None
    [event] = invitation.walk("VEVENT")
    assert "RRULE" in event and str(event["SUMMARY"]) == "EdLdrs chat"
    assert len([m for m in mails if calendar(m) is not None]) == len(EVERYONE)

    for week, monday in enumerate(MONDAYS):
        if week == HALF_TERM:
            _half_term(app, monday)
            continue
        if week == MOVED_FROM:
            _move_to_tuesdays(app)
        start = occurrence(app, week).start
        if week:
            mails = step(app, start - timedelta(hours=143))  # the poll opens
        o = occurrence(app, week)
        poll = poll_of(app, o.id)
        polled = to(mails, KIM)
        assert polled and "Theme for EdLdrs chat on" in str(polled[-1]["Subject"])
        if week == 0:
            # a member proposes a theme; the coordinator approves it; it is option 4
            answer = vote(app, server, ids, poll.id, JANE, "Hi all,\n\nTheme: Curriculum change\n")
            assert "once the coordinator approves it" in answer
            approved = cli("polls", "options", str(poll.id), "--approve", "1")
            assert approved.exit_code == 0 and "is option 4" in approved.stdout
        # votes as members write them; Sam changes his mind and is told
        third = VOTERS[week % len(VOTERS)]
        for who, text in ((JANE, "2"), (SAM, "1"), third, (SAM, "Actually, 2")):
            answer = vote(app, server, ids, poll.id, who, text)
            assert "Your vote in" in answer, answer
        assert "It replaces your earlier vote, 1. Workload." in answer
        # the poll reminder goes once, to those who have not voted yet
        mails = step(app, start - timedelta(hours=71))
        reminded = {m["To"].addresses[0].addr_spec for m in mails}
        assert reminded == set(EVERYONE) - {JANE, SAM, third[0]}
        # the poll closes: most votes for option 2 (Wellbeing)
        step(app, start - timedelta(hours=47))
        shown = json.loads(cli("polls", "show", str(poll.id), "--json").stdout)
        assert shown["status"] == "closed"
        themes[week] = shown["winner"]
        assert themes[week] == "Wellbeing"
        # the week's reminder carries this week's date and theme
        mails = step(app, start - timedelta(hours=23))
        [reminder] = to(mails, RUTH)
        when = schedule.human_local(start, app.settings.group.tz)
        assert str(reminder["Subject"]) == f"EdLdrs chat: Wellbeing: {when}"
        assert "This week's theme, chosen by poll: Wellbeing" in text_of(reminder)
        # after the chat, the summary the coordinator wrote, with that week's date
        if week != 5:
            summaries = app.settings.path(app.settings.series.summary_dir)
            summaries.mkdir(exist_ok=True)
            (summaries / f"{o.ref}.md").write_text(f"We talked about {themes[week]}.\n")
        mails = step(app, start + timedelta(hours=2, minutes=30))
        if week == 5:
            assert not [m for m in mails if "Minutes of" in text_of(m)]
        else:
            [summary] = to(mails, SAM)
            assert f"Minutes of EdLdrs chat, {when}" in text_of(summary)
            assert "We talked about Wellbeing." in text_of(summary)
        if week == 0:
            decline_one_week(app, server, ids, 1)

    # Jane declined week 2 only: absent that week, the series' default elsewhere
    for week, status in ((1, "declined"), (3, "needs-action")):
        shown = json.loads(cli("meetings", "show", occurrence(app, week).ref, "--json").stdout)
        jane = next(a for a in shown["attendance"] if a["email"] == JANE)
        assert (jane["status"], shown["series"]) == (status, "edldrs")
    _what_calendars_show(app, tmp_path)
    # no call for items ever went out, and no theme idea or vote became an item
    with app.session() as session:
        subjects = session.scalars(select(OutboxMessage.subject)).all()
        assert not [s for s in subjects if s.startswith("Call for items")]
        assert session.scalar(select(func.count(Item.id))) == 0


def _half_term(app: App, monday: datetime) -> None:
    """Week 3 is cancelled the week before: one per-occurrence CANCEL each, then silence."""
    app.clock = lambda: monday - timedelta(days=7)
    before = outbox_size(app)
    with app.session() as session:
        o = meetings.find_meeting(session, "edldrs-2027-01-25")
        planning.cancel_meeting(session, app.settings, o, now=app.now())
    cancels = mail_since(app, before)
    assert len(cancels) == len(EVERYONE)
    cal = calendar(to(cancels, RUTH)[0])
    assert cal is not None and str(cal["METHOD"]) == "CANCEL"
    [event] = cal.walk("VEVENT")
    assert event["RECURRENCE-ID"].dt.astimezone(UTC) == monday and "RRULE" not in event
    for hours in (143, 71, 47, 23, -3):
        assert step(app, monday - timedelta(hours=hours)) == []


def _move_to_tuesdays(app: App) -> None:
    """After week 4's chat the coordinator moves the series to Tuesdays from 9 February."""
    app.clock = lambda: MONDAYS[3] + timedelta(days=1)
    before = outbox_size(app)
    with app.session() as session:
        root = meetings.find_meeting(session, "edldrs")
        moved = series.move_series(session, app.settings, root,
                                   datetime(2027, 2, 9, 20, tzinfo=UTC), now=app.now())  # fmt: skip
        assert moved.ended is not None and moved.ended.ref == "edldrs-to-2027-02-01"
    sent = mail_since(app, before, JANE)
    assert len(sent) == 2  # the old series ended (UNTIL), the new one from Tuesday
    assert step(app, app.now()) == []  # nothing else is due


def _what_calendars_show(app: App, folder: Path) -> None:
    """Jane's calendar, from the newest invitation of each series she was sent: Mondays
    until the move (half-term skipped), Tuesdays from then on."""
    newest: dict[str, Any] = {}
    for msg in mail_since(app, 0, JANE):
        cal = calendar(msg)
        if cal is None or str(cal["METHOD"]) != "REQUEST":
            continue
        for event in cal.walk("VEVENT"):
            key = f"{event['UID']}|{event.get('RECURRENCE-ID', '')}"
            if key not in newest or int(event["SEQUENCE"]) >= int(newest[key]["SEQUENCE"]):
                newest[key] = event
    first = calendar(mail_since(app, 0, JANE)[0])
    assert first is not None
    merged = icalendar.Calendar.from_ical(first.to_ical())
    merged.subcomponents = [c for c in merged.subcomponents if c.name == "VTIMEZONE"]
    merged.subcomponents += list(newest.values())
    found = recurring_ical_events.of(merged).between(datetime(2027, 1, 1), datetime(2027, 2, 24))
    starts = sorted(e["DTSTART"].dt for e in found)
    shown = [s.strftime("%a %d %b %H:%M") for s in starts]
    node = shutil.which("node")
    if node and (ICALJS_DIR / "node_modules" / "ical.js").is_dir():  # Thunderbird's reader
        path = folder / "jane.ics"
        path.write_bytes(merged.to_ical())
        [read] = _run([node, HERE / "icaljs_expand.mjs", ICALJS_DIR, path]).values()
        spans = read["spans"]
        assert isinstance(spans, list)
        in_range = sorted(s for s, _ in spans if s < datetime(2027, 2, 24, tzinfo=UTC).timestamp())
        assert in_range == [int(s.timestamp()) for s in starts]
    assert shown == [
        "Mon 11 Jan 20:00", "Mon 18 Jan 20:00", "Mon 01 Feb 20:00",
        "Tue 09 Feb 20:00", "Tue 16 Feb 20:00", "Tue 23 Feb 20:00",
    ]  # fmt: skip


def test_demo_plays_three_weeks(tmp_path: Path) -> None:
    from mailflow import demo_weekly

    said: list[str] = []
    maildir = demo_weekly.run(tmp_path / "demo", said.append)
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(maildir.glob("*.eml"))]  # fmt: skip
    to_jane = [m for m in mails if JANE in str(m["To"])]
    summaries = [text_of(m) for m in to_jane if "Minutes of #EdLdrs chat" in text_of(m)]
    days = {line.split(",")[1].strip() for s in summaries for line in s.splitlines()
            if line.startswith("Minutes of")}  # fmt: skip
    assert len(summaries) == 3 and len(days) == 3  # one each week, each with its own date
    reminders = [
        str(m["Subject"]) for m in to_jane if str(m["Subject"]).startswith("#EdLdrs chat:")
    ]
    assert len(set(reminders)) == 3 and all(": Monday " in r for r in reminders)
    assert any("declined that week" in line for line in said)
    assert sum("poll" in line and "closed:" in line for line in said) == 3
