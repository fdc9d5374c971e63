"""A member's words -> sentences, and what each sentence does. Pure functions over text.

The reply reader (`replies`) reads a reply without markers sentence by sentence: which
sentence sends apologies, which asks the group something, which only leads in to what
follows, which asks for time. The rules look at what carries the meaning, not at fixed
phrases: a negated modal with a verb of attending ("won't be able to join", "can't do
Monday", "won't see you all on the 19th"), being somewhere else at the time ("I'll be
at Calshot with Year 6 ... that week", "stuck at school"), a regret word ("I'm afraid",
"unfortunately", "sorry"), in English and Welsh.

Every pattern is linear: bounded character classes and bounded gaps (``.{0,60}``), no
nested quantifiers; sentences are split in one pass.
"""

from __future__ import annotations

import re

from mailflow.cleaning import without_symbols
from mailflow.syntax import bounded

_I = re.IGNORECASE
MAX_SENTENCE = 600  # a longer "sentence" is read as the member's text, not classified
# a sentence ends at . ! ? (with closing quotes or brackets) before a space, or at a
# colon before a space (a lead-in: "Two things I'd love views on: how ..."). The
# pattern starts with the punctuation itself (the lookbehinds follow it), so that a
# search skips to the next punctuation mark instead of trying every position.
_END = re.compile(
    r"[.!?…:](?:(?<=[.!?…])(?<![.!?…][.!?…])[.!?…]*+[\"'”’)\]]*+\s++|(?<=\w:)\s++(?=\w))"
)
_NOT_END = re.compile(r"(?:\b(?:e\.g|i\.e|etc|mr|mrs|ms|dr|no|approx|st|vs)\.|\b[A-Z]\.)\s*$", _I)
_NOT_END_TAIL = 8  # a match of `_NOT_END` in stripped text lies in its last 7 characters

_NEG = (
    r"(?:can'?t|cannot|can not|won'?t|will not|shan'?t|unable to|not able to|"
    r"(?:won'?t|will not|not) be able to|couldn'?t|not going to be able to|"
    r"(?:am|'m|are|'re) not (?:going to )?(?:be )?able to|not going to|(?:am|'m|are|'re) not)"
)
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_ATTEND = (
    # "make" only of the meeting or its day: "can't make it", "won't make Thursday", not
    # "can't make the 3pm slot work" or "can't make the deadline"
    r"(?:make(?=\s*+(?:it\b(?!\s+work)|the (?:[\w'’-]+\s+){0,2}?(?:meeting|session|call|"
    r"network|forum|group|twilight)|the \d{1,2}(?:st|nd|rd|th)\b|this (?:one|time|term|"
    r"meeting|session|week)|"
    r"that\b|tonight|today|tomorrow|next\b|on\b|in person|$|[.,!;:–—-]|"
    rf"{_DAY}|(?:mon|tues|wednes|thurs|fri)\b))|attend|come|join|"
    r"be there|be with you|be at|get there|get to|see you|dial in|log on|be online|"
    rf"be joining|be coming|do (?:{_DAY}|tonight|this one|that|the \d))"
)
_NEGATED_ATTENDANCE = re.compile(rf"\b{_NEG}\s+(?:\w+\s+){{0,2}}?{_ATTEND}\b", _I)
_REGRET = re.compile(
    r"\b(?:i'?m afraid|i am afraid|afraid|unfortunately|sadly|sorry|apologies|apologise|"
    r"regrettably|sori|yn anffodus|mae'n ddrwg gen i|"
    r"apologize|regret|regrets)\b",
    _I,
)
_ELSEWHERE = re.compile(
    r"\b(?:i'?ll|i will|i'?m|i am|we'?re|we are|i'?ve got|i have)\s+(?:\w+\s+){0,2}?"
    r"(?:be\s+)?(?:at|on|in|away|out|off|with|stuck|tied up|teaching|covering|leading|"
    r"running|hosting|attending|booked|committed)\b|\bstuck at\b",
    _I,
)
_AWAY = re.compile(  # "Off sick this week, sorry", "I have a clash with governors that evening"
    r"\b(?:unavailable|not available|give (?:this one|it|this) a miss|count me out|off sick|"
    r"unwell|poorly|isolating|on (?:annual )?leave|on holiday|clash(?:es)? with|a clash|"
    r"send(?:ing)? (?:my )?apologies)\b",
    _I,
)
_MISS = re.compile(  # "I'll miss this one", "I'm going to have to miss Thursday"
    r"\b(?:i'?ll|i will|i'?m going to|i am going to|i have to|i'?ll have to|i must)\s+"
    r"(?:have to\s+)?miss\b|\bmiss(?:ing)? (?:this one|this time|the meeting|this meeting|"
    rf"next week|tonight|{_DAY})",
    _I,
)
_WHEN = re.compile(
    r"\b(?:that (?:week|day|evening|afternoon|morning|night|date|time)|tonight|today|"
    r"tomorrow|this (?:time|one|week|term|evening|afternoon)|next (?:week|time)|"
    rf"(?:on )?{_DAY}|the \d{{1,2}}(?:st|nd|rd|th)\b|"
    r"\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*|"
    r"the meeting|the session|the call|residential|parents'? evening|"
    r"(?:nos|dydd) (?:lun|fawrth|fercher|iau|wener))\b",
    _I,
)
_APOLOGY_FOR = re.compile(  # "Apologies for tonight - stuck at school ..."
    r"^\s*(?:my |our )?(?:apologies|apols|regrets|sorry)\b(?:\s+(?:from me|from us))?\s+"
    r"(?:for|about)\s+(?:tonight|today|tomorrow|this (?:evening|afternoon|week|time|one)|"
    r"(?:on )?(?:mon|tues|wednes|thurs|fri)day(?:'s)?(?: meeting| session| call)?|"
    r"next week|the \d{1,2}(?:st|nd|rd|th)?)\b",
    _I,
)
_WELSH = re.compile(  # "Ymddiheuriadau, ni fyddaf yn gallu ymuno nos Lun"
    r"\b(?:ni fyddaf|fydda i ddim|ni fydda i|dw i ddim|dwi ddim|dydw i ddim|"
    r"methu|ni allaf|alla i ddim|fedra i ddim|fedraf i ddim|ni fedraf|sa i'n|so i'n)\b"
    r".{0,30}\b(?:gallu |yn )?(?:dod|ymuno|bod yna|bod yno|mynychu|"
    r"bod yn bresennol|cyrraedd)\b|^\s*ymddiheuriadau\b",
    _I,
)
_NOT_ABSENCE = re.compile(
    r"\b(?:late|delay(?:ed)?|slow|belated) (?:reply|response)|\bif (?:you|anyone|people)\b"
    r"|\bsorry to hear\b|\bsorry for (?:the|my) (?:delay|late)",
    _I,
)


def sentences(text: str) -> list[str]:
    """The sentences of one paragraph (its lines joined), stripped, in order; only the
    first `syntax.MAX_TEXT` characters are read."""
    flat = " ".join(bounded(text)[0].split())
    out: list[str] = []
    start = 0
    for match in _END.finditer(flat):
        piece = flat[start : match.end()].strip()
        # searched from near the end only (the characters before still count for \b)
        if piece and not _NOT_END.search(piece, len(piece) - _NOT_END_TAIL):
            out.append(piece)
            start = match.end()
    if flat[start:].strip():
        out.append(flat[start:].strip())
    return out


# The start of a word that every way of saying absence above holds (a negation, "miss",
# a regret word, being away, a Welsh negative), searched for in the lowercased sentence
# (word starts only, no case folding: a few microseconds): a sentence without one is
# not searched further.
ABSENCE_HINTS = (
    r"not|cant|wont|shant|couldn|cannot|unable|miss|apol|sorry|afraid|unfortunate|"
    r"sadly|regret|sori|anffodus|ddrwg|ddim|methu|allaf|fydd|fedra|i'n|ymddiheur|unavailable|"
    r"count|sick|unwell|poorly|isolating|leave|holiday|clash"
)
_ABSENCE_HINT = re.compile(rf"(?=\w)\b(?:{ABSENCE_HINTS})")


def absence(sentence: str) -> bool:
    """Whether the sentence says the member will not be at the meeting ("I'm afraid
    I'll be at Calshot with Year 6 that week", "Can't do Monday I'm afraid",
    "Apologies for tonight - stuck at school", "Ni fyddaf yn gallu ymuno nos Lun")."""
    text = sentence.replace("’", "'")[:MAX_SENTENCE]
    low = text.lower()
    if (
        ("n't" not in low and not _ABSENCE_HINT.search(low))
        or _NOT_ABSENCE.search(text)
        or text.rstrip().endswith("?")
        or proposal(text)
    ):
        return False
    if _APOLOGY_FOR.match(text) or _WELSH.search(text) or _MISS.search(text):
        return True
    if _NEGATED_ATTENDANCE.search(text):
        return bool(_REGRET.search(text) or _WHEN.search(text))
    if _AWAY.search(text):
        return bool(_REGRET.search(text) or _WHEN.search(text))
    return bool(_ELSEWHERE.search(text) and _REGRET.search(text) and _WHEN.search(text))


_QUESTION_END = re.compile(r"\?[\s\"'”’)\]]*$")


def question(sentence: str) -> bool:
    """Whether the sentence asks something (ends with a question mark)."""
    return bool(_QUESTION_END.search(without_symbols(sentence[-MAX_SENTENCE:]).rstrip()))


_ABOUT_ABSENCE = re.compile(  # what an absent member asks for themselves
    r"\b(?:(?:the|any|a copy of the) (?:notes|minutes|papers|slides)|notes|catch up|"
    r"fill me in|let me know|send (?:me|them|it)|"
    r"pass (?:on|them|it)|forward|update me|what i miss|the following|these|below|"
    r"in my absence|on my behalf)\b",
    _I,
)


def about_absence(sentence: str) -> bool:
    """Whether a question of an absent member is about their absence ("Could someone send
    me the notes?", "Could the following still be raised?"), not one for the group."""
    return bool(_ABOUT_ABSENCE.search(sentence[:MAX_SENTENCE]))


_LEAD_IN = re.compile(
    r"^\s*(?:(?:just\s+|i'?ve got\s+|i have\s+|here are\s+)?"
    r"(?:two|three|four|(?:a )?couple of|a few|some|one or two|2|3|4)\s+"
    r"(?:quick\s+|small\s+|short\s+|things|questions|points|items|topics|queries|ones|"
    r"from (?:me|us))"
    r"[^.?!]{0,80}|(?:questions?|items?|points?|topics?) from (?:me|us)[^.?!]{0,40}|"
    r"[^.?!]{0,80}\b(?:views|thoughts|input|advice|help) on)\s*[:.!]?\s*$",
    _I,
)


def lead_in(sentence: str) -> bool:
    """Whether the sentence only announces what follows ("Two things I'd love views
    on:", "A couple of questions from me.")."""
    return len(sentence) <= 200 and bool(_LEAD_IN.match(sentence))


_PROPOSAL = re.compile(
    r"^\s*(?:(?:could|can|may|might) (?:we|i|someone|somebody)|i'?d (?:also )?like to|"
    r"i would (?:also )?like to|"
    r"i'?d love to|we'?d like to|please (?:could we|can we|add|put|include)|"
    r"(?:is|would) (?:it|there) (?:be )?(?:possible|time|room|space) to|"
    r"(?:i|we) (?:want|need|wanted|needed) to)\s+(?:\w+\s+){0,2}?(?:raise|discuss|talk about|"
    r"have (?:a|an|some)|put|add|share|bring|look at|cover|revisit|update|present|"
    r"flag|get views|hear)\b",
    _I,
)


_FOR_AGENDA = re.compile(  # "Could we have the SEND bands on the agenda for 10 minutes"
    r"^\s*(?:could|can|may|might|please|(?:i'?d|i would|we'?d) (?:also )?like)\b.{0,200}?"
    r"\b(?:on the agenda|agenda item|an item on|a slot|a few minutes|\d{1,3} ?min)",
    _I,
)


def proposal(sentence: str) -> bool:
    """Whether the sentence proposes something for the meeting ("Could we discuss ...",
    "I'd like to raise ...", "Please add ...", "Could we have X on the agenda")."""
    text = sentence[:MAX_SENTENCE]
    return bool(_PROPOSAL.match(text) or _FOR_AGENDA.match(text))
