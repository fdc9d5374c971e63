"""Adversarial text against every public parsing entry point: each call is fast.

Every regular expression that sees a member's or a stranger's text must be linear, or
bounded by `syntax.MAX_LINE` / `syntax.MAX_TEXT`. Each case below is a long run of one
punctuation or whitespace class (10 KB and 100 KB) or a repeated token that once made
a pattern backtrack for seconds or minutes, put in the body, the subject or the display
name of a message, or handed straight to a parser. Each call must be linear: ten times
the text may cost at most `GROWTH` times the CPU (a backtracking pattern costs a hundred
times or more), and no call may take a second. The last test sends the 8 KB message
that once froze all inbound mail through a real server.
"""

from __future__ import annotations

import gc
import re
import smtplib
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import (
    authresults,
    cleaning,
    commands,
    corrections,
    meetings,
    members,
    mime,
    minutes,
    original,
    planner,
    replies,
    sentences,
    syntax,
)
from mailflow.app import App
from mailflow.models import Held, InboundMessage
from mailflow.reading import BoundedReader
from mailflow.server import InboundServer

# How fast a parser is depends on the machine; how its time grows with the text does not.
# On a quiet 2-core machine every call takes under 85 ms at 100 KB and grows at most 17
# times from 10 KB; the patterns that backtracked took 2 s to 97 s.
GROWTH = 30  # 100 KB may cost at most this many times 10 KB (linear: 10; quadratic: 100)
FLOOR = 0.005  # seconds: a 10 KB time below this counts as this (a timer's noise)
CEILING = 1.0  # seconds: no call may take longer, however slow the machine
SIZES = {"10k": 10_000, "100k": 100_000}
HOSTILE = Path(__file__).parent / "hostile"
GROUP = "dht@example.org"
JANE = "jane.smith@hamble.hants.sch.uk"

RUNS = {
    "dash": "-", "underscore": "_", "equals": "=", "star": "*", "gt": ">", "dot": ".",
    "space": " ", "tab": "\t", "nbsp": "\xa0", "emspace": "\u2003", "pipe": "|", "hash": "#",
    "bracket": "[", "paren": "(", "colon": ":", "newline": "\n", "quote": "> ", "sigdash": "-- ",
}  # fmt: skip


def _repeat(token: str, size: int) -> str:
    return token * (size // len(token))


def _payloads(size: int) -> dict[str, str]:
    """Runs of each class followed by "!" or a letter, and the shapes that once backtracked."""
    cases = {f"{name}-{end}": _repeat(run, size) + end
             for name, run in RUNS.items() for end in ("!", "a")}  # fmt: skip
    spaces = " " * size
    cases |= {
        "q-spaces": "Q: " + spaces + "x",
        "q-spaces-dash": "Q" + spaces + "!",
        "ps-spaces": "P.S." + spaces + "x",
        "item-time": "Item: x" + spaces + "[10m]",
        "item-emspace-time": "Item: x" + _repeat("\u2003", size) + "[10m]!",
        "time-spaces": "Item: x [10m]" + spaces + "!",
        "withdraw-digits": "withdraw " + _repeat("1", size) + "x",
        "withdraw-spaces": "withdraw 1" + spaces + "x",
        "sent-from": "Sent from my " + spaces + "a",
        "thanks-spaces": "Thanks" + spaces + "!",
        "thanks-x": "Thanks" + _repeat("x", size) + "?",
        "thanks-name": "Thanks, A" + _repeat(".-", size) + "?",
        "wrote-one-line": _repeat("On 1 Jan 2026, a@b.c wrote ", size) + ":",
        "wrote-lines": _repeat("On 1 Jan 2026, Jo <jo@example.org> wrote:\n", size),
        "zoho-dashes": "-- On" + _repeat("-", size) + "!",
        "hope-dots": "I hope you" + _repeat(".", size) + "a",
        "greetings": _repeat("Hi, ", size) + "x",
        "hopes": _repeat("I hope you are well. ", size) + "x",
        "apologies": "Apologies from me" + _repeat(" from me", size),
        "sentences": "Item: x" + _repeat(". ", size) + "Cheers",
        "nested-quote": _repeat("> ", size) + "!",
        "sorry": "Sorry " + _repeat("x ", size) + "!",
        "unclosed-tags": _repeat("<a", size),
        "done-ids": "done " + _repeat("1, ", size) + "x",
        "ids-done": _repeat("#1 and ", size) + "is done x",
        "theme-spaces": "Suggested theme" + spaces + "-" + spaces + "x",
        "choice-words": _repeat("option 2 please ", size) + "x",
        "cant-words": _repeat("can't ", size) + "x",
        "afraid-at": "I'm afraid I'll " + _repeat("be at ", size) + "x",
        "colons": _repeat("a: ", size) + "?",
        "minutes-words": _repeat("for 10 ", size) + "x",
        "original-lines": _repeat("Dear Tom,\n> x y z\n", size),
        "withdraw-prose": "so please withdraw " + _repeat("1 and ", size) + "x",
        "welsh-ddim": "Sori, " + _repeat("dwi ddim ", size) + "x",
        "signoff-a-tous": "Bonne soirée" + _repeat(" à tous", size) + "?",
        "ooo-subject": _repeat("I am out of the office ", size) + "x",
        "question-paragraphs": _repeat("Has anyone tried it as well?\n\n", size) + "x",
        "leave-reason": "Please remove me - I've moved" + _repeat(" to", size) + " raise",
    }
    return cases


def _message(body: str = "Hello", subject: str = "Re: Call for items", name: str = "Jane") -> bytes:
    """tests/hostile/redos_reply.eml with the payload in its body, subject or display name
    (in a header, line breaks become spaces: the header must stay one header)."""
    values = {"body": body, "subject": " ".join(subject.split()) or "x",
              "name": " ".join(name.split()) or "x"}  # fmt: skip
    text = (HOSTILE / "redos_reply.eml").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return re.sub(r"\r?\n", "\r\n", text).encode("utf-8")


def _parse_reply(raw: bytes) -> object:
    """parse_reply reports a parser fault instead of raising: that is a failure here."""
    result = replies.parse_reply(raw)
    assert "error" not in result, result["error"]
    return result


def _authentication_results(payload: str) -> bytes:
    value = " ".join(payload.split())
    return f"Authentication-Results: mx.example.org; dkim=pass {value}\r\n\r\n".encode()


# Each entry point (or a group of small ones) made into calls on one payload; messages
# are built before the clock starts.
ENTRY_POINTS: dict[str, Callable[[str], list[partial[object]]]] = {
    "parse_reply-body": lambda p: [partial(_parse_reply, _message(body=p))],
    "parse_reply-subject": lambda p: [partial(_parse_reply, _message(subject=p))],
    "parse_reply-name": lambda p: [partial(_parse_reply, _message(name=p))],
    "cleaning": lambda p: [
        partial(cleaning.member_text, p, names=["Jane Smith", p]),
        partial(cleaning.is_signoff, p),
    ],
    "replies": lambda p: [partial(replies.extract_items, p, subject=p)],
    "syntax": lambda p: [partial(syntax.marker, p), partial(syntax.withdrawal, p)],
    "commands": lambda p: [
        partial(commands.member_commands, p),
        partial(commands.coordinator_commands, p),
        partial(commands.poll_choice, p, ["Workload", "Curriculum"]),
        partial(commands.done_line, p),
        partial(commands.theme_line, p),
    ],
    "mime": lambda p: [
        partial(mime.out_of_office, p),
        partial(mime.parse_from, p),
        partial(mime.html_to_text, p),
    ],
    "sentences": lambda p: [
        partial(sentences.sentences, p),
        partial(sentences.absence, p),
        partial(sentences.lead_in, p),
        partial(sentences.proposal, p),
        partial(original.without_original, p, p),
    ],
    "authresults": lambda p: [
        partial(authresults.trusted_verdicts, _authentication_results(p), "mx.example.org")
    ],
    "minutes-planner": lambda p: [
        partial(minutes.find_actions, p, {}, today=date(2026, 11, 2)),
        partial(minutes.find_record, p),
        partial(minutes.discussed_ids, p, {1: p[:300], 2: "Attendance codes"}),
        partial(minutes.match_person, p, [("jane@x.org", "Jane Smith"), ("x@y.org", p[:300])]),
        partial(corrections.only_thanks, p, names=[p[:200]]),
        partial(planner.is_aob, p),
    ],
}


_PAYLOADS = {label: _payloads(size) for label, size in SIZES.items()}


@pytest.mark.alone
@pytest.mark.parametrize("name", list(_PAYLOADS["10k"]))
def test_every_parser_is_linear_on_adversarial_text(name: str) -> None:
    small, large = _PAYLOADS["10k"][name], _PAYLOADS["100k"][name]
    for entry, make in ENTRY_POINTS.items():
        for short_call, long_call in zip(make(small), make(large), strict=True):
            # CPU time of this thread: what a pattern costs, not what a busy machine
            # (another job, another test process) takes from us meanwhile, nor a
            # collection of the whole suite's garbage that happens to fall in the call. A
            # pair that fails is timed twice more and its best times count: a shared
            # machine only ever adds time, a pattern that backtracks is slow every time.
            times = (_cpu_seconds(short_call), _cpu_seconds(long_call))
            if not _linear(*times):
                times = (_best(short_call, times[0]), _best(long_call, times[1]))
            assert _linear(*times), (
                f"{entry} on {name}: {times[0] * 1000:.0f} ms at 10 KB, "
                f"{times[1] * 1000:.0f} ms at 100 KB"
            )


def _best(call: Callable[[], object], first: float) -> float:
    """The best of `first` and two more timings of `call`."""
    return min(first, _cpu_seconds(call), _cpu_seconds(call))


def _linear(short: float, long: float) -> bool:
    """Whether 10 KB and 100 KB times look linear (and stay under the ceiling)."""
    return max(short, long) < CEILING and long <= GROWTH * max(short, FLOOR)


def _cpu_seconds(call: Callable[[], object]) -> float:
    """The CPU time this thread spends in `call`, with the garbage collector off."""
    gc.disable()
    try:
        started = time.thread_time()
        call()
        return time.thread_time() - started
    finally:
        gc.enable()


# --------------------------------------------------------------------------- meaning kept


def test_a_zoho_attribution_still_cuts_the_original() -> None:
    text = "Q: Budget?\n\n---- On Mon, 02 Nov 2026 09:00 Sam <sam@example.org> wrote ----\n\nOld"
    assert cleaning.member_text(text) == "Q: Budget?"


def test_a_time_request_after_a_run_of_spaces_is_still_read() -> None:
    [item] = replies.extract_items("Item: Budget" + "\u2003" * 50 + "[10m]").items
    assert (item.title, item.minutes) == ("Budget", 10)


def test_withdrawals_keep_their_numbers_and_reason() -> None:
    assert replies.extract_items("withdraw 3, 5 and #7 - covered already").withdraw == (3, 5, 7)
    assert syntax.withdrawal("withdraw 3.- covered") is None


def test_text_past_the_searched_start_is_kept_as_written() -> None:
    tail = "\n".join(f"Line {n} of a very long report." for n in range(2_000))
    text = "Q: Can we discuss the report?\n\n" + tail
    assert len(text) > syntax.MAX_TEXT
    assert cleaning.member_text(text) == text
    reply = replies.extract_items(text)
    assert [i.title for i in reply.items] == ["Can we discuss the report?"]
    assert reply.body == text


def test_a_long_line_is_the_members_text_not_a_signature() -> None:
    line = "Sent from my phone" * (syntax.MAX_LINE // 10)
    assert cleaning.member_text("Q: Room?\n\n" + line) == "Q: Room?\n\n" + line


# --------------------------------------------------------------------------- over SMTP


@pytest.fixture
def group(app: App) -> int:
    """Jane, a member, and a meeting for her reply; her member id."""
    with app.session() as session:
        jane = members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
        meetings.add_meeting(session, app.settings, title="Autumn meeting",
                             start="2027-11-18 16:00", now=app.now())  # fmt: skip
        return jane.id


def _send(server: InboundServer, data: bytes, sender: str) -> int:
    """MAIL, RCPT and DATA on a new connection; the stored message's id."""
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.ehlo()
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt(GROUP)[0] == 250
        code, reply = smtp.data(data)
    found = re.search(rb"Stored as message (\d+)", reply)
    assert code == 250 and found, reply
    return int(found.group(1))


def _outcome(app: App, inbound: int) -> tuple[str, str]:
    with app.session() as session:
        row = session.get(InboundMessage, inbound)
        assert row is not None
        return row.status, row.error or row.outcome


@pytest.fixture
def fork_server() -> None:
    """The fork server that readers' children come from, started before the clock is: it
    starts once per process, with whichever test first reads mail in a child."""
    reader = BoundedReader(budget=60)
    reader.read(b"Subject: Hello\r\n\r\nHello\r\n", "pat@elsewhere.example")
    reader.close()


@pytest.mark.alone
def test_the_8kb_dash_message_is_held_in_time_and_mail_keeps_flowing(
    app: App, server: InboundServer, group: int, fork_server: None
) -> None:
    raw = re.sub(rb"\r?\n", b"\r\n", (HOSTILE / "redos_dashes.eml").read_bytes())
    started = time.monotonic()
    stranger = _send(server, raw, "pat@elsewhere.example")
    assert server.drain(timeout=2)
    assert time.monotonic() - started < 2
    assert _outcome(app, stranger) == ("held", "pat@elsewhere.example is not a member")
    with app.session() as session:
        assert session.scalars(select(Held.inbound_id)).all() == [stranger]
    started = time.monotonic()
    member = _send(server, _message(body="Item: Room bookings after half term"), JANE)
    assert server.drain(timeout=2) and time.monotonic() - started < 2
    assert _outcome(app, member)[0] == "processed"
