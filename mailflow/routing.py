"""Replies that are not (only) items, routed by the purpose of the address they came to.

This is one step of the ingest pipeline, between the calendar step and `record_items`:

* ``c``, ``a``, ``i`` (call for items, acknowledgement, invite): vote lines (``+1 3 7``),
  volunteers (``answer 5``) and actions reported done (``done 3``) are carried out and
  taken out of the text; whatever is left goes on to `record_items`, and the usual
  acknowledgement lists what happened.
* Leaving: mail to the unsubscribe address (``u``), or a reply anywhere whose whole text
  asks to leave, deactivates the member (`membership.leave`); a reply from an active
  member to the leave confirmation (``j``) is answered. Neither is ever an item.
  `rejoin` runs before `ingest.identify` (which holds mail from those who have left).
* ``w``: a written answer to the question; ``p``: a poll vote; ``d``: a reply to a news
  post, relayed to its author; ``m``: a correction to the minutes (or actions reported
  done, or only thanks, which is kept and not acted on); ``k``: the
  coordinator's commands on the agenda draft. Each is answered with its own short mail
  and nothing else is recorded from the message.
"""

from __future__ import annotations

from collections.abc import Callable

from mailflow import (
    actions,
    answers,
    cleaning,
    commands,
    compose,
    coordinator,
    corrections,
    digest,
    membership,
    notices,
    planning,
    polls,
    votes,
)
from mailflow.errors import Discard, Hold
from mailflow.ingest import Context, our_recipient
from mailflow.models import Item, Member, Poll


def _names(ctx: Context) -> list[str]:
    name = ctx.parsed.from_name.strip()
    return [name, name.split()[0]] if name else []


def own_text(ctx: Context) -> str:
    """The sender's own words: quotes, signature and disclaimers removed.

    This is `cleaning.clean_body` without its fallback to the whole text: a reply that
    only quotes our mail is no answer, vote or correction.
    """
    return cleaning.member_text(ctx.parsed.text, names=_names(ctx))


def _sender(ctx: Context) -> Member:
    if ctx.member is None:  # identify holds strangers; only a release gets here without one
        raise Hold("reply from someone who is not a member")
    return ctx.member


def _re(subject: str) -> str:
    return compose.reply_subject(subject)


def answer_sender(ctx: Context, lines: list[str], *, reply_to: str) -> None:
    """Queue a short answer to the sender (instead of the usual acknowledgement)."""
    notices.queue_mail(
        ctx.session, ctx.settings, to=_sender(ctx), template="member/reply", now=ctx.now,
        context={"lines": lines}, subject=_re(ctx.parsed.subject or "your reply"),
        reply_to=reply_to, in_reply_to=ctx.parsed.message_id or None,
        auto_submitted="auto-replied",
    )  # fmt: skip
    ctx.answered = True


def member_commands(ctx: Context) -> None:
    """Votes, volunteers and actions done in a reply to a call, acknowledgement or invite."""
    if ctx.member is None:
        return
    reply = ctx.reply
    if not (reply.votes or reply.volunteers or reply.done):
        return
    ctx.notes += close_actions(ctx)
    for vote in reply.votes:
        ctx.notes.append(votes.cast(ctx.session, ctx.member, vote, now=ctx.now))
    for number in reply.volunteers:
        ctx.notes.append(answers.volunteer(ctx.session, ctx.settings, ctx.member, number,
                                           now=ctx.now))  # fmt: skip
    if not (reply.items or reply.apologies or reply.withdraw or ctx.parsed.attachments):
        ctx.done = True  # nothing but commands: no items to look for


def written_answer(ctx: Context) -> None:
    """A reply to a question's answer address: the answer, sent on to the asker."""
    ctx.done = True
    member, token = _sender(ctx), ctx.token
    assert token is not None
    item = ctx.session.get(Item, token.target_id)
    if item is None or item.kind != "question":
        raise Hold(f"written answer to question {token.target_id}, which does not exist")
    if item.assignee_id != member.id and not ctx.trusted:
        raise Hold(f"written answer from {member.email} to question {item.id}, "
                   "which is not assigned to them")  # fmt: skip
    back = planning.signed(ctx.settings, "w", item.id, member)
    text = own_text(ctx)
    if not text:
        ctx.notes.append(f"no answer to #{item.id} found in the reply")
        answer_sender(ctx, [f"We found no answer to #{item.id} {item.title} in your "
                            "message; please reply again with it."], reply_to=back)  # fmt: skip
        return
    files = [a for a in ctx.parsed.attachments if not a.inline]
    sent_to = answers.record_answer(ctx.session, ctx.settings, item, member, text, now=ctx.now,
                                    files=files)  # fmt: skip
    ctx.notes.append(f"written answer to #{item.id} recorded; sent to {sent_to}")
    answer_sender(ctx, [f"Thank you: your answer to #{item.id} {item.title} is recorded for "
                        f"the minutes and has been sent to {answers.asker_name(item)}.",
                        "To change it, reply to this message with the new answer."],
                  reply_to=back)  # fmt: skip


def poll_vote(ctx: Context) -> None:
    """A reply to a poll: the member's choice, or why it was not counted."""
    ctx.done = True
    member, token = _sender(ctx), ctx.token
    assert token is not None
    poll = ctx.session.get(Poll, token.target_id)
    if poll is None:
        raise Hold(f"vote in poll {token.target_id}, which does not exist")
    back = planning.signed(ctx.settings, "p", poll.id, member)
    closes = polls.closes_text(ctx.settings, poll)
    if not polls.is_open(poll, ctx.now):
        result = f" The result: {poll.winner}." if poll.winner else ""
        ctx.notes.append(f"too late for poll {poll.id}")
        answer_sender(ctx, [f"Sorry, the poll \"{poll.question}\" closed on {closes}; your "
                            f"vote came too late to count.{result}"], reply_to=back)  # fmt: skip
        return
    # "Theme: ..." lines propose an option (see `polls.propose`); the rest may be a vote
    proposed = [polls.propose(ctx.session, ctx.settings, poll, member, t) for t in ctx.reply.themes]
    ctx.notes += [f"poll {poll.id}: {line}" for line in proposed]
    rest = "\n".join(x for x in own_text(ctx).splitlines() if commands.theme_line(x) is None)
    choice = commands.poll_choice(rest, poll.options) if rest.strip() else None
    if choice is None and proposed:
        answer_sender(ctx, [*proposed, f"To vote, reply with the number of your choice before "
                                       f"{closes}."], reply_to=back)  # fmt: skip
        return
    if choice is None:
        ctx.notes.append(f"no clear choice in poll {poll.id}")
        options = [f"  {n}. {o}" for n, o in enumerate(poll.options, 1)]
        answer_sender(ctx, ["We could not tell which option you chose, so nothing was "
                            "counted. Please reply with one number:", *options],
                      reply_to=back)  # fmt: skip
        return
    before = polls.vote(ctx.session, poll, member, choice, now=ctx.now)
    ctx.notes.append(f"poll {poll.id}: option {choice}")
    vote = f'Your vote in "{poll.question}": {choice}. {poll.options[choice - 1]}.'
    if before is not None and before != choice:
        vote += f" It replaces your earlier vote, {before}. {poll.options[before - 1]}."
    answer_sender(ctx, [*proposed, vote, f"To change it, reply again before {closes}."],
                  reply_to=back)  # fmt: skip


def news_reply(ctx: Context) -> None:
    """A reply to a digest entry: relayed to the post's author and kept."""
    ctx.done = True
    member, token = _sender(ctx), ctx.token
    assert token is not None
    post = ctx.session.get(Item, token.target_id)
    if post is None:
        raise Hold(f"reply to news post {token.target_id}, which does not exist")
    text = own_text(ctx)
    back = planning.signed(ctx.settings, "d", post.id, member)
    if not text:
        ctx.notes.append(f"empty reply to news #{post.id}")
        answer_sender(ctx, ["We found nothing to pass on in your reply."], reply_to=back)
        return
    sent_to = digest.relay(ctx.session, ctx.settings, post, member, text, now=ctx.now,
                           inbound_id=ctx.row.id)  # fmt: skip
    ctx.notes.append(f"reply to news #{post.id} relayed to {sent_to}")
    who = post.member.name if post.member else post.author
    if "@" in sent_to:
        line = f'Your reply to "{post.title}" has been sent to {who}.'
    else:
        line = f'Your reply to "{post.title}" is kept, but {sent_to}.'
    answer_sender(ctx, [line], reply_to=back)


def close_actions(ctx: Context) -> list[str]:
    """Close the actions the reply reports done (``done 3``) that the sender may close
    (`actions.close`); a line for each, for the answer."""
    member = _sender(ctx)
    return [actions.close(ctx.session, n, by=member, now=ctx.now) for n in ctx.reply.done]


def minutes_correction(ctx: Context) -> None:
    """A reply to the minutes: actions reported done, and a correction for the next
    meeting's agenda unless the rest of the reply only thanks."""
    ctx.done = True
    member, meeting = _sender(ctx), ctx.meeting
    if meeting is None:
        raise Hold("reply to the minutes of a meeting that does not exist")
    closed = close_actions(ctx)
    ctx.notes += closed
    text = commands.member_commands(own_text(ctx)).rest if closed else own_text(ctx)
    if not text or corrections.only_thanks(text, names=_names(ctx)):
        if closed:
            back = planning.signed(ctx.settings, "m", meeting.id, member)
            answer_sender(ctx, closed, reply_to=back)
            return
        if text:
            raise Discard("a thank-you for the minutes, not a correction")
        raise Hold("reply to the minutes with no text of the member's own")
    item = corrections.record_correction(ctx.session, ctx.settings, meeting, member, text,
                                         now=ctx.now, inbound_id=ctx.row.id)  # fmt: skip
    ctx.recorded.append(item)
    later = item.meeting
    title = later.title if later else "the next meeting"
    back = planning.signed(ctx.settings, "a", item.meeting_id or 0, member)
    answer_sender(ctx, [*closed, f"Thank you: your correction is item #{item.id} for {title}, "
                        "under \"Approval of the minutes\".", "", item.title],
                  reply_to=back)  # fmt: skip


def coordinator_reply(ctx: Context) -> None:
    """The coordinator's commands on an agenda draft, carried out and confirmed."""
    ctx.done = True
    meeting, sender = ctx.meeting, ctx.parsed.from_address
    if meeting is None:
        raise Hold("agenda commands for a meeting that does not exist")
    if not ctx.trusted:
        coordinator.verify(ctx.settings, raw=ctx.row.raw, envelope=ctx.row.mail_from,
                           sender=sender, member=ctx.member)  # fmt: skip
    reply = commands.coordinator_commands(own_text(ctx))
    outcomes = coordinator.apply_commands(ctx.session, ctx.settings, meeting, reply, now=ctx.now)
    ctx.notes += [f"{o.line}: {'done' if o.done else 'not done'}" for o in outcomes]
    ctx.notes += [f"not understood: {line}" for line in reply.not_understood]
    to = ctx.member or notices.group_coordinator(ctx.settings)
    coordinator.confirm(ctx.session, ctx.settings, meeting, to, reply=reply, outcomes=outcomes,
                        now=ctx.now, in_reply_to=ctx.parsed.message_id or None,
                        subject=_re(ctx.parsed.subject or "Agenda draft"))  # fmt: skip
    ctx.answered = True


def rejoin(ctx: Context) -> None:
    """A reply to the confirmation that a member left: they are a member again.

    Runs before `ingest.identify`, which holds mail from anyone who has left. Only mail
    on the member's own rejoin address (``j``) from their own address, from someone who
    left by mail, is taken back, and not if it asks to leave again; mail from them to
    their unsubscribe address (``u``) changes nothing. Anything else is left to
    `identify`.
    """
    recipient = our_recipient(ctx.settings, ctx.row.rcpt)
    token = recipient.token if recipient else None
    if token is None or token.purpose not in ("j", "u"):
        return
    member = ctx.session.get(Member, token.member_id)
    if member is None or member.active or member.left_at is None:
        return
    if not ctx.trusted and ctx.parsed.from_address.lower() != member.email.lower():
        return
    if token.purpose == "u" or ctx.reply.leave:
        raise Discard(f"{member.email} has already left the group")
    membership.rejoin(ctx.session, ctx.settings, member, now=ctx.now,
                      in_reply_to=ctx.parsed.message_id or None)  # fmt: skip
    ctx.notes.append(f"{member.email} rejoined the group")
    ctx.done = ctx.answered = True


def leave(ctx: Context) -> bool:
    """Leaving by mail (see the module docstring); True when the message was that."""
    member, purpose = ctx.member, ctx.token.purpose if ctx.token else ""
    if member is None or not member.active:
        return False
    if purpose == "u":
        how = "mail to the unsubscribe address"
    elif ctx.reply.leave:
        how = f'a reply saying "{cleaning.normalise(own_text(ctx))[:200] or ctx.parsed.subject}"'
    elif purpose == "j":
        line = f"You are a member of {ctx.settings.group.name}; nothing has changed."
        answer_sender(ctx, [line], reply_to=planning.signed(ctx.settings, "j", 0, member))
        ctx.done = True
        return True
    else:
        return False
    membership.leave(ctx.session, ctx.settings, member, how=how, now=ctx.now,
                     subject=ctx.parsed.subject,
                     in_reply_to=ctx.parsed.message_id or None)  # fmt: skip
    ctx.notes.append(f"{member.email} left the group ({how})")
    ctx.done = ctx.answered = True
    return True


HANDLERS: dict[str, Callable[[Context], None]] = {
    "c": member_commands,
    "a": member_commands,
    "i": member_commands,
    "w": written_answer,
    "p": poll_vote,
    "d": news_reply,
    "m": minutes_correction,
    "k": coordinator_reply,
}


def actions_done_on_group_address(ctx: Context) -> None:
    """``done 3`` mailed to the group address by a member (`ingest.identify` has checked
    it is theirs): the actions are closed, and a reply of nothing else is no news post."""
    reply = ctx.reply
    if ctx.member is None or not reply.done:
        return
    ctx.notes += close_actions(ctx)
    if not (reply.items or ctx.parsed.attachments):
        ctx.done = True


def route(ctx: Context) -> None:
    """The pipeline step: a request to leave, else the handler of its address's purpose."""
    if ctx.done or leave(ctx):
        return
    if ctx.token is None:
        actions_done_on_group_address(ctx)
        return
    handler = HANDLERS.get(ctx.token.purpose)
    if handler is not None:
        handler(ctx)
