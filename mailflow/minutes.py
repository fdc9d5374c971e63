"""Minutes: the coordinator's Markdown in, rendered minutes and their actions out.

Pure: no database, no files. An action is a line such as
``- ACTION Jane Smith: send the moderation guide by 2026-12-10`` (also ``Action:``,
``**ACTION**``, ``Action -``); its owner is matched to a member by name, and a due
date is read from ``by 2026-12-10`` or ``by 10 December [2026]``.
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
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class Action:
    """Something a named person agreed to do, perhaps by a date."""

    owner: str
    email: str | None
    text: str
    due: date | None


@dataclass(frozen=True)
class Minutes:
    """The minutes as HTML (sanitised) and text, with the actions found in them."""

    html: str
    text: str
    actions: tuple[Action, ...]

    def actions_for(self, email: str) -> list[Action]:
        """The actions owned by the member with this address."""
        return [a for a in self.actions if a.email and a.email.lower() == email.lower()]


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


def find_actions(markdown: str, members: Mapping[str, str], *, today: date) -> tuple[Action, ...]:
    """Every ACTION line; `members` maps lower-cased names to addresses."""
    actions = []
    for line in markdown.splitlines():
        match = _ACTION_RE.match(line)
        if not match:
            continue
        owner = match["owner"].strip(" *_")
        text = match["text"].strip().rstrip(" *_")
        actions.append(Action(owner, members.get(owner.lower()), text, due_date(text, today=today)))
    return tuple(actions)


def render_minutes(markdown: str, members: Mapping[str, str], *, today: date) -> Minutes:
    """Render the coordinator's Markdown; raw HTML in it is sanitised, never passed on."""
    text = "\n".join(line.rstrip() for line in markdown.strip().splitlines())
    return Minutes(
        html=markdown_html(markdown),
        text=text,
        actions=find_actions(markdown, members, today=today),
    )


def actions_by_owner(actions: Sequence[Action]) -> list[Action]:
    """Actions ordered for the table: by owner, then due date (undated last)."""
    return sorted(actions, key=lambda a: (a.owner.lower(), a.due or date.max, a.text))
