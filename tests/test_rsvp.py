"""Calendar extras over real SMTP: COUNTER to the coordinator, declines, the quorum warning."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailflow import coordinator, planning, rsvp, tick
from mailflow.app import App
from mailflow.models import Meeting
from tests.conftest import Cli, ConfigFactory, load_mail
from tests.loops import JANE, MARY, RUTH, SAM, Group, address, make_group, outgoing, send, text_of

COORDINATOR = "coordinator@example.org"


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard config with a quorum of three."""
    path = configs.write()
    path.write_text(path.read_text().replace("[group]\n", "[group]\nquorum = 3\n"))
    return path


def uid(app: App, group: Group) -> str:
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        return meeting.uid


def attendance(cli: Cli) -> dict[str, dict[str, Any]]:
    shown = json.loads(cli("meetings", "show", "autumn", "--json").stdout)
    return {a["email"]: a for a in shown["attendance"]}


def test_counter_reaches_the_coordinator(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    to = address(app, "i", group.meeting, group.id(JANE))
    raw = load_mail("rsvp_counter.eml", reply_to=to, uid=uid(app, group), partstat="TENTATIVE",
                    start="20261126T160000", end="20261126T173000",
                    comment="Could we move it a week? Moderation day clashes.")  # fmt: skip
    row = send(server, JANE, to, raw)
    assert row.status == "processed", row.outcome
    assert "proposed a new time: Thursday 26 November 2026, 16:00 GMT" in row.outcome
    for person in (MARY, COORDINATOR):
        [mail] = outgoing(app, to=person)
        assert str(mail["Subject"]) == "Jane Smith proposes a new time for Autumn meeting"
        text = text_of(mail)
        assert "proposed: Thursday 26 November 2026, 16:00 GMT" in text
        assert 'mailflow meetings move autumn --start "2026-11-26 16:00"' in text
        assert "Moderation day clashes" in text
    jane = attendance(cli)[JANE]
    assert (jane["status"], jane["proposed_start"]) == ("tentative", "2026-11-26T16:00:00+00:00")
    assert jane["comment"] == "Could we move it a week? Moderation day clashes."
    assert "Thursday 26 November 2026" in cli("meetings", "show", "autumn").stdout
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        coordinator.send_draft(session, app.settings, meeting, now=app.now())
    draft = text_of(outgoing(app, to=MARY)[-1])
    assert "New times proposed by members:\n  Jane Smith: Thursday 26 November 2026" in draft


def test_decline_counts_as_apologies_in_the_members_words(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    to = address(app, "i", group.meeting, group.id(SAM))
    row = send(server, SAM, to, load_mail("rsvp_decline.eml", reply_to=to, uid=uid(app, group)))
    assert row.status == "processed", row.outcome
    sam = attendance(cli)[SAM]
    assert (sam["status"], sam["counts_as"]) == ("declined", "apologies")
    assert sam["comment"] == "Sorry - Year 6 residential that week."
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        assert [(m.email, w) for m, w in rsvp.apologies(session, meeting)] == [
            (SAM, "Sorry - Year 6 residential that week.")
        ]
        coordinator.send_draft(session, app.settings, meeting, now=app.now())
    draft = text_of(outgoing(app, to=MARY)[-1])
    assert "Apologies:\n  Sam Patel: Sorry - Year 6 residential that week." in draft


def test_quorum_warning_is_sent_once(app: App, server: Any) -> None:
    group = make_group(app)
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        planning.send_invites(session, app.settings, meeting, now=app.now())
    for who in (JANE, RUTH):
        to = address(app, "i", group.meeting, group.id(who))
        raw = load_mail("rsvp_accept.eml", reply_to=to, uid=uid(app, group), sequence="0")
        if who == RUTH:
            raw = raw.replace(JANE.encode(), RUTH.encode()).replace(b"Jane Smith", b"Ruth Evans")
        assert send(server, who, to, raw).status == "processed"

    def warnings(when: datetime) -> list[str]:
        app.clock = lambda: when
        return [line for line in tick.run(app) if line.startswith("autumn: quorum")]

    assert warnings(datetime(2026, 11, 16, 16, 0, tzinfo=UTC)) == []  # 3 days before
    two_days_before = datetime(2026, 11, 17, 17, 0, tzinfo=UTC)
    assert warnings(two_days_before) == ["autumn: quorum warning (2 of 3)"]
    assert warnings(datetime(2026, 11, 18, 9, 0, tzinfo=UTC)) == []
    for person in (MARY, COORDINATOR):
        mails = [m for m in outgoing(app, to=person) if "Autumn meeting" in str(m["Subject"])
                 and str(m["Subject"]).startswith("Below quorum")]  # fmt: skip
        assert len(mails) == 1
        assert str(mails[0]["Subject"]) == "Below quorum: 2 of 3 for Autumn meeting"
        assert "Jane Smith" in text_of(mails[0]) and "Ruth Evans" in text_of(mails[0])
        # a member may leave from any mail; the [group] coordinator address is no member
        assert (mails[0]["List-Unsubscribe"] is not None) == (person == MARY)
