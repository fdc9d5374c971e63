"""Our own mail in a reply -> gone: what is left is the member's. Pure functions over text.

Every reply address is signed for one mailing and member, so we usually know the exact
mail a reply answers (see `sentmail`). Its copy in the reply is found by its words, not
by its line format: ``>`` quoting, Outlook's unquoted copy under a header block, a
client's re-wrapping and an HTML part converted to text all keep the same sequence of
words. Each line of the reply is compared with the original as a run of normalised words
(lower case, punctuation and quote marks gone):

* a line of three words or more belongs to the original when nearly all its word
  triples occur in it (a re-wrapped line is a piece of the original's word stream);
* a line of one or two words only when it is quoted with ``>`` and occurs in the
  original, when it continues the line above it in the original's word stream (a
  re-wrapped "Centre."), or when it is a whole line of the original standing between
  lines of it or under the header block (our "Dear Tom,");
* a run of such lines (blank lines between them allowed) holding at least
  `MIN_WORDS` words is a copy of our mail and goes, with the attribution or header
  lines directly above it ("On ... wrote:", wrapped or in any language; "From:/Sent:"
  blocks; "-----Original Message-----" and other separator lines).

Whatever else the member typed — above, below, or between our lines (Outlook's "answers
in blue") — is kept as written. The language-independent rules of `cleaning` still run
on what is left (signatures, and quoted history older than our mail).

Without the original (`without_our_wording`), the same matching runs against the fixed
sentences of our member templates and our listing of proposed items: what varies (names,
dates, titles) and the attribution lines stay for `cleaning`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from mailflow.cleaning import header_line
from mailflow.syntax import MAX_LINE, bounded, marker

MIN_WORDS = 6  # a shorter run is a coincidence of words, not a copy of our mail
_SHARE = 0.8  # the share of a line's word triples that must occur in the original
_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"^\s*+>")
_ABOVE = 8  # attribution and header lines looked for above a copy
# An attribution or header line above the copy, in any language and however wrapped:
# a mail header ("From:", "Gesendet:", "Objet:"), a separator, or a line holding an
# address or a date and ending like a line that introduces something (":", "<").
_SEPARATOR = re.compile(r"^[\s*_=~—–-]*+(?:[^\W\d_][\w' -]{0,40}?)?[\s*_=~—–-]*+$")
_DECORATED = re.compile(r"[-_=*—–]{2,}")


@dataclass(frozen=True)
class _Original:
    """The original's words: the set of word triples, of pairs and of whole short lines."""

    triples: frozenset[tuple[str, ...]]
    words: frozenset[str]
    pairs: frozenset[tuple[str, ...]]
    short_lines: frozenset[tuple[str, ...]]
    wording: bool = False  # our templates' wording, not the mail itself (see _our_wording)


# For ASCII text: each byte that is not a word character (`_WORD`) made a space
_NOT_WORD = bytes(c if _WORD.match(chr(c)) else 32 for c in range(128)) + bytes(range(128, 256))


def _words(line: str) -> list[str]:
    if line.isascii():  # the same words as below, split three times as fast
        return line.lower().encode().translate(_NOT_WORD).decode().split()
    return _WORD.findall(line.casefold())


def _grams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*[words[k:] for k in range(n)], strict=False))


def _read_original(original: str, *, wording: bool = False) -> _Original:
    stream: list[str] = []
    short_lines: set[tuple[str, ...]] = set()
    for line in bounded(original)[0].splitlines():
        words = _words(line[:MAX_LINE])
        stream += words
        if 0 < len(words) <= 2:
            short_lines.add(tuple(words))
    return _Original(
        frozenset(_grams(stream, 3)), frozenset(stream), frozenset(_grams(stream, 2)),
        frozenset(short_lines), wording,
    )  # fmt: skip


# What each line of the reply is: ours for sure, ours if between ours, blank, the member's
_OURS, _MAYBE, _BLANK, _THEIRS = "o", "m", "b", "t"


# our own listing of proposed items ("  #4 question: How are you ...? (Priya Shah)")
_LISTING = re.compile(r"^[\s>]++#\d{1,9}+ (?:question|agenda|apology|resource): \S")


def _kind(words: list[str], line: str, original: _Original, before: list[str]) -> str:
    """The kind of a line of `words`; `before` are the last words of the line above it,
    which a short line re-wrapped from it continues ("...at the Teachers" / "Centre.")."""
    if not words:
        return _BLANK
    if original.wording and _LISTING.match(line):
        return _OURS
    if len(words) >= 3:
        triples = zip(words, words[1:], words[2:], strict=False)  # as _grams(words, 3)
        found = sum(map(original.triples.__contains__, triples))
        return _OURS if found >= _SHARE * (len(words) - 2) else _THEIRS
    key = tuple(words)
    known = key in original.pairs if len(words) == 2 else words[0] in original.words
    if known and _QUOTED.match(line):
        return _OURS
    joined = before[-2:] + words
    if len(joined) >= 3 and all(t in original.triples for t in _grams(joined, 3)):
        return _OURS
    return _MAYBE if key in original.short_lines else _THEIRS


def _kinds(lines: list[str], original: _Original) -> list[tuple[str, int]]:
    """Each line's kind and number of words."""
    out: list[tuple[str, int]] = []
    before: list[str] = []
    for line in lines:
        words = _words(line[:MAX_LINE])
        kind = _kind(words, line, original, before)
        out.append((kind, len(words)))
        if words:
            before = words if kind == _OURS else []
    return out


def _copies(kinds: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """(start, end) of each run of our lines holding at least `MIN_WORDS` words; a run
    may hold blank lines and short lines of the original between our lines."""
    runs: list[tuple[int, int]] = []
    n = 0
    while n < len(kinds):
        if kinds[n][0] != _OURS:
            n += 1
            continue
        start, end, words = n, n + 1, kinds[n][1]
        k = end
        while k < len(kinds) and kinds[k][0] in (_OURS, _MAYBE, _BLANK):
            if kinds[k][0] == _OURS:
                words += sum(w for _, w in kinds[end : k + 1])
                end = k + 1
            k += 1
        if words >= MIN_WORDS:
            runs.append((start, end))
        n = k
    return runs


def _attribution_start(lines: list[str], kinds: list[tuple[str, int]], start: int) -> int:
    """Where the attribution or header lines directly above a copy start (or `start`).

    Also takes short lines of the original right above the copy ("Dear Tom,") when
    they follow such lines."""
    top, k, seen = start, start - 1, 0
    while k >= 0 and seen < _ABOVE:
        line, kind = lines[k], kinds[k][0]
        if kind == _BLANK:
            k -= 1
            continue
        if kind == _MAYBE and top == start:
            top, k = k, k - 1  # "Dear Tom," under the header block: ours if one is above
            continue
        if not _introduces(line):
            break
        seen += 1
        top, k = k, k - 1
    if (
        top < start
        and not _introduces(lines[top])
        and all(kinds[j][0] in (_MAYBE, _BLANK) for j in range(top, start))
    ):
        return start  # short lines with no attribution above: they may be the member's
    return top


def _introduces(line: str) -> bool:
    """Whether `line` can be part of an attribution or header block above a quote."""
    text = line.strip()
    if len(text) > 300:
        return False
    if _QUOTED.match(text):
        return True
    if _SEPARATOR.fullmatch(text) and (_DECORATED.search(text) or not _words(text)):
        return True
    if marker(text):
        return False
    if header_line(text):
        return True
    dated = bool(re.search(r"\d", text))
    addressed = "@" in text or "<" in text
    return (dated or addressed) and text.rstrip("*").endswith((":", "：", "<", ">", ","))


def without_original(text: str, original: str) -> str:
    """`text` without the copies of `original` in it and the attribution lines above
    them; each copy leaves one blank line, so what was typed around it stays apart.

    Only the first `syntax.MAX_TEXT` characters are searched; the rest is kept.
    """
    return _without(text, _read_original(original))


# Jinja's tags in our own template files (not outside input)
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@cache
def _our_wording() -> _Original:
    """The fixed words of every mail we send members (the templates without their
    variables), with our listing of proposed items."""
    folder = resources.files("mailflow.templates") / "member"
    texts = [f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(".txt.j2")]
    return _read_original("\n".join(_TAG.sub("\n", t) for t in sorted(texts)), wording=True)


def without_our_wording(text: str) -> str:
    """`text` without runs of lines worded as our mail to members is (a call for items,
    an invitation...), for a reply whose original we do not have: the templates' fixed
    sentences and our listing of proposed items are found however they are quoted; the
    lines that vary (names, dates, titles) and the attribution above stay for the rules
    of `cleaning`."""
    return _without(text, _our_wording())


def _without(text: str, ours: _Original) -> str:
    head, rest = bounded(text)
    if not ours.triples:
        return text
    lines = head.split("\n")
    kinds = _kinds(lines, ours)
    kept: list[str] = []
    done = 0
    for start, end in _copies(kinds):
        # the attribution above a copy of the mail itself goes with it; above our mere
        # wording it stays, for `cleaning` to find the quote it heads
        top = start if ours.wording else _attribution_start(lines, kinds, start)
        kept += [*lines[done : max(top, done)], ""]
        done = end
    if done == 0:
        return text
    return "\n".join(kept + lines[done:]) + rest
