"""Reading a 5 KB reply: `parse_reply` with the original-matching step, against parsing
the same bytes with `email.message_from_bytes` (policy.default) in the same run.

The reply is an Outlook-style answer to a call for items: the member's words (an
apology, a question in prose, a vote, a time request), then the whole call unquoted
under a From/Sent/To/Subject block, in a text and an HTML part. It is read knowing the
original (as the server does for a signed reply address) and without it (the fallback
rules, as `inbox parse` on a bare file). Prints milliseconds per message (the median of
several rounds) and the ratio to the baseline; the target is under 5 ms with the
original on an idle machine. ``MAILFLOW_BENCH_SHORT=1`` keeps it short.
"""

from __future__ import annotations

import email
import html
import statistics
import sys
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT

from mailflow.replies import parse_reply

ROUNDS = 5 if SHORT else 15
PER_ROUND = 20 if SHORT else 100
ADDRESS = "dht+c1-4-k2m9x7q3w8r5t1zd@example.org"

CALL = (
    """Dear Priya Shah,

Autumn meeting is on Thursday 19 November 2026, 16:00 GMT.
Please send your questions, agenda items, resources and apologies by Thursday 12 November \
2026, 16:00 GMT.

How to reply (just reply to this email):
  Q: your question            - a question to raise
  Item: your item [10m]       - an agenda item, with an optional time request
Write "Apologies" on the first line if you cannot come; attach files to share them.

Already proposed (no need to send these again). To help decide what gets the
meeting's time, vote with a line like "+1 3 7" (support items 3 and 7) or
"-1 4" (vote item 4 down); a new vote replaces your old one:
"""
    + "".join(
        f"  #{n} question: How are other schools handling change number {n} this term? "
        f"(Member {n})\n\n"
        for n in range(1, 10)
    )
    + "\nEastleigh DHT Group\n"
)

OWN = """Hi Sam,

Can't do Thursday I'm afraid - it's our Year 11 parents' evening.

Has anyone had a good experience with an external provider for careers guidance? Ours \
has just given notice and we need someone in place by January.

I vote for 3 and 7 please.

Could we have the new SEND funding bands on the agenda for 10 minutes please.

Thanks
Priya"""

HEADER = f"""________________________________
From: Eastleigh DHT Group <{ADDRESS}>
Sent: 29 October 2026 08:00
To: Priya Shah <p.shah@woodlands.hants.sch.uk>
Subject: Call for items: Autumn meeting (Thursday 19 November 2026, 16:00 GMT)
"""


def reply() -> bytes:
    """The 5 KB Outlook reply described above."""
    text = f"{OWN}\n\n{HEADER}\n{CALL}"
    msg = EmailMessage()
    msg["From"] = "Priya Shah <p.shah@woodlands.hants.sch.uk>"
    msg["To"] = f"Eastleigh DHT Group <{ADDRESS}>"
    msg["Subject"] = "RE: Call for items: Autumn meeting (Thursday 19 November 2026, 16:00 GMT)"
    msg["Message-ID"] = "<DB9PR02MB7745A1B2@DB9PR02MB7745.eurprd02.prod.outlook.com>"
    msg["Date"] = "Wed, 4 Nov 2026 07:12:44 +0000"
    msg.set_content(text)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    msg.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
    return msg.as_bytes()


def per_message_ms(call: Callable[[], object]) -> float:
    """The median over rounds of the mean time of one call, in milliseconds."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(PER_ROUND):
            call()
        rounds.append((time.perf_counter() - started) / PER_ROUND * 1000)
    return statistics.median(rounds)


def main() -> int:
    """Print the figures (a busy machine slows both sides alike: the ratio is the steady
    measure)."""
    raw = reply()
    items = parse_reply(raw, original=CALL)["items"]
    assert isinstance(items, list), items
    assert [i["kind"] for i in items] == ["apology", "question", "agenda"], items
    baseline = per_message_ms(lambda: email.message_from_bytes(raw, policy=policy.default))
    with_original = per_message_ms(lambda: parse_reply(raw, original=CALL))
    fallback = per_message_ms(lambda: parse_reply(raw))
    print(f"reply of {len(raw)} bytes")
    print(f"email.message_from_bytes (baseline): {baseline:.2f} ms")
    print(f"parse_reply with the original:       {with_original:.2f} ms "
          f"({with_original / baseline:.1f}x the baseline)")  # fmt: skip
    print(f"parse_reply by the rules alone:      {fallback:.2f} ms "
          f"({fallback / baseline:.1f}x the baseline)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
