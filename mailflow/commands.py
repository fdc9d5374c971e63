"""Commands in replies: pure parsing of votes, volunteers, poll choices, coordinator orders.

Members (in a reply to the call for items, the "what has been proposed" mail or an
acknowledgement), one command per line, anywhere in their own text:

* ``+1 3 7`` supports items 3 and 7; ``-1 4`` votes item 4 down (``#3``, commas and
  "and" are fine: ``+1 for items #3, #7``);
* ``answer 5`` volunteers to answer question 5 in writing (``I'll answer #5``).

A poll reply names one option by its number (``2``, ``#2``, ``option 2``) or by its words
(``workload``). A reply that names two different options, or none, is not a choice.

The coordinator (in a reply to the agenda draft), one command per line:
``approve``, ``defer N``, ``merge A B`` (B is folded into A; ``merge B into A`` is the
same), ``minutes N M`` (item N gets M minutes). Every other non-blank line is returned
as not understood: nothing is ever guessed.

Everything here takes text and returns dataclasses; nothing raises on any input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailflow.syntax import bounded

MAX_ID = 999_999_999  # ids are at most nine digits: anything longer is not an id of ours
_NUMBER = r"#?(\d{1,9})"
_FILLER = {"for", "item", "items", "and", "&", "question", "questions", "q"}
_VOTE_RE = re.compile(r"^[-*•]?\s*([+\-−–])1\b\s*[:,]?\s*(.*)$")
_TOKEN_SPLIT = re.compile(r"[\s,;]+")
_VOLUNTEER_RE = re.compile(
    rf"^(?:i(?:'ll|’ll| will| can| could)?\s+)?answer\s+(?:question\s+|item\s+|q\s*)?{_NUMBER}"
    r"\s*[.!]?$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•]\s+)?")


@dataclass(frozen=True)
class VoteCommand:
    """``+1 N`` or ``-1 N``: a member's priority vote on item N."""

    item_id: int
    value: int


@dataclass(frozen=True)
class MemberCommands:
    """The commands found in a member's text, and the text without those lines."""

    votes: tuple[VoteCommand, ...]
    volunteers: tuple[int, ...]
    rest: str

    @property
    def found(self) -> bool:
        """Whether the text held any command at all."""
        return bool(self.votes or self.volunteers)


def _vote_line(line: str) -> list[VoteCommand] | None:
    """The votes on one line (``+1 3 7``), or None if the line is not a vote."""
    match = _VOTE_RE.match(line.strip())
    if not match:
        return None
    value = 1 if match.group(1) == "+" else -1
    ids: list[int] = []
    for token in _TOKEN_SPLIT.split(match.group(2).strip().rstrip(".!").lower()):
        if not token or token in _FILLER:
            continue
        number = re.fullmatch(_NUMBER, token)
        if number is None:
            return None
        ids.append(int(number.group(1)))
    return [VoteCommand(i, value) for i in dict.fromkeys(ids)] or None


def _volunteer_line(line: str) -> int | None:
    match = _VOLUNTEER_RE.match(_BULLET.sub("", line.strip(), count=1))
    return int(match.group(1)) if match else None


def member_commands(text: str) -> MemberCommands:
    """Find vote and volunteer lines in a member's own (already cleaned) text.

    Parameters:
        text: the member's words, quotes and signature already removed.

    Returns:
        The votes (a later vote on the same item wins), the volunteered question ids,
        and the remaining lines as `rest` (what may still hold questions or items).
        Only the first `syntax.MAX_TEXT` characters are searched; the text after
        them is in `rest` as written.
    """
    votes: dict[int, VoteCommand] = {}
    volunteers: list[int] = []
    rest: list[str] = []
    head, unsearched = bounded(str(text))
    for line in head.splitlines():
        if not line.strip():
            rest.append(line)
            continue
        found = _vote_line(line)
        if found:
            votes.update({v.item_id: v for v in found})
            continue
        number = _volunteer_line(line)
        if number is not None:
            volunteers.append(number)
            continue
        rest.append(line)
    return MemberCommands(
        votes=tuple(votes.values()),
        volunteers=tuple(dict.fromkeys(volunteers)),
        rest=("\n".join(rest) + unsearched).strip(),
    )


# --- polls -----------------------------------------------------------------------------

_CHOICE_NUMBER = re.compile(
    r"^(?:(?:i\s+)?(?:vote|choose|pick)(?:\s+for)?\s+|my\s+vote(?:\s+is)?:?\s+)?"
    r"(?:option\s+|choice\s+|number\s+)?#?(\d{1,3})\s*[.)!]?(?:\s+please)?$",
    re.IGNORECASE,
)


_STOP_WORDS = frozenset({
    "a", "an", "and", "or", "the", "of", "to", "for", "in", "on", "at", "with", "without",
    "about", "i", "my", "me", "we", "our", "is", "be", "it", "please", "vote", "choose",
    "pick", "prefer", "like", "would", "d", "ll", "option", "choice", "number", "go",
})  # fmt: skip


def _words(text: str) -> str:
    """Lower-case words only: punctuation and extra spaces gone."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def _significant(text: str) -> set[str]:
    """The words of `text` that can tell one option from another."""
    return set(_words(text).split()) - _STOP_WORDS


def _strong_choice(line: str, options: Sequence[str]) -> int | None:
    """A number in range, or exactly one option's words, and nothing else on the line."""
    number = _CHOICE_NUMBER.match(line.strip())
    if number and 1 <= int(number.group(1)) <= len(options):
        return int(number.group(1))
    words = _words(line)
    exact = [n for n, option in enumerate(options, 1) if words and _words(option) == words]
    return exact[0] if len(exact) == 1 else None


def _weak_choice(line: str, options: Sequence[str]) -> int | None:
    """The one option sharing the most distinctive words with the line (no ties)."""
    said = _significant(line)
    scores = [len(said & _significant(option)) for option in options]
    best = max(scores, default=0)
    if best == 0 or scores.count(best) > 1:
        return None
    return scores.index(best) + 1


def poll_choice(text: str, options: Sequence[str]) -> int | None:
    """The option (1-based) a reply chooses, or None when it names none or several.

    A line that is only a number in range (``2``, ``#2``, ``option 2``) or exactly an
    option's words decides. Failing that, each line points at the one option sharing
    the most distinctive words with it ("curriculum", "I vote for workload"). Lines
    pointing at different options, or a line tied between two, choose nothing. Only
    the first `syntax.MAX_TEXT` characters are read.
    """
    lines = [ln for ln in bounded(str(text))[0].splitlines() if ln.strip()]
    for pick in (_strong_choice, _weak_choice):
        found = {pick(ln, options) for ln in lines}
        found.discard(None)
        if len(found) == 1:
            return found.pop()
        if found:
            return None
    return None


# --- the coordinator ---------------------------------------------------------------------

VERBS = ("approve", "defer", "merge", "minutes")
_COMMAND_RES = (
    ("approve", re.compile(r"^approved?[.!]?$")),
    ("defer", re.compile(rf"^defer\s+(?:item\s+)?{_NUMBER}[.!]?$")),
    ("merge", re.compile(rf"^merge\s+(?:item\s+)?{_NUMBER}\s*(?:,|and|with)?\s*{_NUMBER}[.!]?$")),
    ("merge-into", re.compile(rf"^merge\s+(?:item\s+)?{_NUMBER}\s+into\s+{_NUMBER}[.!]?$")),
    ("minutes", re.compile(
        rf"^minutes\s+(?:item\s+)?{_NUMBER}\s*[:,=]?\s*(\d{{1,4}})\s*(?:m|min|mins|minutes)?[.!]?$"
    )),
)  # fmt: skip


@dataclass(frozen=True)
class Command:
    """One understood coordinator command; `args` are item ids (and minutes)."""

    verb: str
    args: tuple[int, ...]
    line: str


@dataclass(frozen=True)
class CoordinatorReply:
    """What a coordinator's reply says: commands in order, and lines not understood."""

    commands: tuple[Command, ...]
    not_understood: tuple[str, ...]

    @property
    def doubtful(self) -> bool:
        """True if a line not understood looks like a command (a verb or a number in it).

        Such a reply may have meant a change we did not make, so `approve` waits.
        """
        return any(
            re.search(r"\d", line) or any(v in line.lower() for v in VERBS)
            for line in self.not_understood
        )


def _command(line: str) -> Command | None:
    text = " ".join(_BULLET.sub("", line, count=1).lower().split())
    for verb, pattern in _COMMAND_RES:
        match = pattern.match(text)
        if match is None:
            continue
        args = tuple(int(g) for g in match.groups())
        if verb == "merge-into":  # "merge 5 into 3" keeps 3
            return Command("merge", (args[1], args[0]), line.strip())
        return Command(verb, args, line.strip())
    return None


def coordinator_commands(text: str) -> CoordinatorReply:
    """Read the coordinator's reply to an agenda draft, line by line.

    Parameters:
        text: the coordinator's own words (quotes and signature already removed).

    Returns:
        The understood commands in the order written, and every other non-blank line
        (shortened to 200 characters) as not understood.
    """
    commands: list[Command] = []
    unknown: list[str] = []
    for line in str(text).splitlines():
        if not line.strip():
            continue
        command = _command(line)
        if command is None:
            flat = " ".join(line.split())
            unknown.append(flat if len(flat) <= 200 else flat[:199] + "…")
        else:
            commands.append(command)
    return CoordinatorReply(tuple(commands), tuple(unknown))
