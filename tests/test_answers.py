"""Written answers by email: volunteer or assignment, the answer to the asker at once."""

from __future__ import annotations

import json
from typing import Any

from mailflow.app import App
from tests.conftest import Cli
from tests.loops import (
    JANE,
    RUTH,
    SAM,
    add_item,
    address,
    get_item,
    make_group,
    outgoing,
    reply_to,
    send,
    text_of,
)

ANSWER = """\
We moved to the new codes in September: the LA's guidance note (Sept 2026) covers it.
Happy to share our letter to parents.

Best wishes,
Sam

On Thu, 1 Oct 2026 at 09:00, Eastleigh DHT Group <dht@example.org> wrote:
> Thank you for answering this question in writing
"""


def test_volunteered_answer_reaches_the_asker(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    question = add_item(app, group.meeting, group.id(JANE), "question",
                        "How are schools handling the new attendance codes?",
                        status="written-answer")  # fmt: skip
    row = send(server, SAM, address(app, "a", group.meeting, group.id(SAM)), f"answer {question}")
    assert row.status == "processed", row.outcome
    [request, ack] = outgoing(app, to=SAM)
    assert "Would you answer in writing" in str(request["Subject"])
    answer_address = reply_to(request)
    assert answer_address == address(app, "w", question, group.id(SAM))
    assert "thank you for answering" in text_of(ack)

    row = send(server, SAM, answer_address, ANSWER, name="Sam Patel")
    assert row.status == "processed", row.outcome
    stored = get_item(app, question)
    assert stored.answer.startswith("We moved to the new codes in September")
    assert "Best wishes" not in stored.answer and "wrote:" not in stored.answer
    assert stored.answered_at is not None

    [to_asker] = outgoing(app, to=JANE)
    assert "Answer: How are schools handling" in str(to_asker["Subject"])
    assert "We moved to the new codes" in text_of(to_asker)
    assert reply_to(to_asker) == SAM
    assert "recorded for the minutes" in text_of(outgoing(app, to=SAM)[-1])

    # It is delivered (through the outbox to the maildir) and listed for the minutes.
    assert cli("outbox", "flush").exit_code == 0
    delivered = [f.read_bytes() for f in sorted(app.settings.maildir.glob("*.eml"))]
    assert sum(b"We moved to the new codes" in raw for raw in delivered) == 1
    listed = {i["id"]: i for i in json.loads(cli("items", "list", "autumn", "--json").stdout)}
    assert listed[question]["answer"] == stored.answer
    assert listed[question]["assignee"] == SAM


def test_assignment_and_who_may_answer(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    question = add_item(app, group.meeting, group.id(JANE), "question", "SEND reviews?",
                        status="written-answer")  # fmt: skip
    open_item = add_item(app, group.meeting, group.id(JANE), "question", "Still open?")
    assert cli("items", "assign", str(open_item), RUTH).exit_code == 1
    result = cli("items", "assign", str(question), RUTH)
    assert result.exit_code == 0, result.stderr
    assert "assigned to Ruth Evans" in result.stdout
    delivered = sorted(app.settings.maildir.glob("*.eml"))
    assert len(delivered) == 1 and b"SEND reviews?" in delivered[0].read_bytes()

    # Sam volunteers too late, and an answer from him to his own address is held.
    send(server, SAM, address(app, "c", group.meeting, group.id(SAM)), f"answer {question}")
    assert "already being answered by Ruth Evans" in text_of(outgoing(app, to=SAM)[-1])
    row = send(server, SAM, address(app, "w", question, group.id(SAM)), "My answer")
    assert row.status == "held" and "not assigned to them" in row.outcome
    assert get_item(app, question).answer == ""

    # An empty reply is answered, not recorded; a second answer replaces the first.
    ruth = address(app, "w", question, group.id(RUTH))
    send(server, RUTH, ruth, "> quoted only\n")
    assert get_item(app, question).answer == ""
    send(server, RUTH, ruth, "First answer.")
    send(server, RUTH, ruth, "Better answer.")
    assert get_item(app, question).answer == "Better answer."
    subjects = [str(m["Subject"]) for m in outgoing(app, to=JANE)]
    assert subjects == ["Answer: SEND reviews?", "Updated answer: SEND reviews?"]
