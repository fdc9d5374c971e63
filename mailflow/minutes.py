"""Minutes: the coordinator's Markdown in, rendered minutes and what they record out.

Pure: no database, no files. What the coordinator writes, and what it records:

* An action is a line such as ``- ACTION Jane Smith: send the moderation guide by
  2026-12-10`` (also ``Action:``, ``**ACTION**``, ``Action -``); its owner is matched to
  a member by name, and a due date is read from ``by 2026-12-10`` or ``by 10 December
  [2026]``.
* Attendance as it was: ``Present: Helen Brown (chair), Anna Lee, ben@school.org``,
  ``Apologies: Dev Rao`` and ``Absent: ...`` lines (names or addresses, separated by
  commas, semicolons or "and"; a remark in brackets or after " - " is ignored; "none"
  lists nobody).
* Which items were discussed: an item counts as discussed only when the minutes say so,
  by a heading that names it (its number, ``## #12 Attendance codes``, or its title) or
  a ``Discussed: 12, 14`` line; every other item on the agenda was not reached.

These record lines are taken out of the minutes' text: the mail shows them as its own
attendance and questions sections.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from mailflow.compose import markdown_html

_ACTION_RE = re.compile(
    r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*|__)?action(?:\*\*|__)?\s*[:\-–]?\s*"
    r"(?P<owner>[^:\n]{1,80}?)\s*:\s*(?P<text>\S.*)$",
    re.IGNORECASE,
)
_ISO_DUE_RE = re.compile(r"\bby\s+(\d{4})-(\d{2})-(\d{2})\b", re.IGNORECASE)
_DAY_MONTH_RE = re.compile(
    r"\bby\s+(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})(?:\s+(\d{4}))?\b", re.IGNORECASE
)
_RECORD_RE = re.compile(  # "Present: ...", "**Apologies:** ...", "- Discussed: 12, 14"
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?P<label>present|in attendance|attending|attended|"
    r"attendees|apologies(?: received)?|absent|not present|discussed)(?: from)?(?:\*\*|__)?\s*:"
    r"(?:\*\*|__)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_LABELS = {"present": "present", "in attendance": "present", "attending": "present",
           "attended": "present", "attendees": "present", "apologies": "apologies",
           "apologies received": "apologies", "absent": "absent", "not present": "absent",
           "discussed": "discussed"}  # fmt: skip
_NUMBERS_ONLY_RE = re.compile(r"(?:[\s,;&.#]|and|\d)*", re.IGNORECASE)  # "12, #14 and 15"
_NOBODY = {"", "none", "nil", "n/a", "-", "nobody", "no one", "none received"}
_REMARK_RE = re.compile(r"\([^()]*\)")  # "(chair)"
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.*)$")
_BOLD_LINE_RE = re.compile(r"^\s*(?:\*\*|__)(?P<text>[^*_].*)(?:\*\*|__)\s*$")
_ITEM_REF_RE = re.compile(r"#(\d{1,9})\b")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class ActionLine:
    """Something a named person agreed to do, perhaps by a date."""

    owner: str
    email: str | None
    text: str
    due: date | None


@dataclass(frozen=True)
class Record:
    """The minutes' record lines: who was present, sent apologies or was absent (names
    as written), and the item numbers a ``Discussed:`` line gives.

    `present` is None when the minutes have no Present: line at all.
    """

    present: tuple[str, ...] | None = None
    apologies: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    discussed: tuple[int, ...] = ()

    @property
    def attendance(self) -> bool:
        """Whether the minutes record any attendance."""
        return self.present is not None or bool(self.apologies or self.absent)


@dataclass(frozen=True)
class Minutes:
    """The minutes as HTML (sanitised) and text, with the actions and record lines found
    in them (the record lines are not in `html` and `text`)."""

    html: str
    text: str
    actions: tuple[ActionLine, ...]
    record: Record = Record()


def due_date(text: str, *, today: date) -> date | None:
    """The due date in an action's text, if it gives one (`today` picks the year)."""
    iso = _ISO_DUE_RE.search(text)
    if iso:
        try:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            return None
    named = _DAY_MONTH_RE.search(text)
    month = (
        _MONTHS.index(named[2][:3].lower()) + 1 if named and named[2][:3].lower() in _MONTHS else 0
    )
    if not named or not month:
        return None
    try:
        due = date(int(named[3]) if named[3] else today.year, month, int(named[1]))
    except ValueError:
        return None
    return due if named[3] or due >= today else due.replace(year=due.year + 1)


def find_actions(
    markdown: str, members: Mapping[str, str], *, today: date
) -> tuple[ActionLine, ...]:
    """Every ACTION line; `members` maps lower-cased names to addresses."""
    actions = []
    for line in markdown.splitlines():
        match = _ACTION_RE.match(line)
        if not match:
            continue
        owner = match["owner"].strip(" *_")
        text = match["text"].strip().rstrip(" *_")
        actions.append(
            ActionLine(owner, members.get(owner.lower()), text, due_date(text, today=today))
        )
    return tuple(actions)


def names_in(text: str) -> tuple[str, ...]:
    """The people a record line lists: "Helen Brown (chair), Anna Lee - treasurer and Ben"
    gives three; "none" gives none."""
    flat = " ".join(_REMARK_RE.sub(" ", text).replace("*", " ").split())
    flat = flat.replace(" and ", ",").replace(" & ", ",").replace(";", ",")
    names = [re.split(r" [-–—] ", n)[0].strip(" .") for n in flat.split(",")]  # "Ann - chair"
    return tuple(n for n in names if n.lower() not in _NOBODY)


def _record_line(line: str) -> tuple[str, str] | None:
    """(kind, rest) for a record line; a "Discussed:" line counts only when it lists item
    numbers ("Discussed: the new codes" is the minutes' own text)."""
    match = _RECORD_RE.match(line)
    if match is None:
        return None
    kind, rest = _LABELS[match["label"].lower()], match["rest"]
    if kind == "discussed" and not _NUMBERS_ONLY_RE.fullmatch(rest):
        return None
    return kind, rest


def find_record(markdown: str) -> Record:
    """The record lines of the minutes (see the module docstring)."""
    found: dict[str, list[str]] = {}
    for line in markdown.splitlines():
        record = _record_line(line)
        if record is not None:
            found.setdefault(record[0], []).append(record[1])
    people = {k: tuple(n for rest in v for n in names_in(rest)) for k, v in found.items()}
    numbers = [int(n) for rest in found.get("discussed", []) for n in re.findall(r"\d{1,9}", rest)]
    return Record(
        present=people.get("present"),
        apologies=people.get("apologies", ()),
        absent=people.get("absent", ()),
        discussed=tuple(dict.fromkeys(numbers)),
    )


def match_person(written: str, people: Sequence[tuple[str, str]]) -> str | None:
    """The address of the member `written` names, or None.

    `people` are (address, name) pairs. A name is matched by the member's address (also
    ``Name <address>``), their full name, or their first name when no other member has
    it; case and extra spaces do not matter.
    """
    words = written.replace("<", " ").replace(">", " ").split()
    address = next((w.lower() for w in words if "@" in w), None)
    if address is not None:
        return next((e for e, _ in people if e.lower() == address), None)
    name = " ".join(words).casefold()
    full = [e for e, n in people if " ".join(n.split()).casefold() == name]
    if full:
        return full[0]
    first = [e for e, n in people if n.split() and n.split()[0].casefold() == name]
    return first[0] if len(first) == 1 else None


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _headings(markdown: str) -> list[str]:
    found = []
    for line in markdown.splitlines():
        match = _HEADING_RE.match(line) or _BOLD_LINE_RE.match(line)
        if match:
            found.append(match["text"])
    return found


def discussed_ids(markdown: str, titles: Mapping[int, str]) -> frozenset[int]:
    """The items (of `titles`, id to title) the minutes mark as discussed: named by a
    heading (``#12`` or the item's title) or listed on a ``Discussed:`` line."""
    marked = set(find_record(markdown).discussed)
    for heading in _headings(markdown):
        marked.update(int(n) for n in _ITEM_REF_RE.findall(heading))
        words = f" {_words(heading)} "
        marked.update(i for i, title in titles.items() if _words(title) and
                      f" {_words(title)} " in words)  # fmt: skip
    return frozenset(i for i in marked if i in titles)


DISCUSSED = "discussed at the meeting"
NOT_REACHED = "not reached"
_OUTCOMES = {"deferred": "deferred to the next meeting",
             "written-answer": "awaiting a written answer"}  # fmt: skip


def outcome(*, status: str, discussed: bool, answered: bool) -> str:
    """What the minutes say became of an item: discussed only when they say so."""
    if discussed:
        return DISCUSSED
    if answered:
        return "answered in writing"
    return _OUTCOMES.get(status, NOT_REACHED)


def _without_record_lines(markdown: str) -> str:
    return "\n".join(line for line in markdown.splitlines() if _record_line(line) is None)


def render_minutes(markdown: str, members: Mapping[str, str], *, today: date) -> Minutes:
    """Render the coordinator's Markdown; raw HTML in it is sanitised, never passed on."""
    shown = _without_record_lines(markdown)
    text = "\n".join(line.rstrip() for line in shown.strip().splitlines())
    return Minutes(
        html=markdown_html(shown),
        text=text,
        actions=find_actions(markdown, members, today=today),
        record=find_record(markdown),
    )
