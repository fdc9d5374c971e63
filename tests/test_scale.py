"""The scale path: several processes on one database, nothing done twice.

* Three `mailflow outbox flush` processes over 3,000 queued mails to a real aiosmtpd
  sink: on PostgreSQL rows are claimed with ``FOR UPDATE SKIP LOCKED``; on SQLite the
  claim is a conditional UPDATE that the file's write lock serialises. Each mail goes
  out once.
* Two `InboundServer`s on different ports (each with its own engine, as two `mailflow
  serve` processes would have) share the database and take replies for the same
  meeting from the same members at the same time, without conflicts.

Both run on either database; PostgreSQL is what the path is for, SQLite shows the
embedded default stays correct (if slower) with more than one process on its file.
"""

from __future__ import annotations

import smtplib
import subprocess
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from mailflow import addresses, meetings, members
from mailflow.app import App
from mailflow.models import Attendance, InboundMessage, Item, OutboxMessage
from mailflow.server import InboundServer
from tests.conftest import MAILFLOW, ConfigFactory, SmtpSink, free_port, queue_small_mails

MAILS = 3000
WORKERS = 3


def test_three_outbox_workers_deliver_each_mail_once(
    configs: ConfigFactory, smtp_sink: SmtpSink
) -> None:
    config = configs.write(transport="smtp", smtp_port=smtp_sink.port)
    app = App.open(config)
    queue_small_mails(app, MAILS)
    command = [MAILFLOW, "--config", str(config), "outbox", "flush"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(WORKERS)]  # fmt: skip
    sent = 0
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
        sent += int(out.decode().split("sent ")[1].split(",")[0])
    assert sent == MAILS  # no row was sent by two workers
    copies = Counter(envelope.rcpt_tos[0] for envelope in smtp_sink.received)
    assert len(copies) == MAILS and set(copies.values()) == {1}
    with app.session() as session:
        statuses = Counter(session.scalars(select(OutboxMessage.status)))
    assert statuses == {"sent": MAILS}
    app.close()


SENDERS = 10
ROUNDS = 8


def test_two_inbound_servers_share_one_database(config_file: Path) -> None:
    apps = [App.open(config_file), App.open(config_file)]  # two engines, as two processes
    with apps[0].session() as session:
        meeting = meetings.add_meeting(session, apps[0].settings, title="Autumn meeting",
                                       start="2027-11-18 16:00", now=apps[0].now())  # fmt: skip
        people = [members.add_member(session, email=f"m{n}@school{n}.example",
                                     name=f"Member {n}", now=apps[0].now())
                  for n in range(SENDERS)]  # fmt: skip
        mail = apps[0].settings.mail
        senders = [(m.email, addresses.reply_address(mail.address, mail.secret,
                                                     addresses.ReplyToken("c", meeting.id, m.id)))
                   for m in people]  # fmt: skip
    servers = [InboundServer(app, port=free_port()) for app in apps]
    for server in servers:
        server.start()
    errors: list[BaseException] = []

    def member(sender: str, to: str) -> None:
        """Each member sends to both servers at once: apologies plus an item, every time."""
        try:
            connections = [smtplib.SMTP("127.0.0.1", s.port) for s in servers]
            for k in range(ROUNDS):
                smtp = connections[k % 2]
                body = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: Re: Call ({k})\r\n\r\n"
                        f"Apologies\r\nItem: Topic {k} from {sender}\r\n")  # fmt: skip
                smtp.sendmail(sender, [to], body.encode())
            for smtp in connections:
                smtp.quit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=member, args=pair) for pair in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for server in servers:
        assert server.drain(timeout=120)
        server.stop()
    assert errors == []
    with apps[0].session() as session:
        statuses = Counter(session.scalars(select(InboundMessage.status)))
        assert statuses == {"processed": SENDERS * ROUNDS}, statuses
        titles = Counter(
            i.title for i in session.scalars(select(Item).where(Item.kind != "apology"))
        )
        assert len(titles) == SENDERS * ROUNDS and set(titles.values()) == {1}
        answers = session.scalars(select(Attendance)).all()
        assert sorted(a.member_id for a in answers) == sorted(p.id for p in people)
        assert {a.status for a in answers} == {"apologies"}
        acks = session.scalar(select(func.count()).select_from(OutboxMessage))
        assert acks == SENDERS * ROUNDS
    for app in apps:
        app.close()
