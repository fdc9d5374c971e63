"""The inbound server over real SMTP: RCPT checks, store-then-250, the pipeline's outcomes."""

from __future__ import annotations

import email
import hashlib
import smtplib
import threading
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from mailflow import addresses
from mailflow.app import App
from mailflow.models import Attendance, Held, InboundMessage, Item, Meeting, Member, OutboxMessage
from tests.conftest import load_mail

JANE = "jane.smith@hamble.hants.sch.uk"
SAM = "sam.patel@westend.hants.sch.uk"


@pytest.fixture
def group(app: App) -> dict[str, Any]:
    """Two members and the autumn meeting."""
    from mailflow import meetings, members

    with app.session() as session:
        jane = members.add_member(session, email=JANE, name="Jane Smith", now=app.now())
        sam = members.add_member(session, email=SAM, name="Sam Patel", now=app.now())
        meeting = meetings.add_meeting(session, app.settings, title="Autumn meeting",
                                       start="2027-11-18 16:00", now=app.now())  # fmt: skip
        return {"jane": jane.id, "sam": sam.id, "meeting": meeting.id, "uid": meeting.uid}


def reply_to(app: App, member_id: int, meeting_id: int, purpose: str = "c") -> str:
    token = addresses.ReplyToken(purpose, meeting_id, member_id)
    return addresses.reply_address(app.settings.mail.address, app.settings.mail.secret, token)


def send(server: Any, mail_from: str, rcpts: list[str], data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.sendmail(mail_from, rcpts, data)


def processed(app: App, server: Any) -> list[InboundMessage]:
    assert server.drain()
    with app.session() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def items(app: App) -> list[Item]:
    with app.session() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def outbox(app: App) -> list[OutboxMessage]:
    with app.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_reply_becomes_items_and_one_acknowledgement(
    app: App, server: Any, group: dict[str, Any]
) -> None:
    to = reply_to(app, group["jane"], group["meeting"])
    send(server, JANE, [to], load_mail("gmail_question.eml", reply_to=to))
    [row] = processed(app, server)
    assert row.status == "processed", row.error or row.outcome
    found = [(i.kind, i.title, i.minutes, i.meeting_id) for i in items(app)]
    assert found == [
        ("question", "How are other schools handling the new attendance codes?", 10,
         group["meeting"]),
        ("agenda", "Moderation of Year 6 writing", None, group["meeting"]),
    ]  # fmt: skip
    [ack] = outbox(app)
    assert ack.recipient == JANE
    msg = email.message_from_bytes(ack.raw, policy=policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<CAF3k9Jq1+question@mail.gmail.com>"
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "How are other schools handling the new attendance codes?" in text
    assert "withdraw N" in text


def test_forged_token_and_relay_are_refused_at_rcpt(
    app: App, server: Any, group: dict[str, Any]
) -> None:
    good = reply_to(app, group["jane"], group["meeting"])
    forged = good.replace(good.split("+")[1][:3], "c99", 1)
    with smtplib.SMTP("127.0.0.1", server.port) as smtp:
        smtp.ehlo()
        smtp.mail(JANE)
        assert smtp.rcpt(forged)[0] == 550
        assert smtp.rcpt("someone@elsewhere.example")[0] == 550
        assert smtp.rcpt("postmaster@example.org")[0] == 550
        assert smtp.rcpt(good.upper())[0] == 250
    assert processed(app, server) == []


def test_oversize_is_refused_and_the_server_stays_up(configs: Any) -> None:
    from mailflow.server import InboundServer
    from tests.conftest import free_port

    small = App.open(configs.write(max_message_bytes=2000))
    srv = InboundServer(small, port=free_port())
    srv.start()
    try:
        big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as early:  # announced with SIZE=
                smtp.sendmail(JANE, ["dht@example.org"], big)
            assert early.value.smtp_code == 552
            smtp.ehlo()
            smtp.mail(JANE)  # no SIZE: refused at DATA
            smtp.rcpt("dht@example.org")
            assert smtp.data(big)[0] == 552
        send(srv, JANE, ["dht@example.org"], b"Subject: small\r\n\r\nhello\r\n")
        assert srv.drain()
    finally:
        srv.stop()
        small.close()


def test_auto_reply_and_bounce_are_ignored(app: App, server: Any, group: dict[str, Any]) -> None:
    to = reply_to(app, group["sam"], group["meeting"])
    send(server, SAM, [to], load_mail("vacation.eml", reply_to=to))
    send(server, "", ["dht@example.org"], load_mail("bounce.eml"))
    rows = processed(app, server)
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert items(app) == [] and outbox(app) == []
    with app.session() as session:
        sam = session.get(Member, group["sam"])
        assert sam is not None and sam.bounces == 1


def test_non_member_is_held_with_a_reason(app: App, server: Any, group: dict[str, Any]) -> None:
    send(server, "alex@agency.example.com", ["dht@example.org"], load_mail("stranger.eml"))
    [row] = processed(app, server)
    assert row.status == "held"
    with app.session() as session:
        held = session.scalars(select(Held)).one()
        assert held.reason == "alex@agency.example.com is not a member"
    assert items(app) == [] and outbox(app) == []


def test_token_from_mismatch_is_held(app: App, server: Any, group: dict[str, Any]) -> None:
    to = reply_to(app, group["jane"], group["meeting"])
    send(server, SAM, [to], load_mail("outlook_apologies.eml", reply_to=to))
    [row] = processed(app, server)
    assert row.status == "held"
    assert "issued to jane.smith@hamble.hants.sch.uk" in row.outcome


def test_apologies_record_attendance_and_keep_items(app: App, server: Any, group: Any) -> None:
    to = reply_to(app, group["sam"], group["meeting"])
    send(server, SAM, [to], load_mail("outlook_apologies.eml", reply_to=to))
    [row] = processed(app, server)
    assert row.status == "processed", row.error or row.outcome
    kinds = [(i.kind, i.title) for i in items(app)]
    assert ("question", "Could someone share their SEND policy review timeline?") in kinds
    assert any(kind == "apology" for kind, _ in kinds)
    with app.session() as session:
        answer = session.scalars(select(Attendance)).one()
        assert (answer.member_id, answer.status) == (group["sam"], "apologies")


def test_attachment_bytes_round_trip(app: App, server: Any, group: dict[str, Any]) -> None:
    raw = load_mail("resource_pdf.eml")
    send(server, JANE, ["dht@example.org"], raw)
    [row] = processed(app, server)
    assert row.status == "processed", row.error or row.outcome
    [item] = items(app)
    assert item.kind == "resource" and item.title == "Our updated marking policy"
    with app.session() as session:
        item = session.get(Item, item.id)
        assert item is not None
        [att] = item.attachments
    sent = email.message_from_bytes(raw, policy=policy.default)
    original = next(iter(sent.iter_attachments())).get_content()
    assert att.filename == "Marking policy 2026.pdf"
    assert att.sha256 == hashlib.sha256(original).hexdigest()
    stored = app.settings.data_dir / "attachments" / att.sha256[:2] / att.sha256
    assert stored.read_bytes() == original


def test_calendar_reply_updates_attendance(app: App, server: Any, group: dict[str, Any]) -> None:
    to = reply_to(app, group["jane"], group["meeting"], purpose="i")
    raw = load_mail("rsvp_accept.eml", reply_to=to, uid=group["uid"], sequence="0")
    send(server, JANE, [to], raw)
    [row] = processed(app, server)
    assert row.status == "processed", row.error or row.outcome
    assert items(app) == []
    with app.session() as session:
        answer = session.scalars(select(Attendance)).one()
        assert answer.status == "accepted"


def test_calendar_reply_for_unknown_event_is_held(app: App, server: Any, group: Any) -> None:
    to = reply_to(app, group["jane"], group["meeting"], purpose="i")
    raw = load_mail("rsvp_accept.eml", reply_to=to, uid="nope@example.org", sequence="0")
    send(server, JANE, [to], raw)
    [row] = processed(app, server)
    assert row.status == "held" and "unknown event" in row.outcome


def test_concurrent_connections_all_stored(app: App, server: Any, group: dict[str, Any]) -> None:
    with app.session() as session:
        meeting = session.get(Meeting, group["meeting"])
        assert meeting is not None
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", server.port) as smtp:
                for k in range(10):
                    body = f"Subject: load {n}-{k}\r\nFrom: {JANE}\r\n\r\nItem: topic {n}-{k}\r\n"
                    smtp.sendmail(JANE, ["dht@example.org"], body.encode())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = processed(app, server)
    assert len(rows) == 200
    assert len({r.subject for r in rows}) == 200


def test_a_failing_message_in_a_batch_fails_alone(
    app: App, group: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose middle message raises is rolled back and run one at a time: that
    message is `failed` with its error, the others get their items and one ack each."""
    from mailflow import ingest

    to = reply_to(app, group["jane"], group["meeting"])
    with app.writing() as session:
        ids = [ingest.store(session, mail_from=JANE, rcpt_tos=[to], now=app.now(),
                            raw=load_mail("gmail_question.eml", reply_to=to))
               for _ in range(3)]  # fmt: skip
    real = ingest.record_items

    def record_items(ctx: ingest.Context) -> None:
        if ctx.row.id == ids[1]:
            raise RuntimeError("a bug of ours")
        real(ctx)

    monkeypatch.setattr(ingest, "PIPELINE", tuple(
        (name, record_items if step is real else step) for name, step in ingest.PIPELINE
    ))  # fmt: skip
    with app.writing() as session:
        ingest.process_batch(session, app.settings, [(i, None) for i in ids], now=app.now())
    with app.session() as session:
        rows = [session.get(InboundMessage, i) for i in ids]
        assert [r.status for r in rows if r] == ["processed", "failed", "processed"]
        assert rows[1] is not None and rows[1].error == "RuntimeError: a bug of ours"
    assert sorted({i.message_id for i in items(app)}) == [ids[0], ids[2]]
    assert len(outbox(app)) == 2


def test_a_batch_leaves_alone_what_another_processor_did(app: App, group: Any) -> None:
    from mailflow import ingest

    to = reply_to(app, group["jane"], group["meeting"])
    with app.writing() as session:
        ids = [ingest.store(session, mail_from=JANE, rcpt_tos=[to], now=app.now(),
                            raw=load_mail("gmail_question.eml", reply_to=to))
               for _ in range(2)]  # fmt: skip
        ingest.process(session, app.settings, ids[0], now=app.now(), only_new=True)
    with app.writing() as session:
        ingest.process_batch(session, app.settings, [(i, None) for i in ids], now=app.now())
    assert len(outbox(app)) == 2
    assert sorted({i.message_id for i in items(app)}) == ids


def test_messages_arriving_together_share_a_commit_and_each_250_names_its_row(
    app: App,
) -> None:
    """A burst over many connections is stored in fewer transactions than messages (a
    group commit), and every 250 names the stored row holding exactly the bytes sent."""
    from sqlalchemy import event

    from mailflow.server import InboundServer
    from tests.conftest import free_port

    server = InboundServer(app, port=free_port(), process=False)
    commits: list[int] = []  # transactions that stored mail

    @event.listens_for(app.engine, "before_cursor_execute")
    def storing(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO inbound"):
            conn.info["stored"] = True

    @event.listens_for(app.engine, "commit")
    def committed(conn: Any) -> None:
        if conn.info.pop("stored", False):
            commits.append(1)

    answers: dict[bytes, int] = {}
    lock = threading.Lock()

    def client(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", server.port) as smtp:
            smtp.ehlo()
            for k in range(10):
                body = f"Subject: burst {n}-{k}\r\nFrom: {JANE}\r\n\r\nItem: {n}-{k}\r\n".encode()
                smtp.mail(JANE)
                smtp.rcpt("dht@example.org")
                code, reply = smtp.data(body)
                assert code == 250, reply
                with lock:
                    answers[body] = int(reply.split()[-1])

    server.start()
    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    assert len(answers) == 80
    assert len(commits) < 80
    with app.session() as session:
        stored = {
            i: raw for i, raw in session.execute(select(InboundMessage.id, InboundMessage.raw))
        }
    assert len(stored) == 80
    for body, inbound_id in answers.items():
        assert stored[inbound_id].replace(b"\r\n", b"\n") == body.replace(b"\r\n", b"\n")
