"""Members' data rights over real SMTP and the CLI: export, erasure, retention, file modes."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, String, column, inspect, select, table

from mailflow import polls, tick
from mailflow.app import App
from mailflow.ingest import blob_path
from mailflow.models import Held, InboundMessage, Item, Meeting, OutboxMessage
from tests.conftest import Cli, ConfigFactory, load_mail
from tests.loops import JANE, NOW, SAM, Group, add_item, address, make_group, send

ATTACHMENT = os.urandom(3000)


@dataclass
class History:
    """Jane did everything once; ids of what she touched."""

    group: Group
    question: int  # Sam's question that Jane answered in writing
    agenda: int  # Sam's agenda item that Jane voted for
    post: int  # Sam's news post that Jane replied to


def with_attachment(to: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Jane Smith <{JANE}>", to, "Re: Call for items"
    msg["Message-ID"] = make_msgid(domain="hamble.example")
    msg.set_content(body)
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename="map.pdf")
    return msg.as_bytes(policy=policy.SMTP)


def processed(row: InboundMessage) -> None:
    assert row.status == "processed", row.outcome


@pytest.fixture
def history(app: App, server: Any, cli: Cli) -> History:
    """Jane sends an item with a file, votes, volunteers and answers, votes in a poll,
    proposes a new time, and replies to a news post; everything is delivered."""
    group = make_group(app)
    jane = group.id(JANE)
    question = add_item(app, group.meeting, group.id(SAM), "question", "Attendance codes?",
                        status="written-answer")  # fmt: skip
    agenda = add_item(app, group.meeting, group.id(SAM), "agenda", "Moderation")
    post = add_item(app, group.meeting, group.id(SAM), "resource", "Phonics map")
    call = address(app, "c", group.meeting, jane)
    processed(send(server, JANE, call, with_attachment(call, "Q: Can we share the scheme?")))
    processed(send(server, JANE, call, f"+1 {agenda}\nanswer {question}"))
    processed(send(server, JANE, address(app, "w", question, jane), "We use code X now."))
    with app.session() as session:
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        event = meeting.uid
        poll = polls.create_poll(session, app.settings, meeting=meeting, question="Theme",
                                 options=["Workload", "Curriculum"], closes="2026-10-20 18:00",
                                 now=NOW)  # fmt: skip
        session.commit()
        polls.send_poll(session, app.settings, poll, now=NOW)
    processed(send(server, JANE, address(app, "p", poll.id, jane), "2"))
    invite = address(app, "i", group.meeting, jane)
    counter = load_mail("rsvp_counter.eml", reply_to=invite, uid=event, partstat="TENTATIVE",
                        start="20261126T160000", end="20261126T173000",
                        comment="Could we move it a week?")  # fmt: skip
    processed(send(server, JANE, invite, counter))
    processed(send(server, JANE, address(app, "d", post, jane), "Could we use it too?"))
    tick.run(app)  # delivers every message to the maildir folder
    return History(group, question, agenda, post)


def test_export_holds_every_kind_of_record(app: App, history: History, cli: Cli,
                                           tmp_path: Path) -> None:  # fmt: skip
    result = cli("members", "export", JANE, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["member"]["email"] == JANE
    question, resource = data["items"]  # the file makes a resource item of its own
    assert question["title"] == "Can we share the scheme?"
    [attachment] = resource["attachments"]
    assert base64.b64decode(data["files"][attachment["file"]]) == ATTACHMENT
    assert data["answers"][0]["answer"].startswith("We use code X now.")
    assert [v["item"] for v in data["votes"]] == [history.agenda]
    assert [(p["option"], p["choice"]) for p in data["poll_votes"]] == [(2, "Curriculum")]
    [attendance] = data["attendance"]
    assert attendance["status"] == "tentative" and attendance["proposed_start"]
    assert [c["body"] for c in data["comments"]] == ["Could we use it too?"]
    assert len(data["received"]) == 6
    assert all(JANE.encode() in base64.b64decode(data["files"][r["file"]])
               for r in data["received"])  # fmt: skip
    assert data["sent"] and all(s["status"] == "sent" for s in data["sent"])

    folder = tmp_path / "export"
    assert cli("members", "export", JANE, "--dir", str(folder)).exit_code == 0
    written = json.loads((folder / "member.json").read_text())
    assert written["items"] == data["items"]
    assert (folder / attachment["file"]).read_bytes() == ATTACHMENT
    assert mode(folder) == 0o700 and mode(folder / "member.json") == 0o600
    assert "items" in cli("members", "export", JANE).stdout
    assert cli("members", "export", JANE, "--dir", str(folder)).exit_code == 1  # not empty


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def needles() -> list[bytes]:
    return [JANE.encode(), b"jane smith", ATTACHMENT, base64.encodebytes(ATTACHMENT)[:76]]


def database_values(app: App) -> Iterator[tuple[str, bytes]]:
    """Every text and binary value of every table in the database, lower-cased, with
    where it is."""
    with app.engine.connect() as conn:
        found = inspect(conn)
        for name in found.get_table_names():
            names = [c["name"] for c in found.get_columns(name)
                     if isinstance(c["type"], String | LargeBinary | JSON)]  # fmt: skip
            if not names:
                continue
            for row in conn.execute(select(*table(name, *map(column, names)).c)):
                for where, value in zip(names, row, strict=True):
                    data = value if isinstance(value, bytes) else json.dumps(value).encode()
                    yield f"{name}.{where}", data.lower()


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in folder.rglob("*") if p.is_file())


def test_erase_leaves_nothing_of_them(app: App, history: History, cli: Cli,
                                      tmp_path: Path) -> None:  # fmt: skip
    minutes = tmp_path / "minutes.md"
    minutes.write_text("# Autumn meeting\n\nWe talked about phonics.\n")
    assert cli("send-minutes", "autumn", "--minutes", str(minutes), "--dry-run").exit_code == 0
    result = cli("members", "erase", JANE)  # as DESIGN.md writes it: no question from a script
    assert result.exit_code == 0, result.stderr
    jane = history.group.id(JANE)
    assert f"now Former member {jane}, inactive" in result.stdout
    assert "items: 2 kept as" in result.stdout and "1 file(s) deleted" in result.stdout

    for where, value in database_values(app):
        assert not any(n.lower() in value for n in needles()), where
    db_file = Path(app.engine.url.database or "")
    for path in [*files_under(app.settings.data_dir, app.settings.maildir),
                 *([db_file, db_file.with_name(db_file.name + "-wal")]
                   if app.engine.dialect.name == "sqlite" else [])]:  # fmt: skip
        if path.exists():
            data = path.read_bytes().lower()
            assert not any(n.lower() in data for n in needles()), path

    with app.session() as session:
        items = session.scalars(select(Item).where(Item.member_id == jane).order_by(Item.id))
        assert [(i.title, i.author, i.attachments) for i in items] == [
            ("Can we share the scheme?", "", []), ("map.pdf", "", [])
        ]  # fmt: skip
    result = cli("send-minutes", "autumn", "--minutes", str(minutes), "--dry-run")
    assert result.exit_code == 0 and "3 message(s) written" in result.stdout
    copy = next(files_under(app.settings.data_dir / "dry-run")).read_text()
    assert f"Former member {jane}" in copy  # her attendance, kept anonymous
    assert cli("members", "erase", f"erased-{jane}@erased.invalid", "--yes").exit_code == 1


def test_erase_can_delete_their_items(app: App, history: History, cli: Cli) -> None:
    result = cli("members", "erase", JANE, "--items", "delete", "--yes")
    assert result.exit_code == 0, result.stderr
    with app.session() as session:
        assert not session.scalars(
            select(Item).where(Item.member_id == history.group.id(JANE))
        ).all()
        question = session.get(Item, history.question)
        assert question is not None and question.answer == ""
        assert session.get(Item, history.agenda) is not None  # Sam's items stay


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard config; mail is kept 30 days."""
    return configs.write(extra="\n[retention]\ninbound_days = 30\nsent_days = 30\nheld_days = 30\n")


def test_retention_removes_only_what_is_older(app: App, server: Any) -> None:
    group = make_group(app)
    call = address(app, "c", group.meeting, group.id(JANE))
    kept: dict[str, list[int]] = {}
    for days in (0, 20):
        app.clock = lambda days=days: NOW + timedelta(days=days)
        item = send(server, JANE, call, f"Q: Question from day {days}?")
        held = send(server, JANE, call, "> only a quote")
        assert held.status == "held"
        tick.run(app)
        kept[f"day {days}"] = [item.id, held.id]
    app.clock = lambda: NOW + timedelta(days=35)
    done = tick.run(app)
    assert "retention: 1 held message(s) discarded (older than 30 days)" in done
    with app.session() as session:
        raws = {r.id: r.raw for r in session.scalars(select(InboundMessage))}
        assert [raws[i] for i in kept["day 0"]] == [b"", b""]
        assert all(raws[i] for i in kept["day 20"])
        statuses = [h.status for h in session.scalars(select(Held).order_by(Held.id))]
        assert statuses == ["discarded", "held"]
        acks = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == JANE)
                               .order_by(OutboxMessage.id)).all()  # fmt: skip
        old, new = acks[0], acks[1]
        assert old.raw == b"" and old.status == "sent" and new.raw
    assert not (app.settings.maildir / f"{old.id:06d}.eml").exists()
    assert (app.settings.maildir / f"{new.id:06d}.eml").exists()


def test_files_are_created_owner_only(tmp_path: Path, cli: Cli, app: App, server: Any) -> None:
    folder = tmp_path / "fresh"
    previous = os.umask(0)  # what we create must not depend on the umask
    try:
        result = cli("init", config=folder / "mailflow.toml")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("readable by the owner only") == 3
    assert mode(folder / "mailflow.toml") == 0o600
    assert mode(folder / "mailflow.db") == 0o600
    assert mode(folder / "data") == 0o700

    group = make_group(app)
    call = address(app, "c", group.meeting, group.id(JANE))
    processed(send(server, JANE, call, with_attachment(call, "Q: A file?")))
    tick.run(app)
    with app.session() as session:
        sha = session.scalars(select(Item)).all()[-1].attachments[0].sha256
    stored = blob_path(app.settings.data_dir, sha)
    assert mode(stored) == 0o600 and mode(stored.parent) == 0o700
    assert mode(app.settings.data_dir) == 0o700
    sent = list(app.settings.maildir.glob("*.eml"))
    assert sent and all(mode(p) == 0o600 for p in sent)
    if app.engine.dialect.name == "sqlite":
        assert mode(Path(app.engine.url.database or "")) == 0o600
