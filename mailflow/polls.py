"""Polls: a question with numbered options, mailed to every member, answered by reply.

Each member's poll mail comes from their own signed address for the poll (purpose
``p``, key ``poll:<id>``). A reply with an option's number or words is their vote; one
vote per member, changeable until the poll closes; a reply after that is answered as
too late. A poll closes at its closing time (`tick`) or by hand (`polls close`). The
option with most votes wins; a tie goes to the option listed first, and a poll without
votes has no winner. The winner becomes the meeting's theme: the agenda's heading and
the invite's SUMMARY and DESCRIPTION say it, and members who already have the invite
get an update (same UID, SEQUENCE+1), as for the weekly chat whose theme is chosen the
week before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow import compose, planning, schedule
from mailflow.config import Settings
from mailflow.errors import UserError
from mailflow.members import active_members
from mailflow.models import Mailing, Meeting, Member, Poll, PollVote

MAX_OPTIONS = 20


def _clean_options(options: Sequence[str], *, fewest: int = 2) -> list[str]:
    cleaned = [" ".join(o.split()) for o in options]
    if len(cleaned) < fewest or len(cleaned) > MAX_OPTIONS:
        raise UserError(f"a poll needs {fewest} to {MAX_OPTIONS} options (give --option for each)")
    if any(not o for o in cleaned):
        raise UserError("an option must not be empty")
    if len({o.casefold() for o in cleaned}) != len(cleaned):
        raise UserError("two options are the same")
    return cleaned


def create_poll(
    session: Session, settings: Settings, *, meeting: Meeting | None, question: str,
    options: Sequence[str], closes: str, now: datetime,
) -> Poll:  # fmt: skip
    """Create a poll closing at local time `closes` ("YYYY-MM-DD HH:MM")."""
    question = " ".join(question.split())
    if not question:
        raise UserError("a poll needs a question")
    closes_at = schedule.parse_local(closes, settings.group.tz)
    if closes_at <= now:
        raise UserError(f"--closes {closes} is in the past")
    return new_poll(session, meeting=meeting, question=question,
                    options=_clean_options(options), closes_at=closes_at, now=now)  # fmt: skip


def new_poll(
    session: Session, *, meeting: Meeting | None, question: str, options: Sequence[str],
    closes_at: datetime, now: datetime,
) -> Poll:  # fmt: skip
    """Store a poll (a weekly theme poll may start with fewer than two options: members
    propose more)."""
    poll = Poll(meeting_id=meeting.id if meeting else None, question=question,
                options=_clean_options(options, fewest=0), closes_at=closes_at, status="open",
                created_at=now, proposals=[])  # fmt: skip
    session.add(poll)
    session.flush()
    return poll


def find_poll(session: Session, ref: str) -> Poll:
    """The poll with this id; `UserError` if there is none."""
    poll = session.get(Poll, int(ref)) if ref.strip().isdigit() else None
    if poll is None:
        raise UserError(f"no poll {ref!r} (see `mailflow polls list`)")
    return poll


def closes_text(settings: Settings, poll: Poll) -> str:
    """When the poll closes, in the group's time zone."""
    return schedule.human_local(poll.closes_at, settings.group.tz)


def send_poll(
    session: Session, settings: Settings, poll: Poll, *, now: datetime,
    recipients: Sequence[Member] | None = None, key: str | None = None,
) -> int:  # fmt: skip
    """Mail the poll to every active member (or `recipients`, as mailing `key`: a
    reminder) from their own poll address."""
    context = {"group": settings.group.name, "poll": poll, "closes": closes_text(settings, poll),
               "meeting": poll.meeting.title if poll.meeting else ""}  # fmt: skip

    def build(member: Member) -> EmailMessage:
        text, html = compose.render("member/poll", context | {"name": member.name})
        return compose.build_message(
            settings, to=planning.to_address(member), text=text, html=html, now=now,
            subject=f"Poll: {poll.question}",
            reply_to=planning.signed(settings, "p", poll.id, member),
        )  # fmt: skip

    everyone = recipients if recipients is not None else active_members(session)
    return planning.fan_out(session, key=key or f"poll:{poll.id}", kind="poll",
                            meeting=poll.meeting, recipients=everyone, build=build,
                            now=now)  # fmt: skip


def is_open(poll: Poll, now: datetime) -> bool:
    """Whether votes are still taken."""
    return poll.status == "open" and now < poll.closes_at


def vote(session: Session, poll: Poll, member: Member, option: int, *, now: datetime) -> int | None:
    """Record or change `member`'s vote (1-based `option`); the poll must be open.

    Returns the option it replaced (None for a first vote)."""
    if not is_open(poll, now):
        raise UserError(f"poll {poll.id} is closed")
    if not 1 <= option <= len(poll.options):
        raise UserError(f"poll {poll.id} has no option {option}")
    row = session.scalar(
        select(PollVote).where(PollVote.poll_id == poll.id, PollVote.member_id == member.id)
    )
    before = row.option if row is not None else None
    if row is None:
        row = PollVote(poll=poll, member_id=member.id, option=option, updated_at=now)
        session.add(row)
    row.option, row.updated_at = option, now
    session.flush()
    return before


# --- themes members propose -------------------------------------------------------------


def propose(session: Session, settings: Settings, poll: Poll, member: Member, theme: str) -> str:
    """Keep a theme a member proposed in reply to the poll; returns what happened.

    It joins the poll's options at once with `[series] approve_themes`, else when the
    coordinator approves it (`approve`). A theme already among the options or proposals
    is not added twice.
    """
    theme = " ".join(theme.split())[:200]
    known = {o.casefold() for o in poll.options}
    known |= {p["option"].casefold() for p in poll.proposals or []}
    if theme.casefold() in known:
        return f'"{theme}" is already proposed'
    entry = {"option": theme, "member": member.email, "approved": False}
    poll.proposals = [*(poll.proposals or []), entry]
    if settings.series.approve_themes:
        return approve(session, poll, len(poll.proposals))
    session.flush()
    return f'"{theme}" proposed; it joins the poll once the coordinator approves it'


def approve(session: Session, poll: Poll, number: int) -> str:
    """Add proposal `number` (1-based, as `polls options` lists them) to the options."""
    proposals = [dict(p) for p in poll.proposals or []]
    if not 1 <= number <= len(proposals):
        raise UserError(f"poll {poll.id} has no proposal {number} (see `mailflow polls options`)")
    if not proposals[number - 1]["approved"]:
        if len(poll.options) >= MAX_OPTIONS:
            raise UserError(f"poll {poll.id} has {MAX_OPTIONS} options already")
        proposals[number - 1]["approved"] = True
        poll.options = [*poll.options, proposals[number - 1]["option"]]
        poll.proposals = proposals
        session.flush()
    option = proposals[number - 1]["option"]
    return f'"{option}" is option {poll.options.index(option) + 1}'


def approved_proposals(poll: Poll) -> list[str]:
    """The themes members proposed that joined the poll."""
    return [p["option"] for p in poll.proposals or [] if p.get("approved")]


@dataclass(frozen=True)
class Tally:
    """Votes per option, in the order the options were listed."""

    counts: tuple[tuple[str, int], ...]

    @property
    def winner(self) -> str:
        """The option with most votes (the first listed on a tie); "" without votes."""
        best = max((n for _, n in self.counts), default=0)
        return next((o for o, n in self.counts if n == best), "") if best else ""


def tally(poll: Poll) -> Tally:
    """Count the poll's votes (each member's latest choice, once)."""
    counts = [0] * len(poll.options)
    for v in poll.votes:
        if 1 <= v.option <= len(counts):
            counts[v.option - 1] += 1
    return Tally(tuple(zip(poll.options, counts, strict=True)))


def _claim(session: Session, poll: Poll, now: datetime) -> bool:
    """Mark the poll closed if it is still open; True only for the one caller that did."""
    result = session.execute(
        update(Poll).where(Poll.id == poll.id, Poll.status == "open")
        .values(status="closed", closed_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    session.refresh(poll)
    return bool(getattr(result, "rowcount", 0))


def close_poll(session: Session, settings: Settings, poll: Poll, *, now: datetime) -> str:
    """Close the poll, make the winner the meeting's theme; returns the winner ("" none).

    If the meeting's invites are already out, an update with the theme is sent.
    Closing a closed poll changes nothing.
    """
    if not _claim(session, poll, now):  # closed already, here or by an overlapping tick
        return poll.winner
    poll.winner = tally(poll).winner
    meeting = poll.meeting
    if poll.winner and meeting is not None and meeting.status != "cancelled":
        meeting.theme = poll.winner
        invited = f"invite:{meeting.id}:{meeting.sequence}"
        if session.scalar(select(Mailing.id).where(Mailing.key == invited)) is not None:
            meeting.sequence += 1
            session.flush()
            planning.send_invites(session, settings, meeting, now=now)
    session.flush()
    return poll.winner


def close_due(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Close every open poll whose closing time has passed (for `tick`)."""
    due = session.scalars(
        select(Poll).where(Poll.status == "open", Poll.closes_at <= now).order_by(Poll.id)
    ).all()
    done = []
    for poll in due:
        winner = close_poll(session, settings, poll, now=now)
        session.commit()
        done.append(f"poll {poll.id} closed: {winner or 'no votes'}")
    return done


def poll_json(poll: Poll, settings: Settings) -> dict[str, Any]:
    """A poll as JSON: id, meeting, question, options with votes, closes, status, winner."""
    return {
        "id": poll.id,
        "meeting": poll.meeting.ref if poll.meeting else None,
        "question": poll.question,
        "options": [{"number": n, "option": o, "votes": c}
                    for n, (o, c) in enumerate(tally(poll).counts, 1)],
        "voters": len(poll.votes),
        "closes": schedule.iso_local(poll.closes_at, settings.group.tz),
        "status": poll.status,
        "winner": poll.winner or None,
    }  # fmt: skip


def list_polls(session: Session) -> Sequence[Poll]:
    """Every poll, newest first."""
    return session.scalars(select(Poll).order_by(Poll.id.desc())).all()
