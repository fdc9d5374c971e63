"""Commands in replies: pure parsing of votes, volunteers, poll choices, coordinator orders.

Members (in a reply to the call for items, the "what has been proposed" mail or an
acknowledgement), one command per line, anywhere in their own text:

* ``+1 3 7`` supports items 3 and 7; ``-1 4`` votes item 4 down (``#3``, commas and
  "and" are fine: ``+1 for items #3, #7``);
* ``answer 5`` volunteers to answer question 5 in writing (``I'll answer #5``);
* ``done 2`` (``done 2, 5``, ``#3 done``, ``action 3 is done``) closes actions; a bare
  "Done!" names no action and is left as text;
* ``Theme: Workload and wellbeing`` (``Suggested theme:``, ``Theme idea:``) proposes a
  theme for the weekly chat's poll.

A poll reply names one option by its number (``2``, ``#2``, ``option 2``, ``Option 2
please!``, ``Actually, 2``, ``+1 2``) or by its words (``I'd go for workload``). A reply
that names two different options, or none, is not a choice.

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

from mailflow.sentences import sentences
from mailflow.syntax import bounded, short

MAX_ID = 999_999_999  # ids are at most nine digits: anything longer is not an id of ours
_NUMBER = r"#?(\d{1,9})"
_FILLER = {"for", "item", "items", "and", "&", "question", "questions", "q"}
_VOTE_RE = re.compile(r"^[-*•]?\s*([+\-−–])1\b\s*[:,]?\s*(.*)$")
_TOKEN_SPLIT = re.compile(r"[\s,;]+")
_BULLET = re.compile(r"^\s*(?:[-*•]\s+)?")
_IDS = r"#?\d{1,9}+(?!\d)(?:\s*+(?:,|&|and)?\s*+#?\d{1,9}+(?!\d)){0,20}+"  # "2, 5 and #7"
_VOLUNTEER_RE = re.compile(  # "answer 5", "I'll answer question #6", "answer 27, 18"
    rf"^(?:i(?:'ll|’ll| will| can| could)?\s+)?answer\s+(?:questions?\s+|items?\s+|q\s*)?"
    rf"(?P<ids>{_IDS})\s*[.!]?$",
    re.IGNORECASE,
)
# Commands inside a sentence: "I vote for 27 and 3 please", "Happy to support #9 and #21",
# "... : +1 9 21", "I can answer 5". Numbers must end the command ("I vote for 3 of
# them" is no vote), and "support" needs "#" or "item" ("we support 30 pupils").
_ENDS = (
    r"(?=\s*+(?:please|pls|thanks|thank you|too|as well|if (?:that's|that is) ok)?"
    r"\s*+(?:[.!,;:)–—-]|$))"
)
_VOTE_PROSE = re.compile(
    r"\b(?:vote|votes|voting)\s++(?:is\s++|are\s++|goes\s++to\s++|go\s++to\s++)?(?:for\s++)?"
    rf"(?:items?\s++|questions?\s++|numbers?\s++)?(?P<a>{_IDS}){_ENDS}|"
    r"\b(?:support|back|second)\s++(?:(?:items?|questions?|numbers?)\s++#?|#)"
    rf"(?P<b>{_IDS}){_ENDS}|(?<!\S)\+1\b\s*+(?:for\s++|to\s++)?(?:items?\s++|questions?\s++)?"
    rf"(?P<c>{_IDS})\s*+[.!]*+$",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_ASCII_DIGIT = re.compile(r"[0-9]")  # the same test on ASCII text, four times as fast


def _has_digit(line: str) -> bool:
    """Whether `line` holds a digit (`_DIGIT`), tested the fast way on ASCII text."""
    return bool((_ASCII_DIGIT if line.isascii() else _DIGIT).search(line))


_VOLUNTEER_PROSE = re.compile(
    r"\b(?:i(?:'ll|’ll| will| can| could)|happy to|glad to|i'?m happy to|i'?d be (?:happy|glad) "
    r"to)\s++(?:answer\s++(?:questions?\s++|items?\s++|q\s*+|number\s++)?|(?:take|pick up)"
    rf"\s++(?:questions?\s++#?|q\s*+|#))(?P<a>{_IDS}){_ENDS}",
    re.IGNORECASE,
)
_DONE_RE = re.compile(  # "done 2, 5" / "#3 done" / "action 3 is done now"
    rf"^(?:(?:actions?\s++)?(?:done|completed?|closed?)\s*+[:,-]?\s*+(?:actions?\s++)?(?P<a>{_IDS})|"
    rf"(?:actions?\s++|items?\s++)?(?P<b>{_IDS})\s++(?:is\s++|are\s++|has\s++been\s++|"
    r"have\s++been\s++|now\s++)?(?:done|complete[d]?|finished|closed))"
    r"(?:\s++(?:now|too|already|as\s++well))?,?(?:\s++(?:thanks|thank\s++you))?\s*+[.!]*+$",
    re.IGNORECASE,
)
_THEME_RE = re.compile(  # "Theme: Workload and wellbeing" / "Suggested theme - ..."
    r"^(?:(?:suggested|proposed|new|my|a)\s++)?(?:theme|thema|thème)"
    r"(?:\s++(?:idea|suggestion|proposal))?(?:\s*+[:：]|\s++[-–—])\s*+(?P<theme>\S.{0,199})$",
    re.IGNORECASE,
)


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
    done: tuple[int, ...] = ()
    themes: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        """Whether the text held any command at all."""
        return bool(self.votes or self.volunteers or self.done or self.themes)


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


def _ids(text: str) -> list[int]:
    return list(dict.fromkeys(int(n) for n in re.findall(r"\d+", text)))


def _volunteer_line(line: str) -> list[int]:
    match = _VOLUNTEER_RE.match(_BULLET.sub("", line.strip(), count=1))
    return _ids(match["ids"]) if match else []


def _prose_commands(line: str) -> tuple[list[VoteCommand], list[int], str] | None:
    """Votes and volunteers written in the member's sentences, and the line without the
    sentences that held them; None when the line holds none."""
    if not short(line) or not _has_digit(line):  # a longer line is the member's text;
        return None  # both kinds of command name an item by its number
    votes: list[VoteCommand] = []
    volunteers: list[int] = []
    kept: list[str] = []
    for sentence in sentences(line):
        vote, offer = _VOTE_PROSE.search(sentence), _VOLUNTEER_PROSE.search(sentence)
        if vote is None and offer is None:
            kept.append(sentence)
            continue
        if vote is not None:
            votes += [VoteCommand(n, 1) for n in _ids(vote["a"] or vote["b"] or vote["c"])]
        if offer is not None:
            volunteers += _ids(offer["a"])
    if not votes and not volunteers:
        return None
    return votes, volunteers, " ".join(kept)


def done_line(line: str) -> tuple[int, ...]:
    """The actions a line closes ("done 2, 5", "#3 done", "action 3 is done"); none for
    any other line, "Done!" included."""
    match = _DONE_RE.match(" ".join(_BULLET.sub("", line.strip(), count=1).split()))
    if match is None:
        return ()
    ids = re.findall(r"\d+", match["a"] or match["b"])
    return tuple(dict.fromkeys(int(n) for n in ids))


def theme_line(line: str) -> str | None:
    """The theme a ``Theme: ...`` line proposes for the weekly chat's poll, if it is one."""
    match = _THEME_RE.match(_BULLET.sub("", line.strip(), count=1))
    if match is None:
        return None
    theme = " ".join(match["theme"].split()).rstrip(".")
    return theme or None


def member_commands(text: str) -> MemberCommands:
    """Find vote, volunteer, done and theme lines in a member's own (already cleaned) text.

    Parameters:
        text: the member's words, quotes and signature already removed.

    Returns:
        The votes (a later vote on the same item wins), the volunteered question ids,
        the actions said to be done, the proposed themes, and the remaining lines as
        `rest` (what may still hold questions or items).
        Only the first `syntax.MAX_TEXT` characters are searched; the text after
        them is in `rest` as written.
    """
    votes: dict[int, VoteCommand] = {}
    volunteers: list[int] = []
    done: list[int] = []
    themes: list[str] = []
    rest: list[str] = []
    head, unsearched = bounded(str(text))
    for line in head.splitlines():
        if not line.strip():
            rest.append(line)
            continue
        if not _has_digit(line):  # every command but a theme names an item by number
            theme = theme_line(line)
            if theme:
                themes.append(theme)
            else:
                rest.append(line)
            continue
        found = _vote_line(line)
        if found:
            votes.update({v.item_id: v for v in found})
            continue
        offered = _volunteer_line(line)
        if offered:
            volunteers += offered
            continue
        closed = done_line(line)
        theme = None if closed else theme_line(line)
        if closed or theme:
            done += closed
            themes += [theme] if theme else []
            continue
        prose = _prose_commands(line)
        if prose is None:
            rest.append(line)
            continue
        votes.update({v.item_id: v for v in prose[0]})
        volunteers += prose[1]
        if prose[2]:
            rest.append(prose[2])
    return MemberCommands(
        votes=tuple(votes.values()),
        volunteers=tuple(dict.fromkeys(volunteers)),
        rest=("\n".join(rest) + unsearched).strip(),
        done=tuple(dict.fromkeys(done)),
        themes=tuple(dict.fromkeys(themes)),
    )


# --- polls -----------------------------------------------------------------------------

# Words around a number that do not change which option it names: "Actually, option 2
# please!", "I'd go for number 2", "+1 2", "My vote is 2, thanks".
_CHOICE_FILLER = frozenset({
    "actually", "ok", "okay", "so", "oh", "then", "i", "d", "ll", "m", "would", "will", "go",
    "for", "vote", "votes", "voting", "choose", "pick", "prefer", "like", "option", "choice",
    "number", "no", "please", "pls", "thanks", "thank", "you", "my", "is", "it", "s", "that",
    "one", "mine", "hi", "hello", "yes", "definitely", "too", "as", "well", "id", "im", "or",
    "and",
})  # fmt: skip
_PLUS_ONE = re.compile(r"^\s*+[-*•]?\s*+\+1\b\s*+(?:for\s++)?")

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


def _numbers_chosen(line: str, options: Sequence[str]) -> set[int] | None:
    """The numbers a line names when it is only numbers and filler words ("Option 2
    please!", "Actually, 2", "+1 2"); None for any other line. A number out of range is
    0, so that it makes the reply unclear rather than choosing something else."""
    words = _words(_PLUS_ONE.sub("", line, count=1)).split()
    if not words or len(words) > 12:
        return None
    if any(w not in _CHOICE_FILLER and not _number(w) for w in words):
        return None
    numbers = {int(w) for w in words if _number(w)}
    return {n if 1 <= n <= len(options) else 0 for n in numbers} or None


def _number(word: str) -> bool:
    """Whether a word is a number of ours (ASCII digits, at most nine)."""
    return word.isascii() and word.isdecimal() and len(word) <= 9


def _strong_choices(line: str, options: Sequence[str]) -> set[int]:
    """A number in range (with only filler words around it), or exactly one option's
    words, and nothing else on the line."""
    numbers = _numbers_chosen(line, options)
    if numbers is not None:
        return numbers
    words = _words(line)
    exact = [n for n, option in enumerate(options, 1) if words and _words(option) == words]
    return {exact[0]} if len(exact) == 1 else set()


def _weak_choices(line: str, options: Sequence[str]) -> set[int]:
    """The one option sharing the most distinctive words with the line (a tie is
    unclear: 0)."""
    said = _significant(line)
    scores = [len(said & _significant(option)) for option in options]
    best = max(scores, default=0)
    if best == 0:
        return set()
    return {scores.index(best) + 1} if scores.count(best) == 1 else {0}


def poll_choice(text: str, options: Sequence[str]) -> int | None:
    """The option (1-based) a reply chooses, or None when it names none or several.

    A line that is only a number and filler words (``2``, ``#2``, ``Option 2 please!``,
    ``Actually, 2``, ``+1 2``, ``number 2``) or exactly an option's words decides.
    Failing that, each line points at the one option sharing the most distinctive words
    with it ("curriculum", "I'd go for workload"). Two different numbers, a number out
    of range, lines pointing at different options, or a line tied between two, choose
    nothing. Only the first `syntax.MAX_TEXT` characters are read.
    """
    lines = [ln for ln in bounded(str(text))[0].splitlines() if ln.strip()]
    for pick in (_strong_choices, _weak_choices):
        found = set().union(*(pick(ln, options) for ln in lines))
        if len(found) == 1 and 0 not in found:
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
