"""The reply syntax's own lines: item markers (``Q:``, ``Item:`` ...) and ``withdraw N``.

Shared by `cleaning` (a line of the syntax is never taken for a signature) and
`replies` (which turns marked lines into items). Pure functions over one line.
"""

from __future__ import annotations

import re

# Lines of the reply's own structure (attributions, separators, taglines, sign-offs,
# greetings) are short. A longer line is never one: it is the member's text, kept as
# written without being matched, so no line can make a pattern slow.
MAX_LINE = 1000


def short(line: str) -> bool:
    """Whether `line` is short enough to be a line of the reply's structure."""
    return len(line) <= MAX_LINE


# Only the start of a text is searched for the reply's structure; what follows is kept
# as written. The longest member's text in tests/messages is under 2,000 characters.
MAX_TEXT = 16_000


def bounded(text: str) -> tuple[str, str]:
    """`text` split where the search for the reply's structure stops: the first
    `MAX_TEXT` characters up to the end of a line, and the rest, to be kept as written."""
    if len(text) <= MAX_TEXT:
        return text, ""
    end = text.rfind("\n", 0, MAX_TEXT)
    end = end if end > 0 else MAX_TEXT
    return text[:end], text[end:]


_I = re.IGNORECASE
_PS_PREFIX = r"(?:p\.?\s?s\.?\s*+[:,-]?\s*+)?"  # "P.S. Q: ..."
_MARKER = re.compile(
    rf"^\s*+{_PS_PREFIX}(?:[-*•·–]\s*+|\d{{1,2}}[.)]\s+|\(\d{{1,2}}\)\s+)?\*{{0,2}}"
    r"(?P<kind>q(?:uestion)?|item|agenda(?:\s+item)?|cwestiwn|eitem)\s*(?:\d{1,2}\s*)?[:：]"
    r"\*{0,2}"  # bold: "**Q:**" in Markdown-minded clients, "*Q:*" in Gmail's plain part
    r"\s*(?P<rest>.*)$",
    _I,
)
_MARKER_DASH = re.compile(  # "Q - ..." / "Item – ...": a dash where the colon should be
    r"^\s*+(?:[-*•·–]\s*+|\d{1,2}[.)]\s++)?(?P<kind>q|question|item|agenda(?:\s+item)?|"
    r"cwestiwn|eitem)(?:\s*+\d{1,2})?\s++[-–—]\s++(?P<rest>\S.*)$",
    _I,
)
_MARKER_Q = re.compile(  # "Q. ..." / "Q) ...": a capital Q and a full stop or bracket
    r"^\s*+(?:[-*•·–]\s*+|\d{1,2}[.)]\s++)?(?P<kind>Q)\d{0,2}[.)]\s++(?P<rest>\S.*)$"
)
_WITHDRAW = re.compile(  # possessive: "withdraw 1111..." must not try every split of the digits
    r"^\s*+withdraw\s++(?:items?\s++)?"
    r"(#?\s*+\d{1,6}+(?:\s*+(?:,|&|and)?\s*+#?\s*+\d{1,6}+)*+)"
    r"\s*+(?:[.!]\s*+)?(?:(?<=\s)[-–—:]\s*+\S.*)?$",  # "withdraw 3 - covered already"
    _I,
)
_WITHDRAW_ASKED = re.compile(  # "Can you withdraw 7 please - we've sorted it."
    r"^\s*+(?:(?:can|could|would) you(?: please)?|please|i'?d like to|i would like to)\s++"
    r"(?:withdraw|scrap|remove|drop|delete|take off|cancel)\s++(?:my\s++)?(?:items?\s++|"
    r"questions?\s++|number\s++|no\.?\s*+)?(#?\s*+\d{1,6}+)\b(?:\s*+(?:please|pls))?"
    r"\s*(?:[.!]|[,\s][-–—:]?\s*+\S.*)?\s*$",
    _I,
)


_WITHDRAW_PROSE = re.compile(  # "... so please withdraw item 5.", "can you withdraw 7 please"
    r"\bwithdraw\s++(?:my\s++)?(?:items?\s++|questions?\s++|number\s++|no\.?\s*+)?#?\s*+"
    r"(\d{1,6}+)(?!\d)(?:\s*+(?:,|&|and)\s*+#?\s*+\d{1,6}+(?!\d)){0,10}+",
    _I,
)


def withdrawal_in(sentence: str) -> re.Match[str] | None:
    """``withdraw N`` inside a sentence ("We sorted it, so please withdraw item 5.");
    the match's text holds the item numbers."""
    return _WITHDRAW_PROSE.search(sentence[:MAX_LINE])


def marker(line: str) -> re.Match[str] | None:
    """The marker at the start of `line` ("Q:", "Item -", "Q.", ...), if any; the match
    has the groups ``kind`` and ``rest``."""
    # each pattern is tried only on a line holding what every match of it holds: a
    # colon, a dash, a capital Q (most lines are the member's text and hold no colon)
    found = _MARKER.match(line) if ":" in line or "：" in line else None
    if found is None and ("-" in line or "–" in line or "—" in line):
        found = _MARKER_DASH.match(line)
    if found is None and "Q" in line:
        found = _MARKER_Q.match(line)
    return found


def withdrawal(line: str) -> re.Match[str] | None:
    """A ``withdraw N`` line ("withdraw 3, 5", "Could you withdraw 7 please"); group 1
    holds the item numbers."""
    return _WITHDRAW.match(line) or _WITHDRAW_ASKED.match(line)
