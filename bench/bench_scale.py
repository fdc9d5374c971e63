"""Cost per reply as the stored mail and the group grow, with the default flood limit on.

Two installations in the same run: a small one (1,000 stored messages, 50 members) and
a large one (100,000 stored messages with as many acknowledgements and items, 5,000
members). The same ~5 KB replies are stored (as the listener stores them) and processed
(as the worker does, in batches of 5) on each; prints the CPU time per reply of both
stages and the large/small ratio. Lookups that walk the stored mail or the members
(the flood limit's count, a member by address) would make the ratio grow with the data.
MAILFLOW_BENCH_SHORT=1: 10,000 stored / 500 members against 1,000 / 50, fewer replies.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inbound import reply
from common import SHORT, installation
from sqlalchemy import insert

from mailflow import addresses, ingest, meetings
from mailflow.app import App
from mailflow.models import InboundMessage, Item, Member, OutboxMessage

SMALL = (1000, 50)
LARGE = (10_000, 500) if SHORT else (100_000, 5000)
REPLIES = 50 if SHORT else 200
SENDERS = 50
BATCH = 5
ROUNDS = 1 if SHORT else 2


def populate(app: App, stored: int, people: int) -> list[tuple[str, str]]:
    """`people` members, a meeting, and `stored` processed replies (one a second up to
    now, round the members) with an acknowledgement and an item each; returns the first
    `SENDERS` members' (address, signed reply address)."""
    now, mail = app.now(), app.settings.mail
    with app.session() as session:
        meeting = meetings.add_meeting(session, app.settings, title="Scale",
                                       start="2027-06-17 16:00", now=now)  # fmt: skip
        session.execute(insert(Member), [
            {"email": f"m{k}@school{k}.example", "name": f"Member {k}", "organisation": "",
             "role": "member", "active": True, "bounces": 0, "created_at": now}
            for k in range(people)
        ])  # fmt: skip
        ids = {email: i for i, email in session.query(Member.id, Member.email)}
        signed = {
            i: addresses.reply_address(mail.address, mail.secret,
                                       addresses.ReplyToken("c", meeting.id, i))
            for i in ids.values()
        }  # fmt: skip
        acks = {  # the acknowledgements' own reply addresses
            i: addresses.reply_address(mail.address, mail.secret,
                                       addresses.ReplyToken("a", meeting.id, i)).lower()
            for i in ids.values()
        }  # fmt: skip
        order = sorted(ids.values())
        history = [(order[n % people], now - timedelta(seconds=stored - n)) for n in range(stored)]
        _history(session, meeting.id, history, (signed, acks), {i: e for e, i in ids.items()})
        first = sorted(ids.items(), key=lambda pair: pair[1])[:SENDERS]
        return [(email, signed[i]) for email, i in first]


def _history(session: object, meeting_id: int, history: list[tuple[int, datetime]],
             addresses_of: tuple[dict[int, str], dict[int, str]],
             emails: dict[int, str]) -> None:  # fmt: skip
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    signed, acks = addresses_of
    for start in range(0, len(history), 10_000):
        chunk = history[start : start + 10_000]
        rows = [
            {"received_at": at, "mail_from": f"<{emails[i]}>", "rcpt": signed[i],
             "subject": "Re: Call for items", "raw": b"Subject: old\r\n\r\nold reply\r\n",
             "status": "processed", "outcome": "question", "error": "", "processed_at": at,
             "start_attempts": 0, "budget": f"member:{i}"}
            for i, at in chunk
        ]  # fmt: skip
        session.execute(insert(InboundMessage), rows)
        session.execute(insert(OutboxMessage), [
            {"recipient": emails[i], "subject": "Re: Call for items", "blobs": "",
             "message_id": f"<ack-{start + n}@example.org>", "raw": b"ack", "status": "sent",
             "reply_address": acks[i],
             "attempts": 1, "last_error": "", "next_attempt_at": at, "claimed_by": "",
             "created_at": at, "sent_at": at}
            for n, (i, at) in enumerate(chunk)
        ])  # fmt: skip
        session.execute(insert(Item), [
            {"meeting_id": meeting_id, "member_id": i, "kind": "question", "title": "Old",
             "body": "", "status": "proposed", "priority": 0, "carried": 0, "answer": "",
             "author": emails[i], "created_at": at}
            for i, at in chunk
        ])  # fmt: skip
        session.commit()


def measure(stored: int, people: int, offset: int) -> tuple[float, float, int]:
    """CPU seconds per reply to store and to process `REPLIES` replies on a fresh
    installation of this size, and how many ended processed (not held)."""
    app = installation(rate_limit=True)
    senders = populate(app, stored, people)
    picks = [senders[k % SENDERS] for k in range(REPLIES)]
    messages = [(f"<{s}>", to, reply(s, to, offset + n)) for n, (s, to) in enumerate(picks)]
    store_cpu = process_cpu = 0.0
    processed = 0
    for start in range(0, REPLIES, BATCH):
        batch = messages[start : start + BATCH]
        began = time.process_time()
        ids = []
        for mail_from, to, raw in batch:
            with app.writing() as session:
                ids.append(ingest.store(session, mail_from=mail_from, rcpt_tos=[to], raw=raw,
                                        now=app.now()))  # fmt: skip
        stored_at = time.process_time()
        readings = [
            (i, ingest.read(raw, mail_from))
            for i, (mail_from, _, raw) in zip(ids, batch, strict=True)
        ]
        with app.writing() as session:
            ingest.process_batch(session, app.settings, readings, now=app.now())
        store_cpu += stored_at - began
        process_cpu += time.process_time() - stored_at
    with app.session() as session:
        processed = (
            session.query(InboundMessage)
            .filter(InboundMessage.status == "processed", InboundMessage.id > stored)
            .count()
        )
    app.close()
    return store_cpu / REPLIES, process_cpu / REPLIES, processed


def main() -> None:
    results: dict[tuple[int, int], list[tuple[float, float]]] = {SMALL: [], LARGE: []}
    measure(*SMALL, offset=90_000)  # warm-up: templates compiled, modules loaded
    for r in range(ROUNDS):
        for size in (SMALL, LARGE):
            store, process, processed = measure(*size, offset=r * 10_000)
            assert processed == REPLIES, f"{REPLIES - processed} replies were not processed"
            results[size].append((store, process))
    print(f"bench_scale: {REPLIES} replies of ~5 KB, flood limit on (20/min), SQLite, "
          f"best of {ROUNDS}")  # fmt: skip
    best = {size: (min(s for s, _ in runs), min(p for _, p in runs))
            for size, runs in results.items()}  # fmt: skip
    for (stored, people), (store, process) in best.items():
        print(f"  {stored:>7,} stored, {people:>5,} members: store {store * 1000:6.2f} ms CPU, "
              f"process {process * 1000:6.2f} ms CPU per reply")  # fmt: skip
    (s_small, p_small), (s_large, p_large) = best[SMALL], best[LARGE]
    print(f"  ratio large/small: store {s_large / s_small:5.2f}, process {p_large / p_small:5.2f}")


if __name__ == "__main__":
    main()
