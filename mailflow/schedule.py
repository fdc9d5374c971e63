"""Meeting times: local wall-clock text in, UTC out, and a term's rule turned into meetings.

Everything here is pure. Times are stored in UTC and shown in the group's zone; a local
time that does not exist (clocks go forward) or happens twice (clocks go back) is refused
with a clear message instead of being guessed.

A term's ``meeting`` setting is one or more parts separated by ``;``. Each part is either
a fixed local time (``2026-11-19 16:00``) or a rule in plain English:

- ``second Thursday of the second half of term at 16:00`` (the second half starts on the
  midpoint date of the term's start..end; ``first half`` ends the day before it);
- ``first Tuesday of term at 16:00``, ``last Wednesday of term at 15:30``;
- ``second Thursday of each month at 16:00`` (the calendar month's second Thursday, one
  meeting per month, kept when it falls inside the term);
- ``every Monday at 20:00`` or ``weekly on Monday at 20:00``: one weekly recurring meeting
  (an RRULE), starting on the first such day on or after the term's start that is not a
  closure. A weekly rule must be the only part.

Ordinals are ``first``..``fourth`` (or ``1st``..``4th``) and ``last``; times are ``16:00``
or ``4pm``/``4:30pm``. A single meeting that lands on a closure date moves to the same
weekday one week later (it must still be inside the term); a weekly meeting skips closure
days with EXDATEs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailflow.config import TermConfig
from mailflow.errors import UserError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_ORDINALS |= {"fourth": 4, "4th": 4, "last": -1}

_LOCAL_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})")
_DAY = r"(?P<day>monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
_AT = r"\s+at\s+(?P<time>\d{1,2}(?::\d{2})?\s*(?:am|pm)?)"
_ORDINAL_RE = re.compile(
    r"(?P<ord>first|1st|second|2nd|third|3rd|fourth|4th|last)\s+" + _DAY + r"\s+of\s+"
    r"(?:the\s+)?(?P<scope>term|(?:first|second)\s+half\s+of\s+(?:the\s+)?term"
    r"|(?:each|every)\s+month)" + _AT
)
_WEEKLY_RE = re.compile(r"(?:(?:every|each)\s+|weekly\s+on\s+)" + _DAY + _AT)
_TIME_RE = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?")

ACCEPTED_FORMS = (
    '"YYYY-MM-DD HH:MM", "first Tuesday of term at 16:00", "last Wednesday of term at 15:30", '
    '"second Thursday of the second half of term at 16:00", '
    '"second Thursday of each month at 16:00", "every Monday at 20:00" '
    '(several fixed times or rules may be separated by ";")'
)


def _resolve(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local time, refusing gaps and overlaps.

    Parameters:
        naive: a wall-clock time without tzinfo.
        tz: the zone it is read in.

    Returns:
        An aware datetime in UTC.

    Raises:
        UserError: the time does not exist or happens twice in `tz`.
    """
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return early
    shown = naive.strftime("%Y-%m-%d %H:%M")
    if early.astimezone(tz).replace(tzinfo=None) != naive:
        raise UserError(
            f"{shown} does not exist in {tz.key}: the clocks go forward that night; "
            "pick another time"
        )
    raise UserError(
        f"{shown} is ambiguous in {tz.key}: the clocks go back that night, so it happens "
        "twice; pick another time"
    )


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """Read ``YYYY-MM-DD HH:MM`` (or ``YYYY-MM-DDTHH:MM``) as a local time in `tz`.

    Parameters:
        text: the local date and time as the coordinator typed it.
        tz: the group's time zone.

    Returns:
        The same instant as an aware datetime in UTC.

    Raises:
        UserError: the text is malformed, or the local time does not exist or is
            ambiguous because of a clock change.
    """
    match = _LOCAL_RE.fullmatch(text.strip())
    if match is None:
        raise UserError(f"bad date and time {text!r}: expected YYYY-MM-DD HH:MM")
    year, month, day, hour, minute = (int(g) for g in match.groups())
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise UserError(f"bad date and time {text!r}: {exc}") from None
    return _resolve(naive, tz)


def to_local(when_utc: datetime, tz: ZoneInfo) -> datetime:
    """The aware instant `when_utc` as wall-clock time in `tz`.

    Raises:
        ValueError: `when_utc` is naive (we never guess what a naive time means).
    """
    if when_utc.tzinfo is None or when_utc.utcoffset() is None:
        raise ValueError("naive datetime given where an aware UTC time is required")
    return when_utc.astimezone(tz)


def iso_local(when_utc: datetime, tz: ZoneInfo) -> str:
    """ISO 8601 local time with offset and seconds, e.g. ``2026-11-19T16:00:00+00:00``."""
    return to_local(when_utc, tz).isoformat(timespec="seconds")


def human_local(when_utc: datetime, tz: ZoneInfo) -> str:
    """A time for people, e.g. ``Thursday 19 November 2026, 16:00 GMT``.

    English names are spelled out here rather than taken from the C library's locale,
    so the text is the same on every machine.
    """
    local = to_local(when_utc, tz)
    return (
        f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{local:%H:%M} {local.tzname()}"
    )


@dataclass(frozen=True)
class PlannedMeeting:
    """A meeting a term's rule asks for, before it is stored.

    `ref` is unique and stable: the term's name when the term has one meeting (a weekly
    recurring meeting counts as one), else ``<term>-1``, ``<term>-2``, ... in order.
    """

    ref: str
    title: str
    start: datetime
    duration_minutes: int
    location: str
    rrule: str | None
    exdates: tuple[datetime, ...]


def _parse_time(text: str, rule: str) -> time:
    """``16:00``, ``9:30``, ``4pm`` or ``4:30 pm`` as a `time`; `UserError` otherwise."""
    match = _TIME_RE.fullmatch(text.strip())
    if match is None or (match.group(2) is None and match.group(3) is None):
        raise UserError(f"meeting rule {rule!r}: bad time {text!r} (expected HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = match.group(3)
    if suffix is not None:
        if not 1 <= hour <= 12:
            raise UserError(f"meeting rule {rule!r}: bad time {text!r}")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UserError(f"meeting rule {rule!r}: bad time {text!r}")
    return time(hour, minute)


def _nth_weekday(first: date, last: date, weekday: int, nth: int) -> date | None:
    """The `nth` (1-based, or -1 for last) `weekday` in first..last, or None."""
    days = [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + timedelta(days=i)).weekday() == weekday
    ]
    if nth == -1:
        return days[-1] if days else None
    return days[nth - 1] if len(days) >= nth else None


def _month_windows(term: TermConfig) -> list[tuple[date, date]]:
    """Every calendar month the term touches, as (first day, last day)."""
    windows = []
    first = term.start.replace(day=1)
    while first <= term.end:
        following = (first + timedelta(days=32)).replace(day=1)
        windows.append((first, following - timedelta(days=1)))
        first = following
    return windows


def _ordinal_dates(term: TermConfig, match: re.Match[str], rule: str) -> list[date]:
    """The dates an ordinal rule (``second Thursday of ...``) picks in the term."""
    nth, weekday = _ORDINALS[match["ord"]], WEEKDAYS.index(match["day"].title())
    scope = " ".join(match["scope"].split())
    midpoint = term.start + (term.end - term.start) // 2
    if scope.endswith("month"):
        picked = [_nth_weekday(a, b, weekday, nth) for a, b in _month_windows(term)]
        days = [d for d in picked if d is not None and term.start <= d <= term.end]
    else:
        first, last = term.start, term.end
        if scope.startswith("first half"):
            last = midpoint - timedelta(days=1)
        elif scope.startswith("second half"):
            first = midpoint
        found = _nth_weekday(first, last, weekday, nth)
        days = [found] if found is not None else []
    if not days:
        raise UserError(f"meeting rule {rule!r}: term {term.name} has no such day")
    return days


def _avoid_closures(day: date, term: TermConfig, rule: str) -> date:
    """Move a single meeting off closure days, a week at a time, staying in the term."""
    moved = day
    while moved in term.closures:
        moved += timedelta(days=7)
    if moved > term.end:
        raise UserError(
            f"meeting rule {rule!r}: {day.isoformat()} is a closure day and a week later "
            f"is after the end of term {term.name} ({term.end.isoformat()})"
        )
    return moved


def _single_starts(part: str, term: TermConfig, tz: ZoneInfo) -> list[datetime]:
    """The UTC starts one non-weekly part of a term's ``meeting`` setting asks for."""
    rule = part.strip()
    if _LOCAL_RE.fullmatch(rule):
        start = parse_local(rule, tz)
        local_day = to_local(start, tz).date()
        if not term.start <= local_day <= term.end:
            raise UserError(
                f"meeting {rule!r} is outside term {term.name} "
                f"({term.start.isoformat()} to {term.end.isoformat()})"
            )
        moved = _avoid_closures(local_day, term, rule)
        if moved == local_day:
            return [start]
        return [_resolve(datetime.combine(moved, to_local(start, tz).time()), tz)]
    match = _ORDINAL_RE.fullmatch(" ".join(rule.lower().split()).rstrip("."))
    if match is None:
        raise UserError(f"unknown meeting rule {rule!r}; accepted forms: {ACCEPTED_FORMS}")
    at = _parse_time(match["time"], rule)
    days = [_avoid_closures(d, term, rule) for d in _ordinal_dates(term, match, rule)]
    return [_resolve(datetime.combine(d, at), tz) for d in days]


def _weekly(
    match: re.Match[str], term: TermConfig, tz: ZoneInfo, rule: str
) -> tuple[datetime, str, tuple[datetime, ...]]:
    """First start, RRULE and EXDATEs of a weekly rule, all in UTC."""
    weekday = WEEKDAYS.index(match["day"].title())
    at = _parse_time(match["time"], rule)
    day = term.start + timedelta(days=(weekday - term.start.weekday()) % 7)
    occurrences = []
    while day <= term.end:
        occurrences.append((day, _resolve(datetime.combine(day, at), tz)))
        day += timedelta(days=7)
    held = [start for d, start in occurrences if d not in term.closures]
    if not held:
        raise UserError(f"meeting rule {rule!r}: no such day in term {term.name} outside closures")
    first = held[0]
    exdates = tuple(s for d, s in occurrences if d in term.closures and s > first)
    until = _resolve(datetime.combine(term.end, time(23, 59, 59)), tz)
    rrule = f"FREQ=WEEKLY;BYDAY={_BYDAY[weekday]};UNTIL={until:%Y%m%dT%H%M%SZ}"
    return first, rrule, exdates


def plan_term(
    term: TermConfig, *, tz: ZoneInfo, default_title: str, default_duration: int
) -> list[PlannedMeeting]:
    """Turn a term's ``meeting`` setting into the meetings it asks for.

    Parameters:
        term: the ``[[terms]]`` entry (dates, rule, closures, optional title/duration).
        tz: the group's time zone; rules and fixed times are read in it.
        default_title: the title when the term has none.
        default_duration: the length in minutes when the term sets none.

    Returns:
        The meetings in order; equal on every call for the same input.

    Raises:
        UserError: an unknown rule, a time outside the term, a closure that pushes a
            meeting past the term's end, a local time that does not exist or is ambiguous,
            or two parts that give the same start.
    """
    parts = [p for p in term.meeting.split(";") if p.strip()]
    if not parts:
        raise UserError(f"term {term.name}: no meeting time; accepted forms: {ACCEPTED_FORMS}")
    title = term.title or default_title
    duration = term.duration_minutes or default_duration
    weekly = [_WEEKLY_RE.fullmatch(" ".join(p.lower().split()).rstrip(".")) for p in parts]
    if any(weekly):
        if len(parts) > 1:
            raise UserError(f"term {term.name}: a weekly rule must be the only meeting rule")
        assert weekly[0] is not None
        first, rrule, exdates = _weekly(weekly[0], term, tz, parts[0].strip())
        return [PlannedMeeting(term.name, title, first, duration, term.location, rrule, exdates)]
    starts = [s for p in parts for s in _single_starts(p, term, tz)]
    if len(set(starts)) != len(starts):
        raise UserError(f"term {term.name}: two meetings at the same time")
    if len(starts) == 1:
        return [PlannedMeeting(term.name, title, starts[0], duration, term.location, None, ())]
    return [
        PlannedMeeting(f"{term.name}-{i}", title, start, duration, term.location, None, ())
        for i, start in enumerate(starts, start=1)
    ]


# --- series: "every Monday 20:00" and the occurrences of a stored rule ---------------

_EVERY_RE = re.compile(
    r"(?:(?:every|each)\s+(?:(?P<other>other)\s+)?|weekly\s+on\s+|(?P<fortnight>fortnightly)"
    r"\s+on\s+|monthly\s+on\s+(?:the\s+)?)?"
    r"(?:(?P<ord>first|1st|second|2nd|third|3rd|fourth|4th|last)\s+)?"
    + _DAY
    + r"(?:\s+of\s+(?:the|each|every)\s+month)?(?:\s+at)?\s+"
    r"(?P<time>\d{1,2}(?::\d{2})?\s*(?:am|pm)?)"
)
EVERY_FORMS = (
    '"Monday 20:00", "every Monday at 8pm", "every other Monday 20:00", '
    '"fortnightly on Monday 20:00", "second Tuesday of each month at 16:00"'
)
MAX_OCCURRENCE_STEPS = 20_000  # a series read from the database is never expanded further


@dataclass(frozen=True)
class Recurrence:
    """How a series repeats: weekly (every `interval` weeks) on a weekday, or monthly on
    the `nth` weekday (-1 for the last), at a local time."""

    freq: str
    interval: int
    weekday: int
    at: time
    nth: int | None = None

    def rrule(self, until: datetime | None = None) -> str:
        """The RRULE value, e.g. ``FREQ=WEEKLY;BYDAY=MO`` or ``FREQ=MONTHLY;BYDAY=2TU``."""
        byday = f"{self.nth}{_BYDAY[self.weekday]}" if self.nth else _BYDAY[self.weekday]
        parts = [f"FREQ={self.freq}"]
        parts += [f"INTERVAL={self.interval}"] if self.interval > 1 else []
        parts.append(f"BYDAY={byday}")
        parts += [f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}"] if until else []
        return ";".join(parts)

    def first_on_or_after(self, day: date) -> date:
        """The first date of the pattern on or after `day`."""
        if self.nth is None:
            return day + timedelta(days=(self.weekday - day.weekday()) % 7)
        month = day.replace(day=1)
        while True:
            last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            found = _nth_weekday(month, last, self.weekday, self.nth)
            if found is not None and found >= day:
                return found
            month = last + timedelta(days=1)


def parse_every(text: str) -> Recurrence:
    """Read ``--every`` (see `EVERY_FORMS`) as a `Recurrence`; `UserError` otherwise."""
    match = _EVERY_RE.fullmatch(" ".join(text.lower().split()).rstrip(".")[:200])
    if match is None:
        raise UserError(f"--every {text!r}: expected a form like {EVERY_FORMS}")
    weekday = WEEKDAYS.index(match["day"].title())
    at = _parse_time(match["time"], text)
    if match["ord"]:
        return Recurrence("MONTHLY", 1, weekday, at, _ORDINALS[match["ord"]])
    interval = 2 if match["other"] or match["fortnight"] else 1
    return Recurrence("WEEKLY", interval, weekday, at)


def read_rrule(rrule: str) -> tuple[Recurrence | None, datetime | None]:
    """The `Recurrence` and UNTIL (UTC) of a stored RRULE; no recurrence if it is a rule
    mailflow does not make (one weekday, weekly or monthly)."""
    fields = dict(p.partition("=")[::2] for p in rrule.upper().split(";") if "=" in p)
    until = None
    if fields.get("UNTIL"):
        until = datetime.strptime(fields["UNTIL"][:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    byday = re.fullmatch(r"(-?\d)?(MO|TU|WE|TH|FR|SA|SU)", fields.get("BYDAY", ""))
    freq, interval = fields.get("FREQ", ""), fields.get("INTERVAL", "1")
    if byday is None or freq not in ("WEEKLY", "MONTHLY") or not interval.isdigit():
        return None, until
    nth = int(byday.group(1)) if byday.group(1) else None
    if (freq == "MONTHLY") != (nth is not None):
        return None, until
    weekday = _BYDAY.index(byday.group(2))
    return Recurrence(freq, max(1, int(interval)), weekday, time(0), nth), until


def occurrences(
    start: datetime, rrule: str, tz: ZoneInfo, *, after: datetime, count: int,
    skipped: tuple[datetime, ...] = (), before: datetime | None = None,
) -> list[datetime]:  # fmt: skip
    """The UTC starts of a series' first `count` occurrences starting at or after `after`
    (and before `before`, if given).

    `start` is the series' first start (UTC), whose local time every occurrence keeps
    (a local time that falls in a clock change is read as RFC 5545 does: the first of a
    repeated hour, the offset before a skipped one). Skipped starts (EXDATEs) and starts
    after UNTIL are left out.
    """
    rule, until = read_rrule(rrule)
    if rule is None:
        return [start] if after <= start and (before is None or start < before) else []
    local = to_local(start, tz)
    day, found, gone = local.date(), list[datetime](), set(skipped)
    for _ in range(MAX_OCCURRENCE_STEPS):
        when = datetime.combine(day, local.time(), tz).astimezone(UTC)
        ended = (until is not None and when > until) or (before is not None and when >= before)
        if ended or len(found) >= count:
            break
        if when >= after and when not in gone:
            found.append(when)
        if rule.nth is None:
            day += timedelta(weeks=rule.interval)
        else:
            day = rule.first_on_or_after((day.replace(day=1) + timedelta(days=32)).replace(day=1))
    return found


def with_until(rrule: str, until: datetime) -> str:
    """The same RRULE ending at `until` (UTC, inclusive): any UNTIL or COUNT replaced."""
    kept = [p for p in rrule.split(";") if p and p.split("=")[0].upper() not in ("UNTIL", "COUNT")]
    return ";".join([*kept, f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}"])


def on_weekday(rrule: str, weekday: int) -> str:
    """The same RRULE on another weekday (a weekly or monthly rule of one BYDAY)."""
    parts = []
    for part in rrule.split(";"):
        key, _, value = part.partition("=")
        if key.upper() == "BYDAY":
            part = f"BYDAY={value.rstrip('MOTUWEHFRSA')}{_BYDAY[weekday]}"
        parts.append(part)
    return ";".join(parts)
