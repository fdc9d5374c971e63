"""Invite conformance: every kind of invite mailflow sends, read by the parsers clients use.

Each invite (REQUEST, update, CANCEL, weekly series with EXDATE, moved meetings and
series, meetings across both clock changes and at 00:30/01:30 on change nights, in
Europe/London and America/New_York) is read by the readers below. So are the messages
about one occurrence of a series (an update or a CANCEL with RECURRENCE-ID), read with
the series they belong to as a calendar keeps them, and a series moved from Monday to
Tuesday part-way through (the old series ended by UNTIL, a new one from the move):

- icalendar + recurring-ical-events (Python),
- ical.js 2, Mozilla's parser (Thunderbird), run by node over tests/calendar/icaljs_expand.mjs,
- libical 3 (Evolution, KDE), through tests/calendar/libical_expand.c compiled here with gcc;
  libical also runs its RFC 5546 restriction check on every invite.

Every reader must give the UTC start and end we meant for the first 10 occurrences. The
TZID is renamed before reading, so a reader can only use the VTIMEZONE we send (as a
client whose zone database lacks or differs from ours must), never its own zone data.

Where to find the readers: ical.js in ``$MAILFLOW_ICALJS_DIR`` (default
``.ci-cache/icaljs``, the folder given to ``npm install --prefix``), libical through
``pkg-config libical``. A missing reader skips its tests with the install command, except
under CI (``CI`` set), where it fails: CI must not pass without them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from mailflow.itip import Attendee, EventInfo, build_calendar
from mailflow.schedule import with_until

# one worker runs the whole module, so the invites are written and the libical reader compiled once
pytestmark = pytest.mark.xdist_group("calendar-readers")

HERE = Path(__file__).parent / "calendar"
ROOT = Path(__file__).parent.parent
ICALJS_DIR = Path(os.environ.get("MAILFLOW_ICALJS_DIR", ROOT / ".ci-cache" / "icaljs"))
OCCURRENCES = 10
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
STAMP = datetime(2026, 8, 1, 9, tzinfo=UTC)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ATTENDEES = (Attendee("ann.lee@school.example", "Ann Lee"),)

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Case:
    """One invite and the UTC (start, end) of the first occurrences every reader must give."""

    name: str
    event: EventInfo
    method: str
    expected: tuple[Span, ...]
    # later messages a calendar keeps with the first (an occurrence's update, a series
    # that continues this one): their events are read together with it
    more: tuple[EventInfo, ...] = ()


def _event(name: str, tz: ZoneInfo, start: datetime, minutes: int, **more: object) -> EventInfo:
    return EventInfo(
        uid=f"{name}@conformance.example", title=name, description="",
        location="", start=start, duration_minutes=minutes, tz=tz,
        organizer_email="coordinator@example.org", organizer_name="Jo", sent_by=None,
        **more,  # type: ignore[arg-type]
    )  # fmt: skip


def _instant(wall: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time (RFC 5545: the first of a repeated time,
    the offset before the gap for a skipped one, which is zoneinfo's fold=0)."""
    return wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def single(
    name: str, tz: ZoneInfo, wall: datetime, minutes: int, *, fold: int = 0,
    method: str = "REQUEST", sequence: int = 0,
) -> Case:  # fmt: skip
    """A one-off meeting starting at local `wall` (`fold=1`: the second of a repeated time)."""
    start = _instant(wall, tz, fold)
    event = _event(name, tz, start, minutes, sequence=sequence)
    return Case(name, event, method, ((start, start + timedelta(minutes=minutes)),))


def weekly(
    name: str, tz: ZoneInfo, first: datetime, minutes: int, *, skip: tuple[date, ...] = (),
    planned: datetime | None = None,
) -> Case:  # fmt: skip
    """A weekly series from local `first`, without the weeks of `skip` (dates of the series).

    `planned` is the first start of the series as first sent, for a moved series: its RRULE
    and EXDATEs still carry the planned weekday and time, as the stored meeting does.
    """
    planned = planned or first
    until = _instant(datetime.combine(planned.date() + timedelta(weeks=30), time(23, 59, 59)), tz)
    shift = timedelta(days=planned.weekday() - first.weekday())
    exdates = tuple(_instant(datetime.combine(d + shift, planned.time()), tz) for d in skip)
    event = _event(
        name, tz, _instant(first, tz), minutes, sequence=0, exdates=exdates,
        rrule=f"FREQ=WEEKLY;BYDAY={DAYS[planned.weekday()]};UNTIL={until:%Y%m%dT%H%M%SZ}",
    )  # fmt: skip
    walls = (first + timedelta(weeks=k) for k in itertools.count())
    kept = (w for w in walls if w.date() not in skip)
    starts = [_instant(w, tz) for w in itertools.islice(kept, OCCURRENCES)]
    return Case(name, event, "REQUEST", tuple((s, s + timedelta(minutes=minutes)) for s in starts))


def occurrence_moved(name: str, first: datetime, week: int, to: datetime) -> Case:
    """A weekly series, and an update moving its occurrence of week `week` (0-based) to
    local `to` (the series' UID with RECURRENCE-ID), as a calendar keeps them."""
    series = weekly(name, LONDON, first, 60)
    original = series.expected[week][0]
    moved = _instant(to, LONDON)
    update = replace(series.event, start=moved, rrule=None, sequence=1, recurrence_id=original)
    spans = [*series.expected[:week], (moved, moved + timedelta(minutes=60))]
    spans += series.expected[week + 1 :]
    return Case(name, series.event, "REQUEST", tuple(spans), (update,))


def occurrence_cancelled(name: str, first: datetime, week: int) -> Case:
    """The CANCEL of one occurrence of a weekly series: its start is read alone."""
    series = weekly(name, LONDON, first, 60)
    span = series.expected[week]
    event = replace(series.event, start=span[0], rrule=None, sequence=1, recurrence_id=span[0])
    return Case(name, event, "CANCEL", (span,))


def series_split(name: str, first: datetime, moved_to: datetime, *, skip: date) -> Case:
    """A weekly series moved to another weekday from `moved_to` on: the old series ends by
    UNTIL at its last occurrence before the move (SEQUENCE+1), a new one (its own UID)
    starts at `moved_to`, skipping the week of `skip` (on the new weekday)."""
    old = weekly(name, LONDON, first, 60)
    cutoff = _instant(moved_to, LONDON) - timedelta(days=4)
    kept = [span for span in old.expected if span[0] < cutoff]
    ended = replace(old.event, sequence=1, rrule=with_until(old.event.rrule or "", kept[-1][0]))
    new = weekly(f"{name}-new", LONDON, moved_to, 60, skip=(skip,))
    expected = tuple([*kept, *new.expected][:OCCURRENCES])
    return Case(name, ended, "REQUEST", expected, (new.event,))


D = datetime
CASES = (
    # The meeting: 16:00 BST is 15:00Z.
    single("london-summer", LONDON, D(2027, 10, 21, 16), 60),
    single("london-winter", LONDON, D(2026, 11, 19, 16), 90),
    single("london-update-moved", LONDON, D(2027, 6, 17, 16, 30), 90, sequence=1),
    single("london-cancel", LONDON, D(2026, 11, 19, 16), 90, method="CANCEL", sequence=2),
    weekly("london-weekly-autumn", LONDON, D(2026, 9, 7, 20), 60, skip=(date(2026, 10, 26),)),
    weekly("london-weekly-spring", LONDON, D(2027, 3, 1, 20), 60, skip=(date(2027, 3, 22),)),
    weekly("london-weekly-sunday-0030", LONDON, D(2026, 10, 4, 0, 30), 60),
    weekly("london-weekly-sunday-0030-spring", LONDON, D(2027, 3, 7, 0, 30), 60),
    weekly(
        "london-series-moved-1930",
        LONDON,
        D(2026, 9, 7, 19, 30),
        60,
        skip=(date(2026, 10, 26),),
        planned=D(2026, 9, 7, 20),
    ),
    weekly(
        "london-series-moved-tuesday",
        LONDON,
        D(2026, 9, 8, 20),
        60,
        skip=(date(2026, 10, 27),),
        planned=D(2026, 9, 7, 20),
    ),
    single("london-0030-spring-night", LONDON, D(2027, 3, 28, 0, 30), 90),
    single("london-0030-autumn-night", LONDON, D(2026, 10, 25, 0, 30), 90),
    single("london-0130-spring-night", LONDON, D(2027, 3, 28, 1, 30), 60),  # 01:30Z, 02:30 BST
    single("london-0130-autumn-night-bst", LONDON, D(2026, 10, 25, 1, 30), 60),
    single("london-0130-autumn-night-gmt", LONDON, D(2026, 10, 25, 1, 30), 60, fold=1),
    single("london-2330-ends-in-repeated-hour", LONDON, D(2026, 10, 24, 23, 30), 120),
    single("new-york-summer", NEW_YORK, D(2027, 7, 15, 16), 60),
    single("new-york-cancel", NEW_YORK, D(2026, 12, 3, 9), 45, method="CANCEL", sequence=1),
    weekly("new-york-weekly-autumn", NEW_YORK, D(2026, 10, 13, 19), 60, skip=(date(2026, 11, 3),)),
    weekly("new-york-weekly-spring", NEW_YORK, D(2027, 2, 23, 19), 60),
    weekly("new-york-weekly-sunday-0030", NEW_YORK, D(2026, 10, 18, 0, 30), 60),
    single("new-york-0030-spring-night", NEW_YORK, D(2027, 3, 14, 0, 30), 120),
    single("new-york-0130-autumn-night-edt", NEW_YORK, D(2026, 11, 1, 1, 30), 60),
    single("new-york-0130-autumn-night-est", NEW_YORK, D(2026, 11, 1, 1, 30), 60, fold=1),
    single("new-york-0030-ends-in-repeated-hour", NEW_YORK, D(2026, 11, 1, 0, 30), 75),
    occurrence_moved("london-occurrence-moved", D(2026, 9, 7, 20), 2, D(2026, 9, 22, 19)),
    occurrence_moved("london-occurrence-moved-gmt", D(2026, 10, 5, 20), 3, D(2026, 10, 27, 18)),
    occurrence_cancelled("london-occurrence-cancelled", D(2026, 9, 7, 20), 2),
    occurrence_cancelled("london-occurrence-cancelled-winter", D(2026, 10, 5, 20), 5),
    series_split(
        "london-split-tuesday", D(2026, 9, 7, 20), D(2026, 10, 6, 20), skip=date(2026, 10, 27)
    ),
    series_split(
        "london-split-gmt", D(2026, 10, 5, 20), D(2026, 11, 3, 19, 30), skip=date(2026, 12, 22)
    ),
)
NAMES = [case.name for case in CASES]
BY_NAME = {case.name: case for case in CASES}
# Reader faults no invite can avoid, each seen on one occurrence of a series that spans a
# clock change: the reader adds the length on the local clock, where RFC 5545 3.8.5.3 says
# the exact DTEND - DTSTART applies (ical.js also takes a repeated local time as the
# second instant). Strict: if a reader is fixed, the mark must go.
WALL_CLOCK_LENGTH = {
    "python": {"london-weekly-sunday-0030-spring"},
    "icaljs": {
        "london-weekly-sunday-0030",
        "london-weekly-sunday-0030-spring",
        "new-york-weekly-sunday-0030",
    },
}


def names(reader: str) -> list[object]:
    """Every case name, the reader's known faults marked as expected failures."""
    fault = pytest.mark.xfail(reason="reader adds the length on the local clock", strict=True)
    known = WALL_CLOCK_LENGTH.get(reader, set())
    return [pytest.param(n, marks=fault) if n in known else n for n in NAMES]


def invite(case: Case) -> bytes:
    """The invite as sent, with the TZID renamed so that only our VTIMEZONE can be used.

    The name is unique per content: icalendar caches the zones it has read by TZID.
    """
    data = build_calendar(case.event, ATTENDEES, method=case.method, stamp=STAMP)
    if case.more:
        calendar = icalendar.Calendar.from_ical(data)
        for event in case.more:
            later = build_calendar(event, ATTENDEES, method="REQUEST", stamp=STAMP)
            calendar.subcomponents += icalendar.Calendar.from_ical(later).walk("VEVENT")
        data = calendar.to_ical()
    tzid = str(case.event.tz).encode()
    return data.replace(tzid, b"Mailflow-" + hashlib.sha256(data).hexdigest()[:12].encode())


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _first(spans: list[list[int]]) -> tuple[Span, ...]:
    """The first occurrences, in time order, from Unix-second pairs."""
    return tuple((_utc(s), _utc(e)) for s, e in sorted(spans)[:OCCURRENCES])


@pytest.fixture(scope="module")
def invites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case's invite written to a file, by case name."""
    folder = tmp_path_factory.mktemp("invites")
    paths = {}
    for case in CASES:
        paths[case.name] = folder / f"{case.name}.ics"
        paths[case.name].write_bytes(invite(case))
    return paths


def _missing(reason: str) -> None:
    """Skip on a developer's machine; fail under CI, which must run every reader."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


def _run(command: list[str | Path]) -> dict[str, dict[str, object]]:
    """Run a reader over the invite files; its JSON lines by case name."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {Path(line["file"]).stem: line for line in lines}


@pytest.fixture(scope="module")
def icaljs(invites: dict[str, Path]) -> dict[str, dict[str, object]]:
    """ical.js's reading of every invite."""
    node = shutil.which("node")
    if node is None or not (ICALJS_DIR / "node_modules" / "ical.js").is_dir():
        _missing(f"node or ical.js missing: npm install --prefix {ICALJS_DIR} ical.js@2")
    assert node is not None
    return _run([node, HERE / "icaljs_expand.mjs", ICALJS_DIR, *invites.values()])


@pytest.fixture(scope="module")
def libical(
    invites: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, object]]:
    """libical's reading of every invite (the helper compiled once per run)."""
    gcc, pkg_config = shutil.which("gcc"), shutil.which("pkg-config")
    flags = None
    if gcc and pkg_config:
        found = subprocess.run(
            [pkg_config, "--cflags", "--libs", "libical"], capture_output=True, text=True
        )
        flags = found.stdout.split() if found.returncode == 0 else None
    if gcc is None or flags is None:
        _missing("gcc or libical missing: apt-get install gcc pkg-config libical-dev")
    assert gcc is not None and flags is not None
    program = tmp_path_factory.mktemp("libical") / "libical_expand"
    subprocess.run([gcc, "-O1", "-o", program, HERE / "libical_expand.c", *flags], check=True)
    return _run([program, *invites.values()])


def _python(path: Path) -> tuple[Span, ...]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    found = recurring_ical_events.of(calendar).after(datetime(2000, 1, 1, tzinfo=UTC))
    return tuple(
        (e.start.astimezone(UTC), e.end.astimezone(UTC))
        for e in itertools.islice(found, OCCURRENCES)
    )


def _show(spans: tuple[Span, ...]) -> list[str]:
    """Readable UTC spans for assertion messages."""
    return [f"{s:%Y-%m-%d %H:%M}Z-{e:%H:%M}Z" for s, e in spans]


@pytest.mark.parametrize("name", names("python"))
def test_icalendar_and_recurring_ical_events(name: str, invites: dict[str, Path]) -> None:
    assert _show(_python(invites[name])) == _show(BY_NAME[name].expected)


@pytest.mark.parametrize("name", names("icaljs"))
def test_icaljs(name: str, icaljs: dict[str, dict[str, object]]) -> None:
    spans = icaljs[name]["spans"]
    assert isinstance(spans, list)
    assert _show(_first(spans)) == _show(BY_NAME[name].expected)


@pytest.mark.parametrize("name", NAMES)
def test_libical(name: str, libical: dict[str, dict[str, object]]) -> None:
    spans = libical[name]["spans"]
    assert isinstance(spans, list)
    assert _show(_first(spans)) == _show(BY_NAME[name].expected)


@pytest.mark.parametrize("name", NAMES)
def test_libical_rfc5546_restrictions(name: str, libical: dict[str, dict[str, object]]) -> None:
    assert libical[name]["errors"] == []
    assert libical[name]["valid"] is True


def test_cases_are_what_they_say() -> None:
    """The change-night cases really sit on the change nights (guards the test data)."""
    ends_repeated = BY_NAME["london-2330-ends-in-repeated-hour"].expected[0][1]
    assert ends_repeated == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, first
    assert BY_NAME["london-summer"].expected[0][0] == datetime(2027, 10, 21, 15, tzinfo=UTC)
    gmt = BY_NAME["london-0130-autumn-night-gmt"].expected[0][0]
    assert gmt == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
