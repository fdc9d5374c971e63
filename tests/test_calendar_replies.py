"""Calendar replies as Outlook, Google, Apple and Thunderbird send them, over real SMTP.

The fixtures in tests/mail/calendar/ answer one weekly series ("Autumn DHT meeting",
Thursdays 16:00 from 7 October 2027): each client's accept, decline and tentative, a
COUNTER, and answers about one occurrence (21 October: Google's "this event only",
Outlook's and Apple's). Each must be recorded as the member meant it: the right status,
their own words (never the client's event lines), on that occurrence's record only when
that is what they answered (the series' answer stays every other date's), no
acknowledgement mail, and the same reading from `mailflow inbox parse` as from the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import itip, meetings, mime
from mailflow import series as series_
from mailflow.app import App
from mailflow.members import find_member
from mailflow.models import Attendance, Item, Meeting
from tests.conftest import AUTHSERV, Cli
from tests.loops import JANE, RUTH, SAM, address, make_group, outgoing, send

CALENDAR = Path(__file__).parent / "mail" / "calendar"
NOW = datetime(2027, 10, 1, 9, 0, tzinfo=UTC)
UID = "3f9c2a7e-5b1d-4e8a-9c64-0d2b7e1f8a53@example.org"
GROUP = "dht@example.org"
OCCURRENCE = datetime(2027, 10, 21, 15, 0, tzinfo=UTC)  # Thursday 21 October, 16:00 BST
OCCURRENCE_REF = "autumn-dht-2027-10-21"


@dataclass(frozen=True)
class Expected:
    """What a fixture must record."""

    member: str
    status: str
    comment: str = ""
    proposed: datetime | None = None  # a COUNTER's new start (UTC)


WHOLE_SERIES = {
    "outlook_accepted.eml": Expected(SAM, "accepted"),
    "outlook_declined.eml": Expected(
        SAM, "declined", "Sorry, I'm on the NPQH course on Thursdays this term."
    ),
    "outlook_tentative.eml": Expected(
        SAM, "tentative", "Depends on cover - I'll confirm by Monday."
    ),
    "outlook_counter.eml": Expected(
        SAM,
        "tentative",
        "Could we start at half past? I teach until four.",
        datetime(2027, 10, 7, 15, 30, tzinfo=UTC),
    ),
    "google_accepted.eml": Expected(JANE, "accepted"),
    "google_declined.eml": Expected(JANE, "declined"),
    "google_tentative_with_note.eml": Expected(JANE, "tentative", "I'll know by Friday"),
    "google_counter.eml": Expected(
        JANE, "accepted", "Could we start an hour later?", datetime(2027, 10, 7, 16, 0, tzinfo=UTC)
    ),
    "apple_accepted.eml": Expected(RUTH, "accepted"),
    "apple_declined.eml": Expected(RUTH, "declined"),
    "thunderbird_accepted.eml": Expected(JANE, "accepted"),
    "thunderbird_declined.eml": Expected(JANE, "declined", "Away on the Y6 residential, sorry."),
    "thunderbird_tentative.eml": Expected(JANE, "tentative"),
    "thunderbird_counter.eml": Expected(
        JANE, "tentative", "Could we start at 16:30?", datetime(2027, 10, 7, 15, 30, tzinfo=UTC)
    ),
}
ONE_OCCURRENCE = {
    "google_declined_occurrence_with_note.eml": Expected(
        JANE, "declined", "Sorry, parents' evening that night"
    ),
    "outlook_declined_occurrence.eml": Expected(
        SAM, "declined", "Parents' evening that night, sorry."
    ),
    "apple_tentative_occurrence.eml": Expected(RUTH, "tentative"),
}
ALL = WHOLE_SERIES | ONE_OCCURRENCE
# Each member's answer to the whole series, sent before one about an occurrence.
WHOLE_SERIES_OF = {SAM: "outlook_accepted.eml", JANE: "google_accepted.eml",
                   RUTH: "apple_accepted.eml"}  # fmt: skip


def fixture(name: str) -> bytes:
    """A fixture's bytes with CRLF line ends, as it travels over SMTP."""
    text = (CALENDAR / name).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def calendar_part(name: str) -> str:
    """The fixture's text/calendar part, decoded as the server decodes it."""
    return mime.parse_mail(fixture(name)).calendars[0]


@pytest.fixture
def series(app: App) -> int:
    """The group and the weekly series the fixtures answer; returns the series' id."""
    return _series_in(app)


def _series_in(app: App) -> int:
    """Make the group and the weekly series the fixtures answer; returns the series' id."""
    make_group(app, now=NOW)
    with app.session() as session:
        meeting = meetings.add_meeting(
            session, app.settings, title="Autumn DHT meeting", start="2027-10-07 16:00",
            duration=90, now=NOW, location="Teachers' Centre, Room 2", ref="autumn-dht",
        )  # fmt: skip
        meeting.uid, meeting.rrule = UID, "FREQ=WEEKLY;BYDAY=TH;UNTIL=20271216T160000Z"
        series_.ensure_coming(session, app.settings, now=NOW)
        return meeting.id


def invite_address(app: App, meeting_id: int, who: str) -> str:
    """The member's signed invite address (the ORGANIZER of their copy of the invite)."""
    with app.session() as session:
        member = find_member(session, who)
        assert member is not None
        return address(app, "i", meeting_id, member.id)


def answer(app: App, meeting_id: int, who: str) -> Attendance | None:
    """The member's attendance row for the whole meeting, if any."""
    with app.session() as session:
        rows = session.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id))
        return next((r for r in rows if r.member.email == who), None)


def occurrence_id(app: App) -> int:
    """The record of the occurrence the fixtures answer (21 October)."""
    with app.session() as session:
        return meetings.find_meeting(session, OCCURRENCE_REF).id


def shown_status(cli: Cli, ref: str, who: str) -> str:
    """The member's status as `meetings show REF --json` gives it."""
    result = cli("meetings", "show", ref, "--json")
    assert result.exit_code == 0, result.stderr
    return next(a["status"] for a in json.loads(result.stdout)["attendance"] if a["email"] == who)


def items_of(app: App, meeting_id: int) -> list[Item]:
    """The meeting's items, oldest first."""
    with app.session() as session:
        query = select(Item).where(Item.meeting_id == meeting_id).order_by(Item.id)
        return list(session.scalars(query))


class TestReading:
    """The calendar part of every fixture, read by `itip` (pure)."""

    @pytest.mark.parametrize("name", sorted(ALL))
    def test_attendee_status_and_words(self, name: str) -> None:
        expected = ALL[name]
        reply = itip.parse_calendar_reply(calendar_part(name))
        assert (reply.uid, reply.attendee, reply.partstat) == (
            UID,
            expected.member,
            expected.status,
        )
        assert reply.method == ("COUNTER" if expected.proposed else "REPLY")
        assert reply.proposed_start == expected.proposed

    @pytest.mark.parametrize("name", sorted(ONE_OCCURRENCE))
    def test_the_occurrence_in_utc(self, name: str) -> None:
        assert itip.parse_calendar_reply(calendar_part(name)).recurrence_id == OCCURRENCE

    @pytest.mark.parametrize("name", sorted(WHOLE_SERIES))
    def test_no_occurrence_for_the_whole_series(self, name: str) -> None:
        assert itip.parse_calendar_reply(calendar_part(name)).recurrence_id is None

    def test_google_note_from_x_response_comment(self) -> None:
        reply = itip.parse_calendar_reply(calendar_part("google_declined_occurrence_with_note.eml"))
        assert reply.comment == "Sorry, parents' evening that night"

    def test_comment_property_first(self) -> None:
        reply = itip.parse_calendar_reply(calendar_part("thunderbird_declined.eml"))
        assert reply.comment == "Away on the Y6 residential, sorry."


class TestRecorded:
    """Each fixture sent to the member's signed invite address of a running server."""

    @pytest.mark.parametrize("name", sorted(WHOLE_SERIES))
    def test_whole_series(self, app: App, server: Any, series: int, name: str) -> None:
        expected = WHOLE_SERIES[name]
        row = send(server, expected.member, invite_address(app, series, expected.member),
                   fixture(name))  # fmt: skip
        assert row.status == "processed", row.outcome
        assert f"attendance {expected.status} for autumn-dht" in row.outcome
        recorded = answer(app, series, expected.member)
        assert recorded is not None
        assert (recorded.status, recorded.comment) == (expected.status, expected.comment)
        assert recorded.proposed_start == expected.proposed
        assert outgoing(app, to=expected.member) == []  # no acknowledgement
        assert items_of(app, series) == []

    @pytest.mark.parametrize("name", sorted(ONE_OCCURRENCE))
    def test_one_occurrence_leaves_the_series_alone(
        self, app: App, server: Any, series: int, name: str, cli: Cli
    ) -> None:
        expected = ONE_OCCURRENCE[name]
        to = invite_address(app, series, expected.member)
        first = send(server, expected.member, to, fixture(WHOLE_SERIES_OF[expected.member]))
        assert first.status == "processed", first.outcome
        row = send(server, expected.member, to, fixture(name))
        assert row.status == "processed", row.outcome
        assert f"attendance {expected.status} for {OCCURRENCE_REF}" in row.outcome
        series_answer = answer(app, series, expected.member)
        assert series_answer is not None and series_answer.status == "accepted"
        recorded = answer(app, occurrence_id(app), expected.member)
        assert recorded is not None
        assert (recorded.status, recorded.comment) == (expected.status, expected.comment)
        assert outgoing(app, to=expected.member) == []
        assert items_of(app, series) == [] and items_of(app, occurrence_id(app)) == []
        # what `meetings show` gives: that date's answer there, the series' the week before
        assert shown_status(cli, OCCURRENCE_REF, expected.member) == expected.status
        assert shown_status(cli, "autumn-dht-2027-10-14", expected.member) == "accepted"

    def test_accepting_the_occurrence_again_replaces_the_decline(
        self, app: App, server: Any, series: int
    ) -> None:
        to = invite_address(app, series, JANE)
        send(server, JANE, to, fixture("google_declined_occurrence_with_note.eml"))
        again = fixture("google_declined_occurrence_with_note.eml").replace(
            b"PARTSTAT=DECLINED", b"PARTSTAT=ACCEPTED"
        )
        row = send(server, JANE, to, again)
        assert row.status == "processed", row.outcome
        recorded = answer(app, occurrence_id(app), JANE)
        assert recorded is not None and recorded.status == "accepted"
        assert answer(app, series, JANE) is None  # the series was never answered

    def test_declining_the_occurrence_twice_keeps_one_answer(
        self, app: App, server: Any, series: int
    ) -> None:
        to = invite_address(app, series, SAM)
        for _ in range(2):
            send(server, SAM, to, fixture("outlook_declined_occurrence.eml"))
        with app.session() as session:
            rows = session.scalars(select(Attendance).where(
                Attendance.meeting_id == occurrence_id(app))).all()  # fmt: skip
            assert [r.status for r in rows] == ["declined"]

    def test_a_date_the_series_does_not_have_is_not_recorded(
        self, app: App, server: Any, series: int
    ) -> None:
        raw = fixture("google_declined_occurrence_with_note.eml").replace(
            b"RECURRENCE-ID;TZID=Europe/London:20271021",
            b"RECURRENCE-ID;TZID=Europe/London:20271022",
        )
        row = send(server, JANE, invite_address(app, series, JANE), raw)
        assert row.status == "processed" and "not a date of autumn-dht" in row.outcome
        with app.session() as session:
            assert session.scalars(select(Attendance)).all() == []

    def test_event_lines_are_never_the_comment(self, app: App, server: Any, series: int) -> None:
        # Google's note removed from the calendar: the words come from the text above the
        # event's title, never the title, times and zone below it.
        raw = fixture("google_tentative_with_note.eml").replace(
            b";X-RESPONSE-COMMENT=I&#39\\;ll know by Friday", b""
        )
        send(server, JANE, invite_address(app, series, JANE), raw)
        recorded = answer(app, series, JANE)
        assert recorded is not None
        assert recorded.comment == "I'll know by Friday"

    def test_a_member_who_wrote_nothing_has_no_comment(
        self, app: App, server: Any, series: int
    ) -> None:
        send(server, JANE, invite_address(app, series, JANE), fixture("google_declined.eml"))
        recorded = answer(app, series, JANE)
        assert recorded is not None and recorded.comment == ""


class TestBareAddress:
    """Some Microsoft 365 and outlook.com paths drop the ``+token``: the RSVP comes to the
    bare group address and is matched by UID, ATTENDEE and an authentic sender."""

    @pytest.mark.parametrize("name", ["outlook_declined.eml", "outlook_counter.eml",
                                      "google_tentative_with_note.eml"])  # fmt: skip
    def test_recorded_from_the_attendee(
        self, app: App, server: Any, series: int, name: str
    ) -> None:
        expected = WHOLE_SERIES[name]
        row = send(server, expected.member, GROUP, fixture(name))
        assert row.status == "processed", row.outcome
        recorded = answer(app, series, expected.member)
        assert recorded is not None and recorded.status == expected.status
        assert outgoing(app, to=expected.member) == []
        assert items_of(app, series) == []  # not a news post

    def test_occurrence_on_the_bare_address(self, app: App, server: Any, series: int) -> None:
        row = send(server, SAM, GROUP, fixture("outlook_declined_occurrence.eml"))
        assert row.status == "processed", row.outcome
        assert answer(app, series, SAM) is None
        recorded = answer(app, occurrence_id(app), SAM)
        assert recorded is not None and recorded.status == "declined"

    def test_held_when_the_envelope_is_someone_else(
        self, app: App, server: Any, series: int
    ) -> None:
        row = send(server, "mallory@attacker.example", GROUP, fixture("outlook_declined.eml"))
        assert row.status == "held"
        assert "envelope sender" in row.outcome
        assert answer(app, series, SAM) is None

    def test_held_when_the_attendee_is_not_the_sender(
        self, app: App, server: Any, series: int
    ) -> None:
        raw = fixture("outlook_declined.eml").replace(b'"Patel, Sam" <sam', b"<ruth")
        raw = raw.replace(b"sam.patel@westend", b"ruth.evans@bursledon", 1)
        row = send(server, RUTH, GROUP, raw)
        assert row.status == "held"
        assert answer(app, series, SAM) is None and answer(app, series, RUTH) is None

    def test_strict_needs_an_authentication_pass(self, strict: tuple[App, Any]) -> None:
        app, server = strict
        meeting_id = _series_in(app)
        unsigned = send(server, SAM, GROUP, fixture("outlook_declined.eml"))
        assert unsigned.status == "held"
        assert f"no dkim, spf or dmarc pass from {AUTHSERV}" in unsigned.outcome
        results = (f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=westend.hants.sch.uk;"
                   " spf=pass smtp.mailfrom=westend.hants.sch.uk\r\n").encode()  # fmt: skip
        signed = send(server, SAM, GROUP, results + fixture("outlook_declined.eml"))
        assert signed.status == "processed", signed.outcome
        recorded = answer(app, meeting_id, SAM)
        assert recorded is not None and recorded.status == "declined"


class TestInboxParse:
    """`mailflow inbox parse` reads every calendar answer as the server does."""

    @pytest.mark.parametrize("name", sorted(ALL))
    def test_an_rsvp_without_items(self, cli: Cli, name: str) -> None:
        result = cli("inbox", "parse", str(CALENDAR / name), "--json")
        assert result.exit_code == 0, result.stderr
        parsed = json.loads(result.stdout)
        assert (parsed["rsvp"], parsed["items"], parsed["apologies"]) == (True, [], False)


def test_outdated_reply_is_noted_not_recorded(app: App, server: Any, series: int) -> None:
    with app.session() as session:
        meeting = session.get(Meeting, series)
        assert meeting is not None
        meeting.sequence = 2
    row = send(server, SAM, invite_address(app, series, SAM), fixture("outlook_declined.eml"))
    assert row.status == "processed"
    assert "outdated reply (sequence 0 < 2)" in row.outcome
    assert answer(app, series, SAM) is None
