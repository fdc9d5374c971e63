"""Tests for mailflow.itip: invites read back by icalendar and recurring_ical_events,
golden output, and calendar replies as Google, Outlook, Apple and Thunderbird send them.

Set MAILFLOW_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.itip import (
    PRODID,
    Attendee,
    CalendarReply,
    EventInfo,
    build_calendar,
    parse_calendar_reply,
)

GOLDEN = Path(__file__).parent / "golden"
LONDON = ZoneInfo("Europe/London")
STAMP = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
UID = "7d3f8a52-1b2c-4d5e-9f00-000000000001@example.org"
ATTENDEES = (
    Attendee("ann.lee@school.example", "Ann Lee"),
    Attendee("bob@example.net", "Bob O'Ray, Deputy Head"),
)


def event(**overrides: object) -> EventInfo:
    values: dict[str, object] = {
        "uid": UID,
        "sequence": 0,
        "title": "Eastleigh DHT Group meeting",
        "description": "Agenda:\n1. Welcome and apologies (5 min)\n2. Budget; staffing, cover",
        "location": "Teachers' Centre, Room 2",
        "start": datetime(2026, 11, 19, 16, tzinfo=UTC),
        "duration_minutes": 90,
        "tz": LONDON,
        "organizer_email": "coordinator@example.org",
        "organizer_name": "Jo Coordinator",
        "sent_by": "dht@example.org",
    }
    values.update(overrides)
    return EventInfo(**values)  # type: ignore[arg-type]


def build(method: str = "REQUEST", **overrides: object) -> bytes:
    return build_calendar(event(**overrides), ATTENDEES, method=method, stamp=STAMP)


def parse(data: bytes) -> icalendar.Calendar:
    cal = icalendar.Calendar.from_ical(data)
    assert isinstance(cal, icalendar.Calendar)
    return cal


def only_event(cal: icalendar.Calendar) -> icalendar.Event:
    [vevent] = cal.events
    return vevent


def occurrences(data: bytes, first: date, last: date) -> list[datetime]:
    """Local starts as an independent consumer (recurring_ical_events) expands them."""
    found = recurring_ical_events.of(parse(data)).between(first, last)
    return sorted(e.start for e in found)


def vtimezone_only(data: bytes, tzid: bytes = b"Europe/London") -> icalendar.Calendar:
    """The calendar with our zone renamed, so readers must use our VTIMEZONE, not zoneinfo.

    The name is unique per content: icalendar caches zones it has read by TZID.
    """
    name = b"Mailflow-" + hashlib.sha256(data).hexdigest()[:12].encode()
    return parse(data.replace(tzid, name))


def golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("MAILFLOW_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} changed; MAILFLOW_UPDATE_GOLDEN=1 to accept"


class TestRequest:
    def test_calendar_properties(self) -> None:
        cal = parse(build())
        assert str(cal["PRODID"]) == PRODID
        assert str(cal["VERSION"]) == "2.0"
        assert str(cal["METHOD"]) == "REQUEST"
        assert str(cal["CALSCALE"]) == "GREGORIAN"
        assert "UID" not in cal  # no random calendar-level UID: output is reproducible

    def test_event_properties(self) -> None:
        vevent = only_event(parse(build()))
        assert vevent.uid == UID
        assert vevent.sequence == 0
        assert vevent.stamp == STAMP
        assert vevent.summary == "Eastleigh DHT Group meeting"
        assert vevent.location == "Teachers' Centre, Room 2"
        assert vevent.description == event().description
        assert str(vevent["STATUS"]) == "CONFIRMED"
        assert str(vevent["TRANSP"]) == "OPAQUE"
        assert vevent.walk("VALARM") == []

    def test_start_and_end_in_local_time_with_tzid(self) -> None:
        data = build()
        assert b"DTSTART;TZID=Europe/London:20261119T160000\r\n" in data
        assert b"DTEND;TZID=Europe/London:20261119T173000\r\n" in data
        assert b"DTSTAMP:20261001T093000Z\r\n" in data
        vevent = only_event(parse(data))
        assert vevent.start == datetime(2026, 11, 19, 16, tzinfo=UTC)
        assert vevent.end - vevent.start == timedelta(minutes=90)

    def test_summer_meeting_is_16_local_15_utc(self) -> None:
        data = build(start=datetime(2026, 6, 18, 15, tzinfo=UTC))
        assert b"DTSTART;TZID=Europe/London:20260618T160000\r\n" in data
        [start] = occurrences(data, date(2026, 6, 1), date(2026, 7, 1))
        assert (start.hour, start.utcoffset()) == (16, timedelta(hours=1))
        assert start.astimezone(UTC).hour == 15

    def test_winter_meeting_is_16_local_16_utc(self) -> None:
        [start] = occurrences(build(), date(2026, 11, 1), date(2026, 12, 1))
        assert (start.hour, start.utcoffset()) == (16, timedelta(0))
        assert start.astimezone(UTC).hour == 16

    def test_vtimezone_has_both_transitions(self) -> None:
        cal = parse(build(start=datetime(2026, 6, 18, 15, tzinfo=UTC)))
        [vtimezone] = cal.timezones
        assert vtimezone.tz_name == "Europe/London"
        tz = vtimezone_only(build()).timezones[0].to_tz()
        assert tz.utcoffset(datetime(2026, 6, 18, 16)) == timedelta(hours=1)
        assert tz.utcoffset(datetime(2026, 11, 19, 16)) == timedelta(0)

    def test_vtimezone_as_outlook_and_google_write_it(self) -> None:
        # One observance per kind with a yearly RRULE, DTSTART the local time before the
        # change (BST starts at 01:00 GMT), and no RDATE: ical.js misreads DTSTART + RDATE.
        data = build()
        assert b"RDATE" not in data
        [vtimezone] = parse(data).timezones
        [daylight], [standard] = vtimezone.daylight, vtimezone.standard
        assert daylight["DTSTART"].dt == datetime(2025, 3, 30, 1)
        assert daylight["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"
        assert (daylight["TZOFFSETFROM"].td, daylight["TZOFFSETTO"].td) == (
            timedelta(0),
            timedelta(hours=1),
        )
        assert str(daylight["TZNAME"]) == "BST"
        assert standard["DTSTART"].dt == datetime(2025, 10, 26, 2)
        assert standard["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"

    def test_new_york_rules_count_sundays_from_the_start(self) -> None:
        [vtimezone] = parse(build(tz=ZoneInfo("America/New_York"))).timezones
        [daylight], [standard] = vtimezone.daylight, vtimezone.standard
        assert daylight["DTSTART"].dt == datetime(2025, 3, 9, 2)
        assert daylight["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"
        assert standard["DTSTART"].dt == datetime(2025, 11, 2, 2)
        assert standard["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"

    def test_zone_without_summer_time(self) -> None:
        [vtimezone] = parse(build(tz=ZoneInfo("Asia/Tokyo"))).timezones
        [standard] = vtimezone.walk("STANDARD")
        assert (standard["TZOFFSETFROM"].td, standard["TZOFFSETTO"].td) == (
            timedelta(hours=9),
            timedelta(hours=9),
        )
        assert "RRULE" not in standard and not vtimezone.daylight

    def test_zone_whose_rule_changes_gets_one_observance_per_change(self) -> None:
        # Mexico City dropped summer time after October 2022: no yearly rule covers it.
        data = build(tz=ZoneInfo("America/Mexico_City"), start=datetime(2022, 6, 1, 15, tzinfo=UTC))
        assert b"RRULE" not in data and b"RDATE" not in data
        zone = vtimezone_only(data, b"America/Mexico_City").timezones[0].to_tz()
        assert zone.utcoffset(datetime(2022, 6, 1, 10)) == timedelta(hours=-5)
        assert zone.utcoffset(datetime(2023, 6, 1, 10)) == timedelta(hours=-6)

    def test_end_in_the_repeated_hour_is_written_in_utc(self) -> None:
        # 23:30 BST for two hours ends at 01:30 BST, which comes twice that night.
        data = build(start=datetime(2026, 10, 24, 22, 30, tzinfo=UTC), duration_minutes=120)
        assert b"DTSTART:20261024T223000Z\r\n" in data
        assert b"DTEND:20261025T003000Z\r\n" in data

    def test_start_in_the_repeated_hour_is_written_in_utc(self) -> None:
        data = build(start=datetime(2026, 10, 25, 1, 30, tzinfo=UTC), duration_minutes=60)
        assert b"DTSTART:20261025T013000Z\r\n" in data
        assert b"DTEND:20261025T023000Z\r\n" in data

    def test_vtimezone_comes_before_the_event(self) -> None:
        data = build()
        assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")

    def test_client_without_our_zone_name_still_gets_the_hour(self) -> None:
        # A client that knows no "Europe/London" must rely on our VTIMEZONE alone.
        cal = vtimezone_only(build(start=datetime(2026, 6, 18, 15, tzinfo=UTC)))
        [found] = recurring_ical_events.of(cal).between(date(2026, 6, 1), date(2026, 7, 1))
        start = found.start
        assert start.astimezone(UTC) == datetime(2026, 6, 18, 15, tzinfo=UTC)

    def test_method_only_on_vcalendar(self) -> None:
        for method in ("REQUEST", "CANCEL"):
            data = build(method)
            assert len(re.findall(rb"^METHOD:", data, re.MULTILINE)) == 1
            assert data.index(b"METHOD:") < data.index(b"BEGIN:VEVENT")
            assert "METHOD" not in only_event(parse(data))

    def test_organizer_and_sent_by(self) -> None:
        data = build()
        organizer = only_event(parse(data))["ORGANIZER"]
        assert str(organizer) == "mailto:coordinator@example.org"
        assert organizer.params["CN"] == "Jo Coordinator"
        assert organizer.params["SENT-BY"] == "mailto:dht@example.org"
        assert b'SENT-BY="mailto:dht@example.org"' in data.replace(b"\r\n ", b"")

    @pytest.mark.parametrize("sent_by", [None, "Coordinator@Example.org"])
    def test_no_sent_by_when_the_organizer_sends(self, sent_by: str | None) -> None:
        organizer = only_event(parse(build(sent_by=sent_by)))["ORGANIZER"]
        assert "SENT-BY" not in organizer.params

    def test_attendees(self) -> None:
        attendees = only_event(parse(build()))["ATTENDEE"]
        assert [str(a) for a in attendees] == [
            "mailto:ann.lee@school.example",
            "mailto:bob@example.net",
        ]
        for attendee, person in zip(attendees, ATTENDEES, strict=True):
            assert attendee.params["CN"] == person.name
            assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
            assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
            assert attendee.params["RSVP"] == "TRUE"
            assert attendee.params["CUTYPE"] == "INDIVIDUAL"

    def test_lines_are_folded_to_75_octets(self) -> None:
        data = build(title="A very long meeting title — with non-ASCII dashes — " * 4)
        assert all(len(line) <= 75 for line in data.split(b"\r\n"))
        assert (
            only_event(parse(data)).summary
            == "A very long meeting title — with non-ASCII dashes — " * 4
        )

    def test_crlf_everywhere(self) -> None:
        data = build()
        assert data.count(b"\n") == data.count(b"\r\n")
        assert data.endswith(b"END:VCALENDAR\r\n")

    def test_alarm(self) -> None:
        vevent = only_event(parse(build(alarm_minutes=60)))
        [alarm] = vevent.walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm["TRIGGER"].dt == timedelta(minutes=-60)
        assert "Eastleigh DHT Group meeting" in str(alarm["DESCRIPTION"])

    def test_update_keeps_uid_and_raises_sequence(self) -> None:
        first = only_event(parse(build()))
        moved = only_event(parse(build(sequence=1, start=datetime(2026, 11, 26, 16, tzinfo=UTC))))
        assert moved.uid == first.uid
        assert moved.sequence == first.sequence + 1
        assert moved.start.date() == date(2026, 11, 26)

    def test_utc_zone_needs_no_vtimezone(self) -> None:
        data = build(tz=ZoneInfo("UTC"))
        assert b"BEGIN:VTIMEZONE" not in data
        assert b"DTSTART:20261119T160000Z\r\n" in data

    def test_other_zone(self) -> None:
        data = build(tz=ZoneInfo("America/New_York"))
        assert b"DTSTART;TZID=America/New_York:20261119T110000\r\n" in data
        assert parse(data).timezones[0].tz_name == "America/New_York"

    @pytest.mark.parametrize("method", ["REPLY", "PUBLISH", ""])
    def test_unknown_method(self, method: str) -> None:
        with pytest.raises(ValueError, match="unknown calendar method"):
            build(method)

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            build(start=datetime(2026, 11, 19, 16))
        with pytest.raises(ValueError, match="naive"):
            build_calendar(event(), [], method="REQUEST", stamp=datetime(2026, 10, 1))

    def test_no_attendees(self) -> None:
        assert "ATTENDEE" not in only_event(parse(build_calendar(event(), [], method="REQUEST",
                                                                  stamp=STAMP)))  # fmt: skip

    def test_golden_request(self) -> None:
        golden("request.ics", build(alarm_minutes=60))


class TestCancel:
    def test_whole_event_with_status_cancelled(self) -> None:
        data = build("CANCEL", sequence=2, alarm_minutes=60)
        cal = parse(data)
        assert str(cal["METHOD"]) == "CANCEL"
        vevent = only_event(cal)
        assert vevent.uid == UID
        assert vevent.sequence == 2
        assert str(vevent["STATUS"]) == "CANCELLED"
        assert b"DTSTART;TZID=Europe/London:20261119T160000\r\n" in data
        assert vevent.end is not None
        assert vevent.summary == "Eastleigh DHT Group meeting"
        assert len(vevent["ATTENDEE"]) == 2
        assert str(vevent["ORGANIZER"]) == "mailto:coordinator@example.org"
        assert vevent.walk("VALARM") == []  # a cancelled meeting needs no reminder
        assert cal.timezones

    def test_golden_cancel(self) -> None:
        golden("cancel.ics", build("CANCEL", sequence=1))


class TestWeekly:
    RRULE = "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261218T235959Z"
    EXDATES = (datetime(2026, 10, 26, 20, tzinfo=UTC),)

    def weekly(self) -> bytes:
        return build(
            title="Weekly chat",
            start=datetime(2026, 9, 7, 19, tzinfo=UTC),
            duration_minutes=60,
            rrule=self.RRULE,
            exdates=self.EXDATES,
        )

    def test_rrule_and_exdate_written(self) -> None:
        data = self.weekly()
        assert b"RRULE:FREQ=WEEKLY;UNTIL=20261218T235959Z;BYDAY=MO\r\n" in data
        assert b"EXDATE;TZID=Europe/London:20261026T200000\r\n" in data

    def test_expands_at_the_same_local_hour_across_the_change(self) -> None:
        starts = occurrences(self.weekly(), date(2026, 9, 1), date(2027, 1, 31))
        mondays = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(15)]
        assert [s.date() for s in starts] == [d for d in mondays if d != date(2026, 10, 26)]
        assert {(s.hour, s.minute) for s in starts} == {(20, 0)}
        assert starts[0].astimezone(UTC).hour == 19  # BST
        assert starts[-1].astimezone(UTC).hour == 20  # GMT
        assert starts[-1].date() == date(2026, 12, 14)

    def test_vtimezone_covers_until(self) -> None:
        data = build(
            start=datetime(2026, 11, 2, 20, tzinfo=UTC),
            rrule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20281231T235959Z",
        )
        tz = vtimezone_only(data).timezones[0].to_tz()
        assert tz.utcoffset(datetime(2028, 7, 3, 20)) == timedelta(hours=1)
        assert tz.utcoffset(datetime(2028, 12, 4, 20)) == timedelta(0)

    def test_series_ending_in_the_repeated_hour_keeps_a_local_start(self) -> None:
        data = build(
            start=datetime(2026, 10, 24, 22, 30, tzinfo=UTC), duration_minutes=120, rrule=self.RRULE
        )
        assert b"DTSTART;TZID=Europe/London:20261024T233000\r\n" in data
        assert b"DTEND:20261025T003000Z\r\n" in data

    def test_moved_to_another_time_moves_the_skipped_start(self) -> None:
        data = build(
            start=datetime(2026, 9, 7, 18, 30, tzinfo=UTC), rrule=self.RRULE, exdates=self.EXDATES
        )
        assert b"EXDATE;TZID=Europe/London:20261026T193000\r\n" in data
        starts = occurrences(data, date(2026, 10, 19), date(2026, 11, 3))
        assert [s.date() for s in starts] == [date(2026, 10, 19), date(2026, 11, 2)]

    def test_moved_to_another_day_recurs_on_that_day_and_skips_the_same_week(self) -> None:
        data = build(
            start=datetime(2026, 9, 8, 19, tzinfo=UTC), rrule=self.RRULE, exdates=self.EXDATES
        )
        assert b"RRULE:FREQ=WEEKLY;UNTIL=20261218T235959Z;BYDAY=TU\r\n" in data
        assert b"EXDATE;TZID=Europe/London:20261027T200000\r\n" in data
        starts = occurrences(data, date(2026, 10, 19), date(2026, 11, 4))
        assert [s.date() for s in starts] == [date(2026, 10, 20), date(2026, 11, 3)]

    def test_rrule_without_until(self) -> None:
        data = build(rrule="FREQ=WEEKLY;COUNT=3")
        assert len(occurrences(data, date(2026, 1, 1), date(2027, 12, 31))) == 3

    @pytest.mark.parametrize("until", ["20281231", "20281231T235959"])
    def test_until_as_date_or_floating(self, until: str) -> None:
        data = build(rrule=f"FREQ=WEEKLY;UNTIL={until}")
        tz = vtimezone_only(data).timezones[0].to_tz()
        assert tz.utcoffset(datetime(2028, 7, 3, 20)) == timedelta(hours=1)

    def test_bad_rrule(self) -> None:
        with pytest.raises(ValueError):
            build(rrule="FREQ=SOMETIMES")


# --- replies, as real clients send them -------------------------------------------------

GOOGLE_REPLY = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
    "VERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "METHOD:REPLY\r\n"
    "BEGIN:VEVENT\r\n"
    "DTSTART:20261119T160000Z\r\n"
    "DTEND:20261119T173000Z\r\n"
    "DTSTAMP:20261002T101512Z\r\n"
    "ORGANIZER;CN=Jo Coordinator:mailto:coordinator@example.org\r\n"
    f"UID:{UID}\r\n"
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Ann Lee;X\r\n"
    " -NUM-GUESTS=0:mailto:Ann.Lee@gmail.com\r\n"
    "CREATED:20261001T093000Z\r\n"
    "DESCRIPTION:Agenda:\\n1. Welcome and apologies (5 min)\r\n"
    "LAST-MODIFIED:20261002T101511Z\r\n"
    "LOCATION:Teachers' Centre\\, Room 2\r\n"
    "SEQUENCE:0\r\n"
    "STATUS:CONFIRMED\r\n"
    "SUMMARY:Eastleigh DHT Group meeting\r\n"
    "TRANSP:OPAQUE\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

OUTLOOK_REPLY = (
    "\ufeffBEGIN:VCALENDAR\r\n"
    "method:reply\r\n"
    "PRODID:Microsoft Exchange Server 2010\r\n"
    "VERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:GMT Standard Time\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:16010101T020000\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0000\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T010000\r\n"
    "TZOFFSETFROM:+0000\r\n"
    "TZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "ATTENDEE;partstat=accepted;CN=Bob O'Ray:MAILTO:Bob@Example.NET\r\n"
    "COMMENT;LANGUAGE=en-GB:See you there\\, I'll bring the data.\\n\r\n"
    "SUMMARY;LANGUAGE=en-GB:Accepted: Eastleigh DHT Group meeting\r\n"
    "DTSTART;TZID=GMT Standard Time:20261119T160000\r\n"
    "DTEND;TZID=GMT Standard Time:20261119T173000\r\n"
    f"UID:{UID}\r\n"
    "CLASS:PUBLIC\r\n"
    "PRIORITY:5\r\n"
    "DTSTAMP:20261002T093012Z\r\n"
    "TRANSP:OPAQUE\r\n"
    "STATUS:CONFIRMED\r\n"
    "SEQUENCE:1\r\n"
    "LOCATION;LANGUAGE=en-GB:Teachers' Centre\\, Room 2\r\n"
    "X-MICROSOFT-CDO-APPT-SEQUENCE:1\r\n"
    "X-MICROSOFT-CDO-OWNERAPPTID:2121270845\r\n"
    "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n"
    "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY\r\n"
    "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n"
    "X-MICROSOFT-CDO-IMPORTANCE:1\r\n"
    "X-MICROSOFT-CDO-INSTTYPE:0\r\n"
    "X-MICROSOFT-DISALLOW-COUNTER:FALSE\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

# Outlook.com without PARTSTAT: the answer is only in the summary.
OUTLOOK_SUMMARY_ONLY = (
    "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
    "ATTENDEE;CN=Bob:mailto:bob@example.net\r\n"
    "SUMMARY:Tentative: Eastleigh DHT Group meeting\r\n"
    f"UID:{UID}\r\nDTSTAMP:20261002T093012Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

# Apple Calendar (iOS): LF line ends, quoted parameters, X-APPLE properties, no SEQUENCE,
# and the other attendee repeated with NEEDS-ACTION before the one who answered.
APPLE_REPLY = (
    "BEGIN:VCALENDAR\n"
    "VERSION:2.0\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.4//EN\n"
    "METHOD:REPLY\n"
    "CALSCALE:GREGORIAN\n"
    "BEGIN:VEVENT\n"
    'ATTENDEE;CN="Ann Lee";CUTYPE=INDIVIDUAL;EMAIL="ann.lee@school.example";PARTSTAT=NEEDS-\n'
    " ACTION;ROLE=REQ-PARTICIPANT:mailto:ann.lee@school.example\n"
    'ATTENDEE;CN="Zoë Hart";CUTYPE=INDIVIDUAL;EMAIL="zoe@icloud.com";PARTSTAT=DECLINED;\n'
    " ROLE=REQ-PARTICIPANT:mailto:zoe@icloud.com\n"
    "DTEND;TZID=Europe/London:20261119T173000\n"
    "DTSTAMP:20261003T181100Z\n"
    "DTSTART;TZID=Europe/London:20261119T160000\n"
    'ORGANIZER;CN="Jo Coordinator";SENT-BY="mailto:dht@example.org":mailto:coordinat\n'
    " or@example.org\n"
    "REQUEST-STATUS:2.0;Success\n"
    "SUMMARY:Eastleigh DHT Group meeting\n"
    f"UID:{UID}\n"
    "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n"
)

THUNDERBIRD_REPLY = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
    "VERSION:2.0\r\n"
    "METHOD:REPLY\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/London\r\n"
    "X-TZINFO:Europe/London[2024a]\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "TZOFFSETFROM:+0000\r\n"
    "TZOFFSETTO:+0100\r\n"
    "TZNAME:BST\r\n"
    "DTSTART:20260329T010000\r\n"
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
    "END:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0000\r\n"
    "TZNAME:GMT\r\n"
    "DTSTART:20261025T020000\r\n"
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "CREATED:20261001T093000Z\r\n"
    "LAST-MODIFIED:20261004T080000Z\r\n"
    "DTSTAMP:20261004T080000Z\r\n"
    f"UID:{UID}\r\n"
    "SUMMARY:Eastleigh DHT Group meeting\r\n"
    "ORGANIZER;CN=Jo Coordinator:mailto:coordinator@example.org\r\n"
    "ATTENDEE;RSVP=TRUE;CN=Di Fox;PARTSTAT=TENTATIVE;ROLE=REQ-PARTICIPANT:mailto:d\r\n"
    " i@example.net\r\n"
    "DTSTART;TZID=Europe/London:20261119T160000\r\n"
    "DTEND;TZID=Europe/London:20261119T173000\r\n"
    "SEQUENCE:2\r\n"
    "COMMENT:Might be ten minutes late\r\n"
    "X-MOZ-RECEIVED-SEQUENCE:2\r\n"
    "X-MOZ-RECEIVED-DTSTAMP:20261001T093000Z\r\n"
    "X-MOZ-GENERATION:1\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

COUNTER = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
    "VERSION:2.0\r\n"
    "METHOD:COUNTER\r\n"
    "BEGIN:VEVENT\r\n"
    f"UID:{UID}\r\n"
    "DTSTAMP:20261004T080000Z\r\n"
    "ORGANIZER;CN=Jo Coordinator:mailto:coordinator@example.org\r\n"
    "ATTENDEE;PARTSTAT=TENTATIVE;CN=Di Fox:mailto:di@example.net\r\n"
    "DTSTART;TZID=Europe/London:20260618T163000\r\n"
    "DTEND;TZID=Europe/London:20260618T180000\r\n"
    "SEQUENCE:0\r\n"
    "COMMENT:Could we start half an hour later?\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


class TestReplies:
    def test_google(self) -> None:
        assert parse_calendar_reply(GOOGLE_REPLY) == CalendarReply(
            uid=UID,
            attendee="ann.lee@gmail.com",
            partstat="accepted",
            sequence=0,
            method="REPLY",
            proposed_start=None,
            comment="",
        )

    def test_outlook_lowercase_with_bom(self) -> None:
        reply = parse_calendar_reply(OUTLOOK_REPLY)
        assert (reply.method, reply.partstat, reply.attendee) == (
            "REPLY",
            "accepted",
            "bob@example.net",
        )
        assert reply.sequence == 1
        assert reply.comment == "See you there, I'll bring the data."

    def test_outlook_answer_only_in_the_summary(self) -> None:
        assert parse_calendar_reply(OUTLOOK_SUMMARY_ONLY).partstat == "tentative"

    def test_apple_picks_the_attendee_who_answered(self) -> None:
        reply = parse_calendar_reply(APPLE_REPLY)
        assert (reply.attendee, reply.partstat) == ("zoe@icloud.com", "declined")
        assert reply.sequence == 0  # no SEQUENCE sent

    def test_thunderbird(self) -> None:
        reply = parse_calendar_reply(THUNDERBIRD_REPLY)
        assert (reply.attendee, reply.partstat, reply.sequence) == (
            "di@example.net",
            "tentative",
            2,
        )
        assert reply.comment == "Might be ten minutes late"
        assert reply.proposed_start is None  # only a COUNTER proposes a time

    def test_counter_gives_the_proposed_start_in_utc(self) -> None:
        reply = parse_calendar_reply(COUNTER)
        assert reply.method == "COUNTER"
        assert reply.proposed_start == datetime(2026, 6, 18, 15, 30, tzinfo=UTC)
        assert reply.comment == "Could we start half an hour later?"

    def test_counter_with_windows_zone(self) -> None:
        text = OUTLOOK_REPLY.replace("method:reply", "METHOD:COUNTER")
        reply = parse_calendar_reply(text)
        assert reply.proposed_start == datetime(2026, 11, 19, 16, tzinfo=UTC)

    def test_counter_with_floating_or_date_start(self) -> None:
        floating = COUNTER.replace("DTSTART;TZID=Europe/London:", "DTSTART:")
        assert parse_calendar_reply(floating).proposed_start == datetime(
            2026, 6, 18, 16, 30, tzinfo=UTC
        )
        dated = COUNTER.replace(
            "DTSTART;TZID=Europe/London:20260618T163000", "DTSTART;VALUE=DATE:20260618"
        )
        assert parse_calendar_reply(dated).proposed_start is None

    @pytest.mark.parametrize("lf", [True, False])
    def test_line_ends(self, lf: bool) -> None:
        text = GOOGLE_REPLY.replace("\r\n", "\n") if lf else GOOGLE_REPLY
        assert parse_calendar_reply(text).partstat == "accepted"

    def test_latin1_text_already_decoded(self) -> None:
        text = APPLE_REPLY.encode("latin-1").decode("latin-1")
        assert parse_calendar_reply(text).attendee == "zoe@icloud.com"

    def test_our_own_request_answered_by_hand(self) -> None:
        # A minimal reply built from our own invite: change METHOD and one PARTSTAT.
        text = build().decode().replace("METHOD:REQUEST", "METHOD:REPLY")
        text = text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=DECLINED", 1)
        reply = parse_calendar_reply(text)
        assert (reply.attendee, reply.partstat) == ("ann.lee@school.example", "declined")

    def test_all_needs_action_takes_the_first(self) -> None:
        text = APPLE_REPLY.replace("PARTSTAT=DECLINED", "PARTSTAT=NEEDS-ACTION")
        reply = parse_calendar_reply(text)
        assert (reply.attendee, reply.partstat) == ("ann.lee@school.example", "needs-action")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("delegated", "delegated"), ("X-MAYBE", "needs-action"), ("Declined", "declined")],
    )
    def test_partstat_values(self, value: str, expected: str) -> None:
        text = GOOGLE_REPLY.replace("PARTSTAT=ACCEPTED", f"PARTSTAT={value}")
        assert parse_calendar_reply(text).partstat == expected

    def test_one_occurrence_of_a_weekly_meeting(self) -> None:
        text = GOOGLE_REPLY.replace(
            "SEQUENCE:0", "RECURRENCE-ID;TZID=Europe/London:20261102T200000\r\nSEQUENCE:0"
        )
        reply = parse_calendar_reply(text)
        assert reply.recurrence_id == datetime(2026, 11, 2, 20, tzinfo=UTC)
        assert parse_calendar_reply(GOOGLE_REPLY).recurrence_id is None

    def test_series_answer_preferred_over_an_occurrence(self) -> None:
        occurrence = (
            "BEGIN:VEVENT\r\nUID:other\r\nRECURRENCE-ID:20261102T200000Z\r\n"
            "ATTENDEE;PARTSTAT=DECLINED:mailto:ann.lee@gmail.com\r\nEND:VEVENT\r\n"
        )
        text = GOOGLE_REPLY.replace("BEGIN:VEVENT", occurrence + "BEGIN:VEVENT", 1)
        reply = parse_calendar_reply(text)
        assert (reply.uid, reply.partstat, reply.recurrence_id) == (UID, "accepted", None)

    def test_bad_sequence_counts_as_zero(self) -> None:
        text = GOOGLE_REPLY.replace("SEQUENCE:0", "SEQUENCE:soon")
        assert parse_calendar_reply(text).sequence == 0


def calendar_with(*lines: str, method: str = "REPLY") -> str:
    body = "".join(f"{line}\r\n" for line in lines)
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:{method}\r\n"
        f"BEGIN:VEVENT\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


class TestBadReplies:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "not an iCalendar object"),
            ("Thanks, I'll be there!", "not an iCalendar object"),
            ("/etc/passwd", "not an iCalendar object"),
            ("BEGIN:VCARD\r\nEND:VCARD\r\n", "not an iCalendar object"),
            ("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n", "malformed calendar"),
            ("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n", "no VEVENT"),
            (calendar_with("ATTENDEE:mailto:a@b.org"), "no UID"),
            (calendar_with("UID:x"), "no ATTENDEE"),
            (calendar_with("UID:x", "ATTENDEE:mailto:a@b.org", method="REQUEST"), "REQUEST"),
            (calendar_with("UID:x", "ATTENDEE:mailto:a@b.org", method="CANCEL"), "CANCEL"),
            (GOOGLE_REPLY.replace("METHOD:REPLY\r\n", ""), "METHOD is missing"),
        ],
    )
    def test_refused_with_one_line(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message) as info:
            parse_calendar_reply(text)
        assert "\n" not in str(info.value)

    def test_too_large(self) -> None:
        text = GOOGLE_REPLY.replace("SUMMARY:", "X-PAD:" + "a" * 1_000_000 + "\r\nSUMMARY:")
        with pytest.raises(ValueError, match="too large"):
            parse_calendar_reply(text)

    def test_too_many_components(self) -> None:
        alarms = "".join("BEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\n" for _ in range(60))
        text = GOOGLE_REPLY.replace("END:VEVENT", alarms + "END:VEVENT")
        with pytest.raises(ValueError, match="too many components"):
            parse_calendar_reply(text)

    def test_fifty_components_are_fine(self) -> None:
        alarms = "".join("BEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\n" for _ in range(48))
        text = GOOGLE_REPLY.replace("END:VEVENT", alarms + "END:VEVENT")
        assert parse_calendar_reply(text).partstat == "accepted"

    @settings(max_examples=200)
    @given(st.text(max_size=300))
    def test_random_text_only_ever_raises_value_error(self, junk: str) -> None:
        for text in (junk, "BEGIN:VCALENDAR\r\n" + junk, GOOGLE_REPLY.replace("UID:", junk)):
            try:
                parse_calendar_reply(text)
            except ValueError as exc:
                assert "\n" not in str(exc)

    @settings(max_examples=100)
    @given(st.lists(st.sampled_from(GOOGLE_REPLY.split("\r\n")), max_size=30))
    def test_shuffled_lines_only_ever_raise_value_error(self, lines: list[str]) -> None:
        try:
            reply = parse_calendar_reply("\r\n".join(lines))
        except ValueError:
            return
        assert reply.method == "REPLY"


def test_round_trip_event_dataclass_is_frozen() -> None:
    with pytest.raises(AttributeError):
        event().sequence = 3  # type: ignore[misc]
    assert replace(event(), sequence=3).sequence == 3
