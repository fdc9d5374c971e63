"""Replies per second through `mailflow serve` (store + process) against a bare aiosmtpd.

Both servers get the same ~5 KB replies over the same number of concurrent connections in
the same run; mailflow's time runs until every reply is processed (items recorded and
acknowledgements queued). Prints both rates and their ratio.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHORT, counting_sink, free_port, installation, send_parallel

from mailflow import addresses, meetings, members
from mailflow.server import InboundServer

REPLIES = 200 if SHORT else 2000
CLIENTS = 4 if SHORT else 10
SENDERS = 50


def reply(sender: str, to: str, n: int) -> bytes:
    """A realistic ~5 KB reply: a question with a long body and a quoted call."""
    words = "We have looked at this across the trust and would value a comparison. " * 60
    body = "\r\n".join(textwrap.wrap(words[:4200], 72))
    quoted = "\r\n".join(f"> line {k} of the call for items" for k in range(12))
    return (
        f"From: Member <{sender}>\r\nTo: <{to}>\r\nSubject: Re: Call for items ({n})\r\n"
        f"Message-ID: <bench-{n}@school.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Q: How do other schools handle question {n}? [5m]\r\n{body}\r\n\r\n"
        f"On Mon, 2 Nov 2026, Group wrote:\r\n{quoted}\r\n"
    ).encode()


def main() -> None:
    app = installation()
    with app.session() as session:
        people = [
            members.add_member(
                session, email=f"m{k}@school{k}.example", name=f"Member {k}", now=app.now()
            )
            for k in range(SENDERS)
        ]
        meeting = meetings.add_meeting(session, app.settings, title="Bench",
                                       start="2027-06-17 16:00", now=app.now())  # fmt: skip
        mail = app.settings.mail
        messages = []
        for n in range(REPLIES):
            person = people[n % SENDERS]
            token = addresses.ReplyToken("c", meeting.id, person.id)
            to = addresses.reply_address(mail.address, mail.secret, token)
            messages.append((person.email, to, reply(person.email, to, n)))
    controller, handler = counting_sink()
    start = time.perf_counter()
    send_parallel(controller.port, messages, CLIENTS)
    bare = time.perf_counter() - start
    controller.stop()
    assert handler.count == REPLIES

    server = InboundServer(app, port=free_port())
    server.start()
    start = time.perf_counter()
    send_parallel(server.port, messages, CLIENTS)
    stored = time.perf_counter() - start
    server.drain(timeout=600)
    processed = time.perf_counter() - start
    server.stop()
    bare_rate, ours = REPLIES / bare, REPLIES / processed
    print(f"bench_inbound: {REPLIES} replies of ~5 KB over {CLIENTS} connections (SQLite)")
    print(f"  bare aiosmtpd sink          {bare_rate:8.1f} replies/s")
    print(f"  mailflow, stored (250)      {REPLIES / stored:8.1f} replies/s")
    print(f"  mailflow, stored+processed  {ours:8.1f} replies/s")
    print(f"  ratio mailflow/bare         {ours / bare_rate:8.2f}")


if __name__ == "__main__":
    main()
