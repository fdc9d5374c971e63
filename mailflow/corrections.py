"""Corrections to the minutes: a member's reply to the minutes becomes an agenda item.

The minutes go out from each member's signed address for that meeting (purpose ``m``).
A reply there is a correction: it is recorded as an agenda item on the *next* meeting,
titled "Correction to the minutes: <first line>", which the planner places under
"Approval of the minutes". With no later meeting planned the reply is held, with that
reason, until the coordinator plans one and releases it.

A reply that only thanks ("Thanks Helen, really useful meeting. See you in June!") is
no correction (`only_thanks`): every phrase of it must be a thank-you, a greeting, a
"see you" or praise of the meeting; one phrase saying anything else makes it one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow import compose, schedule
from mailflow.config import Settings
from mailflow.errors import Hold
from mailflow.models import Item, Meeting, Member
from mailflow.planner import CORRECTION_PREFIX


def next_meeting_after(session: Session, meeting: Meeting) -> Meeting | None:
    """The first meeting after `meeting` that is not cancelled."""
    return session.scalar(
        select(Meeting)
        .where(Meeting.start > meeting.start, Meeting.status != "cancelled")
        .order_by(Meeting.start)
        .limit(1)
    )


_W = r"(?: [\w']+)"  # one more word: phrases are matched on single-spaced words
_THANKS = (
    # "thanks helen", "many thanks for the minutes", "thank you all for a great session"
    rf"(?:many |huge |big )?(?:thanks|thank you|cheers|ta)(?: so much| very much| again)?"
    rf"{_W}?(?: for{_W}{{1,6}})?",
    # "great minutes", "lovely thanks", "perfect thank you helen"
    r"(?:great|lovely|brilliant|perfect|excellent|fab|super|wonderful|fantastic|good)"
    rf"{_W}{{0,2}}",
    # "really useful meeting", "it was a very productive session"
    rf"(?:it was |that was |what )?(?:a |such a )?(?:really |very |so )?(?:useful|helpful|"
    rf"productive|good|great|lovely|interesting|enjoyable|informative) (?:meeting|session|"
    rf"discussion|afternoon|morning|evening|day|minutes|notes|chat){_W}{{0,3}}",
    # "see you in june", "speak soon", "looking forward to the next one"
    rf"(?:see you|speak|talk|catch up)(?: all| everyone)?(?: soon| then| there| next"
    rf"| in| at| on){_W}{{0,4}}",
    rf"(?:i'm |i am |we're |we are )?look(?:ing)? forward to{_W}{{1,6}}",
    rf"have a (?:good|great|lovely|restful|relaxing|happy|nice|merry|wonderful){_W}{{1,4}}",
    rf"(?:noted|received|got it|all good|much appreciated|appreciated|hi|hello|dear)"
    rf"{_W}{{0,2}}",
)
_THANKS_PHRASES = re.compile("|".join(_THANKS))
_CLAUSE_SPLIT = re.compile(r"[.,;:!?()\n\-–—]+")
MAX_THANKS = 300  # a thank-you is a line or two; anything longer is read as a correction


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.casefold()))


def only_thanks(text: str, *, names: Sequence[str] = ()) -> bool:
    """Whether a reply to the minutes only thanks (see the module docstring). The
    sender's `names` sign it off: a phrase that is one of them, or a last line that
    starts with one ("Jane Smith | Deputy Head"), is part of the thanks."""
    if len(text) > MAX_THANKS:
        return False
    signed = {_words(n) for n in names if _words(n)}
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and any(f"{_words(lines[-1])} ".startswith(f"{n} ") for n in signed):
        lines.pop()
    clauses = map(_words, _CLAUSE_SPLIT.split("\n".join(lines)))
    said = [c for c in clauses if c and c not in signed]
    return bool(said) and all(_THANKS_PHRASES.fullmatch(c) for c in said)


def correction_title(text: str) -> str:
    """ "Correction to the minutes: <the first line of the member's text>"."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return f"{CORRECTION_PREFIX}: {compose.one_line(first, 200)}"


def record_correction(
    session: Session, settings: Settings, minutes_of: Meeting, member: Member, text: str, *,
    now: datetime, inbound_id: int | None = None,
) -> Item:  # fmt: skip
    """Record `text` as a correction to the minutes of `minutes_of` on the next meeting.

    Raises `Hold` when no later meeting is planned.
    """
    target = next_meeting_after(session, minutes_of)
    if target is None:
        raise Hold(f"correction to the minutes of {minutes_of.ref}, but no later meeting is "
                   "planned to approve it at")  # fmt: skip
    local = schedule.to_local(minutes_of.start, settings.group.tz)
    item = Item(
        meeting_id=target.id, member_id=member.id, message_id=inbound_id, kind="agenda",
        title=correction_title(text), status="proposed", created_at=now, author=member.email,
        body=f"On the minutes of {minutes_of.title} ({local:%d %B %Y}):\n\n{text}",
    )  # fmt: skip
    session.add(item)
    session.flush()
    return item
