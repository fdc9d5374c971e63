"""iMIP calendar messages (RFC 5545, 5546, 6047): invites we build, replies we read.

`build_calendar` makes the ``text/calendar`` body of an invite (METHOD:REQUEST), an
update (same UID, higher SEQUENCE) or a cancellation (METHOD:CANCEL, the whole event with
STATUS:CANCELLED, as Google, Outlook and Apple send it). Times are written as local time
with a TZID, and the calendar carries a VTIMEZONE made here from zoneinfo's changes in the
style Outlook and Google use: one STANDARD and one DAYLIGHT observance with a yearly RRULE
where the zone's rule is regular over the covered years, else one DTSTART per change, and
never RDATE (ical.js and libical misread DTSTART plus RDATE). A time that falls in a
repeated local hour (the night the clocks go back) is written in UTC instead, since
readers disagree on which of the two instants a local time there names. A weekly series
takes its weekday and the time of its EXDATEs from its current start, so a moved series
keeps its skipped weeks. One occurrence of a series is moved or cancelled by a message
about it alone: the series' UID with RECURRENCE-ID (its original start, in the series'
local time) and no RRULE, as Google, Outlook and Apple send "this event only".
tests/test_calendar_conformance.py checks every kind of invite against icalendar, ical.js
and libical. Serialisation and line folding are icalendar's.

`parse_calendar_reply` reads what members' calendars send back (METHOD:REPLY, or COUNTER
for a proposed new time), tolerating what real clients do: lower-case values, a BOM, LF
line ends, X- properties, several ATTENDEE lines, a missing SEQUENCE, Windows zone names
(Outlook's "GMT Standard Time", defined in the reply's VTIMEZONE). The member's words are
the COMMENT (Outlook, Thunderbird) or Google's X-RESPONSE-COMMENT on their ATTENDEE line;
an answer about one occurrence of a series (Google's and Outlook's "this event only")
carries its RECURRENCE-ID. Oversized input is refused before it is parsed.
"""

from __future__ import annotations

import html
import re
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import (
    STATUS,
    TRANSP,
    Alarm,
    Calendar,
    Component,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vRecur,
)

PRODID = "-//mailflow//mailflow 0.1//EN"
METHODS = ("REQUEST", "CANCEL")
REPLY_METHODS = ("REPLY", "COUNTER")
PARTSTATS = ("accepted", "declined", "tentative", "needs-action", "delegated")
MAX_REPLY_CHARS = 1_000_000
MAX_REPLY_COMPONENTS = 50
_BEGIN_RE = re.compile(r"^BEGIN:", re.IGNORECASE | re.MULTILINE)
_SUMMARY_PARTSTAT = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class EventInfo:
    """Everything an invite says about one meeting.

    `start` is an aware UTC instant; it is written in `tz` local time. `sequence` must go
    up by one for every update or cancellation the attendees have not yet seen.
    """

    uid: str
    sequence: int
    title: str
    description: str
    location: str
    start: datetime
    duration_minutes: int
    tz: ZoneInfo
    organizer_email: str
    organizer_name: str
    sent_by: str | None
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    alarm_minutes: int = 0
    recurrence_id: datetime | None = None  # one occurrence of the series `uid` (UTC)


@dataclass(frozen=True)
class Attendee:
    """One invited member."""

    email: str
    name: str


@dataclass(frozen=True)
class CalendarReply:
    """What a member's calendar answered: who, which event, and what they said.

    `recurrence_id` is set (UTC) when the answer is about one occurrence of a recurring
    meeting only, e.g. declining one week of the weekly chat.
    """

    uid: str
    attendee: str
    partstat: str
    sequence: int
    method: str
    proposed_start: datetime | None
    comment: str
    recurrence_id: datetime | None = None


def _aware(when: datetime, what: str) -> datetime:
    """`when` in UTC; `ValueError` if it is naive."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime given where an aware UTC time is required")
    return when.astimezone(UTC)


def _attendee(person: Attendee) -> vCalAddress:
    return vCalAddress.new(
        person.email, cn=person.name or None, cutype="INDIVIDUAL", role="REQ-PARTICIPANT",
        partstat="NEEDS-ACTION", rsvp=True,
    )  # fmt: skip


def _organizer(event: EventInfo) -> vCalAddress:
    same = event.sent_by is None or event.sent_by.lower() == event.organizer_email.lower()
    return vCalAddress.new(
        event.organizer_email,
        cn=event.organizer_name or None,
        sent_by=None if same or event.sent_by is None else f"mailto:{event.sent_by}",
    )


def _timezone_range(event: EventInfo, start: datetime) -> tuple[date, date]:
    """First and last day the VTIMEZONE must cover: the event's years, plus a margin.

    The year before is covered so that each observance starts before the event (a January
    meeting needs the previous October's change). A recurrence without UNTIL is covered
    for five years.
    """
    last = start + timedelta(minutes=event.duration_minutes)
    if event.rrule is not None:
        until = vRecur.from_ical(event.rrule).get("UNTIL")
        if not until:
            last = max(last, start + timedelta(days=5 * 366))
        elif isinstance(until[0], datetime):
            last = max(last, until[0] if until[0].tzinfo else until[0].replace(tzinfo=UTC))
        else:  # UNTIL as a plain date
            last = max(last, datetime.combine(until[0], datetime.min.time(), UTC))
    last = max([last, *event.exdates])
    local_first, local_last = start.astimezone(event.tz), last.astimezone(event.tz)
    return date(local_first.year - 1, 1, 1), date(local_last.year + 1, 12, 31)


@dataclass(frozen=True)
class _Change:
    """One change of a zone's offset or name: its UTC instant and the zone after it."""

    at: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool

    @property
    def onset(self) -> datetime:
        """The observance's DTSTART: the local time just before the change, in the offset
        before it (RFC 5545 3.6.5), e.g. 01:00 for BST starting at 01:00 GMT."""
        return (self.at + self.offset_from).replace(tzinfo=None)


def _zone_state(tz: ZoneInfo, when: datetime) -> tuple[timedelta, str, bool]:
    """(UTC offset, abbreviation, is summer time) of `tz` at the UTC instant `when`."""
    local = when.astimezone(tz)
    return local.utcoffset() or timedelta(0), local.tzname() or "", bool(local.dst())


@lru_cache(maxsize=32)
def _changes(tz: ZoneInfo, first: datetime, last: datetime) -> tuple[_Change, ...]:
    """Every change of `tz` between two UTC instants, found day by day, then to the second.

    zoneinfo has no public list of transitions; no zone changes twice in one day. Cached:
    a mailing builds the same zone for every member.
    """
    found = []
    day = timedelta(days=1)
    when = first
    while when < last:
        before = _zone_state(tz, when)
        if _zone_state(tz, when + day) != before:
            low, high = when, when + day  # the state changes in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
                low, high = (middle, high) if _zone_state(tz, middle) == before else (low, middle)
            found.append(_Change(high, before[0], *_zone_state(tz, high)))
        when += day
    return tuple(found)


def _yearly_rule(onsets: Sequence[datetime], years: range) -> vRecur | None:
    """The yearly RRULE that gives exactly these onsets, one a year, or None.

    E.g. ``BYMONTH=3;BYDAY=-1SU`` (last Sunday of March) or ``BYMONTH=3;BYDAY=2SU``.
    """
    first = onsets[0]
    same = {(o.month, o.weekday(), o.time()) for o in onsets}
    if [o.year for o in onsets] != list(years) or len(same) != 1:
        return None
    if all(o.day + 7 > monthrange(o.year, o.month)[1] for o in onsets):
        ordinal = -1  # tzdata's "lastSun": the most common rule, so tried first
    elif len({(o.day - 1) // 7 for o in onsets}) == 1:
        ordinal = (first.day - 1) // 7 + 1
    else:
        return None
    return vRecur(
        freq="YEARLY", bymonth=first.month, byday=f"{ordinal}{_WEEKDAYS[first.weekday()]}"
    )


def _observance(change: _Change, rule: vRecur | None) -> Component:
    """A STANDARD or DAYLIGHT sub-component starting at `change`, repeating by `rule`."""
    observance = TimezoneDaylight() if change.dst else TimezoneStandard()
    observance.add("dtstart", change.onset)
    observance.add("tzoffsetfrom", change.offset_from)
    observance.add("tzoffsetto", change.offset_to)
    observance.add("tzname", change.name)
    if rule is not None:
        observance.add("rrule", rule)
    return observance


def _vtimezone(tz: ZoneInfo, first: date, last: date) -> Timezone:
    """The VTIMEZONE of `tz` for the days `first` to `last`, as Outlook and Google write it.

    If every kind of change recurs by a yearly rule through all the covered years, one
    observance per kind with that RRULE; otherwise the state on `first` and then one
    observance per change, each with only a DTSTART. Never RDATE: ical.js 2 ignores the
    DTSTART of an observance that has RDATEs and reads the summer an hour out.
    """
    start = datetime.combine(first, time(), UTC)
    changes = _changes(tz, start, datetime.combine(last + timedelta(days=1), time(), UTC))
    kinds: dict[tuple[timedelta, timedelta, str, bool], list[_Change]] = {}
    for change in changes:
        kind = (change.offset_from, change.offset_to, change.name, change.dst)
        kinds.setdefault(kind, []).append(change)
    years = range(first.year, last.year + 1)
    rules = [(kind[0], _yearly_rule([c.onset for c in kind], years)) for kind in kinds.values()]
    vtimezone = Timezone()
    vtimezone.add("tzid", str(tz))
    if rules and all(rule is not None for _, rule in rules):
        for change, rule in rules:
            vtimezone.add_component(_observance(change, rule))
        return vtimezone
    offset, name, dst = _zone_state(tz, start)
    for change in [_Change(start, offset, offset, name, dst), *changes]:
        vtimezone.add_component(_observance(change, None))
    return vtimezone


def _add_timezones(calendar: Calendar, events: Sequence[EventInfo]) -> None:
    """A VTIMEZONE for each zone the events name, before them, covering all their times."""
    for tzid in sorted(calendar.get_missing_tzids()):
        ranges = [_timezone_range(e, _aware(e.start, "start")) for e in events if str(e.tz) == tzid]
        vtimezone = _vtimezone(
            ZoneInfo(tzid), min(f for f, _ in ranges), max(last for _, last in ranges)
        )
        calendar.subcomponents.insert(0, vtimezone)


def _repeated(when: datetime, tz: ZoneInfo) -> bool:
    """Whether `when` falls in a local hour that happens twice (the clocks going back).

    Such a local time names two instants, and readers differ on which one they take
    (icalendar the first, as RFC 5545 says; libical and ical.js the second).
    """
    local = when.astimezone(tz)
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _times(event: EventInfo, start: datetime) -> tuple[datetime, datetime]:
    """DTSTART and DTEND: local time in the event's zone, UTC where local is ambiguous.

    A one-off meeting touching a repeated hour is written wholly in UTC: readers add the
    length to a local start on the local clock. A series keeps a local start, since its
    occurrences follow the local clock; only an ambiguous end is written in UTC.
    """
    end = start + timedelta(minutes=event.duration_minutes)
    if event.rrule is None and (_repeated(start, event.tz) or _repeated(end, event.tz)):
        return start, end
    local_end = end if _repeated(end, event.tz) else end.astimezone(event.tz)
    return start.astimezone(event.tz), local_end


def _series(event: EventInfo, start: datetime) -> tuple[vRecur, list[datetime]]:
    """The RRULE and local EXDATEs of a series whose first start is now `start` (local).

    A weekly series on one day (what mailflow plans) may have been moved since its rule and
    skipped starts were stored: it recurs on the start's weekday, and each skipped start
    becomes the series' start nearest to it (same week), at the start's time, so that the
    EXDATEs still match occurrences.
    """
    assert event.rrule is not None
    rule = vRecur.from_ical(event.rrule)
    skipped = [_aware(d, "exdate").astimezone(event.tz) for d in event.exdates]
    byday = rule.get("BYDAY") or []
    if rule.get("FREQ") != ["WEEKLY"] or len(byday) != 1 or byday[0] not in _WEEKDAYS:
        return rule, skipped
    rule["BYDAY"] = [_WEEKDAYS[start.weekday()]]
    days = [d.date() + timedelta(days=(start.weekday() - d.weekday() + 3) % 7 - 3) for d in skipped]
    return rule, [datetime.combine(d, start.time(), event.tz) for d in days]


def _alarm(event: EventInfo) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Reminder: {event.title}")
    alarm.add("trigger", timedelta(minutes=-event.alarm_minutes))
    return alarm


def _vevent(event: EventInfo, attendees: Sequence[Attendee], method: str, stamp: datetime) -> Event:
    """The VEVENT: the whole event for both REQUEST and CANCEL."""
    start, end = _times(event, _aware(event.start, "start"))
    vevent = Event.new(
        uid=event.uid, stamp=stamp, sequence=event.sequence, start=start, end=end,
        summary=event.title, location=event.location or None,
        description=event.description or None, organizer=_organizer(event),
        attendees=[_attendee(a) for a in attendees],
        status=STATUS.CANCELLED if method == "CANCEL" else STATUS.CONFIRMED,
        transparency=TRANSP.OPAQUE,
    )  # fmt: skip
    if event.rrule is not None:
        rule, exdates = _series(event, start)
        vevent.add("rrule", rule)
        if exdates:
            vevent.add("exdate", exdates)
    if event.recurrence_id is not None:
        # in the series' own form (local time with its TZID), as DTSTART of the series
        original = _aware(event.recurrence_id, "recurrence_id").astimezone(event.tz)
        vevent.add("recurrence-id", original)
    if method == "REQUEST" and event.alarm_minutes > 0:
        vevent.add_component(_alarm(event))
    return vevent


def _calendar(method: str | None) -> Calendar:
    # Calendar() rather than Calendar.new(): .new() adds a random calendar UID.
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    return calendar


def build_calendar_feed(events: Sequence[EventInfo], *, stamp: datetime, name: str) -> bytes:
    """A subscribable calendar of several meetings (METHOD:PUBLISH, no attendees).

    Raises:
        ValueError: no events, a naive datetime, or a bad RRULE.
    """
    if not events:
        raise ValueError("a calendar feed needs at least one event")
    stamp_utc = _aware(stamp, "stamp")
    calendar = _calendar("PUBLISH")
    calendar.add("x-wr-calname", name)
    for event in events:
        calendar.add_component(_vevent(event, (), "PUBLISH", stamp_utc))
    _add_timezones(calendar, events)
    data: bytes = calendar.to_ical()
    return data


def build_calendar(
    event: EventInfo, attendees: Sequence[Attendee], *, method: str, stamp: datetime
) -> bytes:
    """The ``text/calendar`` body of an invite, update or cancellation.

    Parameters:
        event: the meeting; for an update or cancellation, the same UID and a higher
            SEQUENCE than last sent.
        attendees: one ATTENDEE each (RSVP requested).
        method: ``REQUEST`` or ``CANCEL``.
        stamp: DTSTAMP, the aware time the message is made (passed in: no clock here).

    Returns:
        The serialised VCALENDAR (CRLF lines, folded by icalendar).

    Raises:
        ValueError: an unknown method, a naive datetime, or a bad RRULE.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown calendar method {method!r} (expected REQUEST or CANCEL)")
    stamp_utc = _aware(stamp, "stamp")
    calendar = _calendar(method)
    calendar.add_component(_vevent(event, attendees, method, stamp_utc))
    _add_timezones(calendar, [event])
    data: bytes = calendar.to_ical()
    return data


def _guard(text: str) -> str:
    """Refuse what is too big or not a calendar before parsing it; strip a BOM."""
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"calendar too large ({len(text)} characters; limit {MAX_REPLY_CHARS})")
    text = text.lstrip("\ufeff \t\r\n")
    if not text[:15].upper().startswith("BEGIN:VCALENDAR"):
        raise ValueError("not an iCalendar object (no BEGIN:VCALENDAR)")
    count = len(_BEGIN_RE.findall(text))
    if count > MAX_REPLY_COMPONENTS:
        raise ValueError(f"calendar has too many components ({count}; limit 50)")
    return text


def _parse(text: str) -> Calendar:
    """The first VCALENDAR in `text`; `ValueError` with one line if it is malformed."""
    try:
        # Bytes, never str: icalendar treats a one-line str as a file path to read.
        parsed = Calendar.from_ical(text.encode("utf-8"), multiple=True)
    except Exception as exc:  # untrusted input: any parser failure is the sender's fault
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"malformed calendar: {first_line}") from None
    calendars = [c for c in parsed if isinstance(c, Calendar)]
    if not calendars:
        raise ValueError("malformed calendar: no complete VCALENDAR")
    return calendars[0]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: object) -> str:
    """``mailto:Ann@X.org`` -> ``ann@x.org``."""
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text.strip().lower()


def _pick_attendee(vevent: Component) -> tuple[str, str, Any]:
    """(email, partstat, ATTENDEE property) of the answering attendee: the first who said
    something."""
    attendees = _as_list(vevent.get("ATTENDEE"))
    if not attendees:
        raise ValueError("calendar reply has no ATTENDEE")
    answers = [
        (_address(a), str(getattr(a, "params", {}).get("PARTSTAT", "needs-action")).lower(), a)
        for a in attendees
    ]
    # Unknown values (x-names, typos) count as no answer rather than a made-up status.
    answers = [(e, p if p in PARTSTATS else "needs-action", a) for e, p, a in answers]
    for email, partstat, attendee in answers:
        if partstat != "needs-action":
            return email, partstat, attendee
    return answers[0]


def _from_summary(vevent: Component, partstat: str) -> str:
    """Outlook-style ``Accepted: Title`` summaries when no PARTSTAT was given."""
    if partstat != "needs-action":
        return partstat
    head = str(vevent.get("SUMMARY", "")).split(":", 1)[0].strip().lower()
    return _SUMMARY_PARTSTAT.get(head, partstat)


def _sequence(vevent: Component) -> int:
    raw = vevent.get("SEQUENCE")
    try:
        return int(str(raw).strip()) if raw is not None else 0
    except ValueError:
        return 0


def _utc_datetime(vevent: Component, name: str) -> datetime | None:
    """A date-time property in UTC (floating times are read as UTC); None if absent or bad."""
    if name not in vevent:
        return None
    try:
        value = vevent.decoded(name)
    except Exception:  # a malformed date is treated as absent, not a crash
        return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _comment(vevent: Component, attendee: Any) -> str:
    """The member's words: the COMMENT lines, else Google's X-RESPONSE-COMMENT parameter
    of their ATTENDEE line (which Google writes with HTML entities, e.g. ``&#39\\;``)."""
    comments = [str(c).strip() for c in _as_list(vevent.get("COMMENT")) if str(c).strip()]
    if comments:
        return "\n".join(comments)
    note = str(getattr(attendee, "params", {}).get("X-RESPONSE-COMMENT", ""))
    return html.unescape(note.replace("\\;", ";").replace("\\,", ",")).strip().strip('"').strip()


def parse_calendar_reply(text: str) -> CalendarReply:
    """Read a member's calendar answer (iTIP REPLY or COUNTER).

    Parameters:
        text: the ``text/calendar`` part, already decoded to str by the caller.

    Returns:
        The `CalendarReply`; e-mail lower-cased, partstat lower-case, method upper-case.

    Raises:
        ValueError: (one line) the text is too large, has more than 50 components, is not
            a calendar or is malformed, has no VEVENT, UID or ATTENDEE, or its METHOD is
            not REPLY or COUNTER.
    """
    calendar = _parse(_guard(text))
    method = str(calendar.get("METHOD", "")).strip().upper()
    if method not in REPLY_METHODS:
        raise ValueError(f"calendar METHOD is {method or 'missing'!s}, expected REPLY or COUNTER")
    vevents = calendar.walk("VEVENT")
    if not vevents:
        raise ValueError("calendar reply has no VEVENT")
    # Prefer the answer about the whole series over one about a single occurrence.
    vevent = next((v for v in vevents if "RECURRENCE-ID" not in v), vevents[0])
    uid = str(vevent.get("UID", "")).strip()
    if not uid:
        raise ValueError("calendar reply has no UID")
    email, partstat, attendee = _pick_attendee(vevent)
    partstat = _from_summary(vevent, partstat)
    return CalendarReply(
        uid=uid, attendee=email, partstat=partstat, sequence=_sequence(vevent), method=method,
        proposed_start=_utc_datetime(vevent, "DTSTART") if method == "COUNTER" else None,
        comment=_comment(vevent, attendee), recurrence_id=_utc_datetime(vevent, "RECURRENCE-ID"),
    )  # fmt: skip
