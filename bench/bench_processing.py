"""The server's processing CPU per reply, by stage, in process (no SMTP, no child).

N benchmark replies (`bench_inbound.reply`, ~5 KB, to each member's signed address of
a call for items that was really sent, so the lookup finds the original) are stored,
then taken as the server's worker takes them: the lookup of the mail each answers
(`sentmail`), the reading (`ingest.read`: in the server, in the reader child) and
`ingest.process_batch` over batches of `worker.Processor.BATCH`. Prints the CPU
(`time.thread_time`) per reply of each stage, the acknowledgement's composing
(`compose.render` + `compose.build_wire`, or `compose.build_message` where a message
is built) and queueing (`outbox.enqueue`) taken out of the pipeline's, and each against
a baseline measured in the same run:
`email.message_from_bytes` of the same reply.
MAILFLOW_BENCH_SHORT=1: 100 replies instead of 1000.
"""

from __future__ import annotations

import dataclasses
import email
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inbound import reply
from common import SHORT, installation

from mailflow import addresses, compose, ingest, meetings, members, outbox, planning, sentmail
from mailflow.worker import Processor

REPLIES = 100 if SHORT else 1000
SENDERS = 50


class Stopwatch:
    """CPU seconds (this thread's) spent in wrapped functions, by stage name."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, counting its CPU time under `stage`."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(stage, time.thread_time() - start)

        return timed

    def add(self, stage: str, seconds: float) -> None:
        """Count `seconds` under `stage`."""
        self.spent[stage] = self.spent.get(stage, 0.0) + seconds


def main() -> None:
    app = installation(rate_limit=True)
    mail = app.settings.mail
    with app.session() as session:
        meeting = meetings.add_meeting(session, app.settings, title="Bench",
                                       start="2027-06-17 16:00", now=app.now())  # fmt: skip
        people = [members.add_member(session, email=f"m{k}@school{k}.example",
                                     name=f"Member {k}", now=app.now())
                  for k in range(SENDERS)]  # fmt: skip
        planning.call_for_items(session, app.settings, meeting, now=app.now())
        session.commit()
        arrivals = []
        for n in range(REPLIES):
            person = people[n % SENDERS]
            token = addresses.ReplyToken("c", meeting.id, person.id)
            to = addresses.reply_address(mail.address, mail.secret, token)
            arrivals.append(ingest.Arrival(person.email, [to], reply(person.email, to, n)))
        ids = ingest.store_many(session, arrivals, now=app.now())

    clock = Stopwatch()
    start = time.thread_time()
    for arrival in arrivals:
        email.message_from_bytes(arrival.raw)
    clock.add("baseline", time.thread_time() - start)

    compose.render = clock.wrap("compose", compose.render)  # type: ignore[assignment]
    compose.build_message = clock.wrap("compose", compose.build_message)  # type: ignore[assignment]
    compose.build_wire = clock.wrap("compose", compose.build_wire)  # type: ignore[assignment]
    outbox.enqueue = clock.wrap("queue", outbox.enqueue)  # type: ignore[assignment]
    for first in range(0, REPLIES, Processor.BATCH):
        batch = []
        chunk = slice(first, first + Processor.BATCH)
        with app.session() as session:  # the worker looks up a batch's originals in one
            for inbound_id, arrival in zip(ids[chunk], arrivals[chunk], strict=True):
                start = time.thread_time()
                original = sentmail.original_mail(session, app.settings, arrival.rcpt_tos)
                looked = time.thread_time()
                reading = ingest.read(arrival.raw, arrival.mail_from, original)
                clock.add("lookup", looked - start)
                clock.add("read", time.thread_time() - looked)
                batch.append((inbound_id, dataclasses.replace(reading, looked_up=True)))
        start = time.thread_time()
        with app.writing() as session:
            ingest.process_batch(session, app.settings, batch, now=app.now())
        clock.add("pipeline", time.thread_time() - start)
    app.close()

    spent = clock.spent
    spent["pipeline"] -= spent["compose"] + spent["queue"]
    server = ("lookup", "pipeline", "compose", "queue")
    baseline = spent["baseline"]
    print(f"bench_processing: {REPLIES} replies of ~5 KB answering a call for items, "
          f"batches of {Processor.BATCH} (SQLite), CPU per reply")  # fmt: skip
    rows = [
        ("email.message_from_bytes (baseline)", "baseline"),
        ("lookup of the original (sentmail)", "lookup"),
        ("pipeline and database", "pipeline"),
        ("acknowledgement: compose", "compose"),
        ("acknowledgement: queue (outbox)", "queue"),
    ]
    for label, stage in rows:
        ms = 1000 * spent[stage] / REPLIES
        print(f"  {label:38} {ms:6.2f} ms   {spent[stage] / baseline:5.1f}x baseline")
    total = sum(spent[stage] for stage in server)
    print(f"  {'server processing (the four above)':38} {1000 * total / REPLIES:6.2f} ms   "
          f"{total / baseline:5.1f}x baseline")  # fmt: skip
    print(f"  {'reading (the reader child)':38} {1000 * spent['read'] / REPLIES:6.2f} ms   "
          f"{spent['read'] / baseline:5.1f}x baseline")  # fmt: skip


if __name__ == "__main__":
    main()
