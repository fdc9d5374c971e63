"""Replies read knowing the mail of ours they answer: our words go, the member's stay.

The replies are built from the call for items our outbox really sent (its actual
bytes), quoted the way Gmail, Outlook and an Outlook "answers in blue" reply quote it,
and sent to a real server over SMTP.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailflow import planning, replies, sentmail
from mailflow.app import App
from mailflow.models import Item, Meeting
from mailflow.original import without_original
from tests.conftest import Cli
from tests.loops import JANE, Group, make_group, message, outgoing, reply_to, send, text_of

GROUP_NAME = "Eastleigh DHT Group"


def _sent_call(app: App) -> tuple[Group, str, str, str]:
    """Send the autumn call for items; (group, Jane's reply address, subject, its text)."""
    group = make_group(app)
    with app.session() as session:
        meeting = session.get_one(Meeting, group.meeting)
        planning.call_for_items(session, app.settings, meeting, now=app.now())
    call = outgoing(app, JANE)[-1]
    return group, reply_to(call), str(call["Subject"]), text_of(call)


def gmail_quoted(own: str, call: str, address: str) -> str:
    """Gmail: the call re-wrapped at 70 columns under a wrapped attribution, ``>`` quoted."""
    quoted = []
    for line in call.split("\n"):
        quoted += [f"> {part}" for part in textwrap.wrap(line, 70)] or [">"]
    return (f"{own}\n\nOn Thu, 1 Oct 2026 at 09:00, {GROUP_NAME} <\n{address}> wrote:\n\n"
            + "\n".join(quoted) + "\n")  # fmt: skip


def outlook_header(address: str, subject: str) -> str:
    return (f"________________________________\nFrom: {GROUP_NAME} <{address}>\n"
            f"Sent: 01 October 2026 09:00\nTo: Jane Smith <{JANE}>\n"
            f"Subject: {subject}\n")  # fmt: skip


def outlook_unquoted(own: str, call: str, address: str, subject: str) -> str:
    """Outlook: the call unquoted under a From/Sent/To/Subject block."""
    return f"{own}\n\n{outlook_header(address, subject)}\n{call}\n"


def _reply(server: Any, address: str, body: str, subject: str) -> None:
    """Jane's reply as her client sends it (CRLF line ends), processed by the server."""
    raw = message(JANE, address, body, subject=subject, name="Jane Smith")
    send(server, JANE, address, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def _items(app: App, meeting_id: int) -> list[tuple[str, str, int | None]]:
    with app.session() as session:
        rows = session.scalars(select(Item).where(Item.meeting_id == meeting_id)
                               .order_by(Item.id)).all()  # fmt: skip
        return [(i.kind, i.title, i.minutes) for i in rows]


def test_gmail_and_outlook_copies_of_our_call_are_removed(app: App, server: Any) -> None:
    group, address, subject, call = _sent_call(app)
    own = "Could we share how we are using the new attendance codes?"
    _reply(server, address, gmail_quoted(own, call, address), f"Re: {subject}")
    _reply(server, address,
           outlook_unquoted("Item: Sharing SEND audits [10m]", call, address, subject),
           f"RE: {subject}")  # fmt: skip
    assert _items(app, group.meeting) == [
        ("question", own, None),
        ("agenda", "Sharing SEND audits", 10),
    ]


def _answered_inline(address: str, subject: str, call: str) -> str:
    """Outlook's "answers in blue": a question and an item typed between our lines."""
    lines = call.split("\n")
    at = next(n for n, ln in enumerate(lines) if "Item:" in ln)
    answered = "\n".join([
        *lines[: at + 1],
        "Q: Has anyone had the new SEND inspection of their resourced provision yet?",
        "Item: Year 9 options evening - moving it online [10m]",
        *lines[at + 1 :],
    ])  # fmt: skip
    return f"My answers below, Jane.\n\n{outlook_header(address, subject)}\n{answered}\n"


ANSWERED = [
    ("question", "Has anyone had the new SEND inspection of their resourced provision yet?", None),
    ("agenda", "Year 9 options evening - moving it online", 10),
]


def test_answers_typed_inside_outlooks_copy_are_the_members(app: App, server: Any) -> None:
    group, address, subject, call = _sent_call(app)
    _reply(server, address, _answered_inline(address, subject, call), f"RE: {subject}")
    assert _items(app, group.meeting) == ANSWERED


def test_inbox_parse_looks_the_original_up_when_it_has_a_config(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    _, address, subject, call = _sent_call(app)
    eml = tmp_path / "reply.eml"
    eml.write_bytes(message(JANE, address, _answered_inline(address, subject, call),
                            subject=f"RE: {subject}", name="Jane Smith"))  # fmt: skip
    parsed = json.loads(cli("inbox", "parse", str(eml), "--json").stdout)
    assert [(i["kind"], i["title"], i["minutes"]) for i in parsed["items"]] == ANSWERED
    bare = json.loads(cli("inbox", "parse", str(eml), "--json",
                          config=tmp_path / "none.toml").stdout)  # fmt: skip
    assert "error" not in bare  # no config: read by the rules alone


def test_the_lookup_finds_the_mail_sent_to_that_address(app: App) -> None:
    _, address, subject, call = _sent_call(app)
    raw = message(JANE, address, outlook_unquoted("Apologies", call, address, subject),
                  subject=f"RE: {subject}", name="Jane Smith")  # fmt: skip
    with app.session() as session:
        original = sentmail.original_text(session, app.settings, [address])
        assert original is not None and original.strip() == call.strip()
        assert sentmail.original_text(session, app.settings, [app.settings.mail.address]) is None
    parsed = replies.parse_reply(raw, original=original)
    assert parsed["apologies"] is True
    items = parsed["items"]
    assert isinstance(items, list) and [i["kind"] for i in items] == ["apology"]


ORIGINAL = """Dear Tom,

The Autumn meeting is on Thursday 19 November 2026 at 16:00 in Room 2.
Please send your questions, agenda items and apologies by 12 November.

Eastleigh DHT Group"""


def test_a_lone_word_the_call_also_says_stays_the_members() -> None:
    assert without_original("Apologies\n\n> Dear Tom,\n>\n> " + ORIGINAL[11:].replace(
        "\n", "\n> "), ORIGINAL).strip() == "Apologies"  # fmt: skip


def test_a_re_wrapped_copy_is_found_by_its_words() -> None:
    rewrapped = ("Thanks!\n\nLe jeu. 1 oct. 2026 à 09:00, Eastleigh DHT Group <\n"
                 "dht+c1@example.org> a écrit :\n\n> Dear Tom,\n>\n> The Autumn meeting is on"
                 " Thursday 19 November\n> 2026 at 16:00 in Room 2. Please send your\n"
                 "> questions, agenda items and apologies by 12 November.\n>\n"
                 "> Eastleigh DHT Group\n")  # fmt: skip
    assert without_original(rewrapped, ORIGINAL).strip() == "Thanks!"


def test_text_sharing_a_few_words_with_the_call_is_kept() -> None:
    text = "Agenda items and apologies by Friday?\nI think we need longer."
    assert without_original(text, ORIGINAL) == text
