"""Calls for items, agendas and invites, end to end through the CLI and the maildir."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events

from mailflow import tick
from mailflow.app import App
from mailflow.models import Item
from tests.conftest import Cli, ok

MEMBERS = [
    ("jane.smith@hamble.hants.sch.uk", "Jane Smith"),
    ("sam.patel@westend.hants.sch.uk", "Sam Patel"),
    ("ruth.evans@bursledon.hants.sch.uk", "Ruth Evans"),
]


@pytest.fixture
def people(cli: Cli) -> None:
    for address, name in MEMBERS:
        ok(cli("members", "add", address, "--name", name, "--quiet"))


@pytest.fixture
def group(cli: Cli, people: None) -> str:
    ok(cli("meetings", "add", "--title", "Autumn meeting", "--start", "2026-11-19 16:00", "--force",
           "--location", "Teachers' Centre, Room 2"))  # fmt: skip
    meetings = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    return str(meetings[0]["ref"])


def sent(app: App) -> list[EmailMessage]:
    files = sorted(app.settings.maildir.glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]  # type: ignore[misc]


def calendar_of(msg: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    assert parts[0].get_param("method") is not None
    cal = icalendar.Calendar.from_ical(parts[0].get_content())
    assert str(cal["METHOD"]) == parts[0].get_param("method")
    return cal


def add_item(app: App, meeting_ref: str, kind: str, title: str, minutes: int | None = None) -> int:
    from mailflow.meetings import find_meeting
    from mailflow.members import find_member

    with app.session() as session:
        meeting = find_meeting(session, meeting_ref)
        jane = find_member(session, MEMBERS[0][0])
        item = Item(meeting_id=meeting.id, kind=kind, title=title, minutes=minutes,
                    created_at=app.now(), author=MEMBERS[0][0],
                    member_id=jane.id if jane else None)  # fmt: skip
        session.add(item)
        session.flush()
        return item.id


def test_call_for_items_goes_to_every_member_once(cli: Cli, app: App, group: str) -> None:
    add_item(app, group, "question", "Attendance codes?")
    ok(cli("call-for-items", group, "--force"))
    ok(cli("call-for-items", group, "--force"))
    msgs = sent(app)
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in msgs) == sorted(
        a for a, _ in MEMBERS
    )
    for msg in msgs:
        assert msg["Reply-To"].addresses[0].addr_spec.startswith("dht+c")
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Id"] == "Eastleigh DHT Group <dht.example.org>"
        text = msg.get_body(("plain",))
        assert text is not None and "Attendance codes?" in text.get_content()
        assert "Q: your question" in text.get_content()
    replies = {m["Reply-To"].addresses[0].addr_spec for m in msgs}
    assert len(replies) == 3


def test_agenda_json_never_exceeds_the_meeting(cli: Cli, app: App, group: str) -> None:
    for n in range(12):
        add_item(app, group, "agenda", f"Topic {n}", minutes=15)
    data = json.loads(ok(cli("agenda", group, "--format", "json")).stdout)
    assert data["meeting"] == group
    assert data["total_minutes"] <= 90
    assert sum(s["minutes"] for s in data["slots"]) == data["total_minutes"]
    assert len(data["deferred"]) > 0
    for fmt in ("text", "markdown", "html"):
        assert "Topic 0" in ok(cli("agenda", group, "--format", fmt)).stdout
    assert cli("agenda", group, "--format", "pdf").exit_code == 1


def test_invites_move_and_cancel(cli: Cli, app: App, group: str) -> None:
    ok(cli("send-invites", group))
    first = sent(app)
    assert len(first) == 3
    uid = None
    for msg in first:
        assert msg.get_content_type() == "multipart/mixed"
        assert next(msg.iter_parts()).get_content_type() == "multipart/alternative"
        cal = calendar_of(msg)
        assert str(cal["METHOD"]) == "REQUEST"
        [event] = cal.walk("VEVENT")
        uid = uid or str(event["UID"])
        assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 0
        attendees = (
            [str(a) for a in event.get("ATTENDEE") if a]
            if isinstance(event.get("ATTENDEE"), list)
            else [str(event["ATTENDEE"])]
        )
        assert attendees == [f"mailto:{msg['To'].addresses[0].addr_spec}"]
        [occurrence] = recurring_ical_events.of(cal).between(
            datetime(2026, 11, 1), datetime(2026, 12, 1)
        )
        assert occurrence["DTSTART"].dt.astimezone(UTC) == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    ok(cli("send-invites", group))
    assert len(sent(app)) == 3

    ok(cli("meetings", "move", group, "--start", "2026-11-26 16:30", "--force"))
    update = sent(app)[3:]
    assert len(update) == 3
    [event] = calendar_of(update[0]).walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2026, 11, 26, 16, 30, tzinfo=UTC)

    ok(cli("meetings", "cancel", group))
    cancels = sent(app)[6:]
    assert len(cancels) == 3
    cal = calendar_of(cancels[0])
    assert str(cal["METHOD"]) == "CANCEL"
    [event] = cal.walk("VEVENT")
    assert (str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])) == (
        uid,
        2,
        "CANCELLED",
    )
    assert "DTSTART" in event
    shown = json.loads(ok(cli("meetings", "show", group, "--json")).stdout)
    assert shown["status"] == "cancelled" and shown["sequence"] == 2
    assert cli("meetings", "move", group, "--start", "2026-12-01 16:00").exit_code == 1


def test_overfull_agenda_tells_the_askers(cli: Cli, app: App, group: str) -> None:
    ids = [add_item(app, group, "question", f"Question {n}?") for n in range(20)]
    ok(cli("send-invites", group))
    listed = {
        i["id"]: i["status"] for i in json.loads(ok(cli("items", "list", group, "--json")).stdout)
    }
    assert {listed[i] for i in ids} == {"scheduled", "written-answer"}
    outcome = [m for m in sent(app) if str(m["Subject"]).startswith("Your items")]
    assert len(outcome) == 1
    body = outcome[0].get_body(("plain",))
    assert body is not None and "answered in writing" in body.get_content()


def test_tick_twice_sends_each_mail_once(app: App, people: None) -> None:
    def at(*when: int) -> list[str]:
        app.clock = lambda: datetime(*when, tzinfo=UTC)  # type: ignore[misc]
        return tick.run(app)

    assert at(2026, 10, 20, 9, 0) == ["planned autumn-2026"]  # too early for mail
    assert "call for items queued for 3" in " ".join(at(2026, 10, 30, 9, 0))
    assert at(2026, 10, 30, 9, 5) == []
    assert "reminder queued for 3" in " ".join(at(2026, 11, 6, 9, 0))
    assert at(2026, 11, 6, 9, 5) == []
    assert "invites queued for 3" in " ".join(at(2026, 11, 13, 9, 0))
    assert at(2026, 11, 13, 9, 5) == []
    subjects = [str(m["Subject"]).split(":")[0] for m in sent(app)]
    assert sorted(subjects) == ["Call for items"] * 3 + ["Invitation"] * 3 + ["Reminder"] * 3


def test_tick_overlapping_runs_send_once(app: App, people: None) -> None:
    import threading

    app.clock = lambda: datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            tick.run(app)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sent(app)) == 3


def test_time_zone_across_the_clock_change(cli: Cli, app: App) -> None:
    ok(cli("meetings", "add", "--title", "Summer", "--start", "2026-06-18 16:00", "--force"))
    ok(cli("meetings", "add", "--title", "Winter", "--start", "2026-11-19 16:00", "--force"))
    starts = [m["start"] for m in json.loads(ok(cli("meetings", "list", "--json")).stdout)]
    assert starts == ["2026-06-18T16:00:00+01:00", "2026-11-19T16:00:00+00:00"]
    gap = cli("meetings", "add", "--title", "Gap", "--start", "2026-03-29 01:30")
    assert gap.exit_code == 1 and "does not exist" in gap.stderr


def test_plan_term_is_idempotent(cli: Cli, config_file: Path) -> None:
    ok(cli("meetings", "plan-term", "autumn-2026"))
    ok(cli("meetings", "plan-term", "autumn-2026"))
    meetings = json.loads(ok(cli("meetings", "list", "--json")).stdout)
    assert [(m["ref"], m["start"]) for m in meetings] == [
        ("autumn-2026", "2026-11-19T16:00:00+00:00")
    ]
    assert cli("meetings", "plan-term", "spring-2027").exit_code == 1


def test_reply_after_a_move_updates_attendance(cli: Cli, app: App, group: str) -> None:
    import smtplib

    from mailflow.server import InboundServer
    from tests.conftest import free_port, load_mail

    ok(cli("send-invites", group))
    ok(cli("meetings", "move", group, "--start", "2026-11-26 16:00", "--force"))
    jane = MEMBERS[0][0]
    update = [m for m in sent(app) if m["To"].addresses[0].addr_spec == jane][-1]
    [event] = calendar_of(update).walk("VEVENT")
    organizer = str(event["ORGANIZER"]).removeprefix("mailto:")
    srv = InboundServer(app, port=free_port())
    srv.start()
    try:
        for sequence in ("0", "1"):  # a stale answer to the first invite, then the update
            raw = load_mail("rsvp_accept.eml", reply_to=organizer, uid=str(event["UID"]),
                            sequence=sequence)  # fmt: skip
            if sequence == "0":
                raw = raw.replace(b"PARTSTAT=ACCEPTED", b"PARTSTAT=DECLINED")
            with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
                smtp.sendmail(jane, [organizer], raw)
            assert srv.drain()
    finally:
        srv.stop()
    shown = json.loads(ok(cli("meetings", "show", group, "--json")).stdout)
    status = {a["email"]: a["status"] for a in shown["attendance"]}
    assert status[jane] == "accepted"
    assert status[MEMBERS[1][0]] == "needs-action"


def test_weekly_meeting_is_one_recurring_event(cli: Cli, app: App, configs: object) -> None:
    from tests.conftest import ConfigFactory

    assert isinstance(configs, ConfigFactory)
    weekly = configs.write(extra=(
        '\n[[terms]]\nname = "chat-spring"\nstart = "2027-01-04"\nend = "2027-03-26"\n'
        'meeting = "every Monday at 20:00"\ntitle = "#EdLdrs chat"\nduration_minutes = 60\n'
        'closures = ["2027-02-15"]\n'
    ))  # fmt: skip
    for address, name in MEMBERS:
        ok(cli("members", "add", address, "--name", name, "--quiet", config=weekly))
    ok(cli("meetings", "plan-term", "chat-spring", config=weekly))
    ok(cli("send-invites", "chat-spring", "--force", config=weekly))
    cal = calendar_of(sent(App.open(weekly))[0])
    [event] = cal.walk("VEVENT")
    assert "RRULE" in event
    starts = [
        e["DTSTART"].dt
        for e in recurring_ical_events.of(cal).between(datetime(2027, 1, 1), datetime(2027, 4, 1))
    ]
    assert len(starts) == 11  # twelve Mondays, less the closure
    assert all(s.hour == 20 for s in starts)
    assert datetime(2027, 2, 15).date() not in {s.date() for s in starts}
    export = configs.folder / "term.ics"
    ok(cli("calendar", "export", str(export), config=weekly))
    assert len(icalendar.Calendar.from_ical(export.read_bytes()).walk("VEVENT")) == 1
