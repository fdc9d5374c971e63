"""Corrections to the minutes by reply: an item under "Approval of the minutes" next time."""

from __future__ import annotations

import json
from typing import Any

from mailflow import planner
from mailflow.app import App
from tests.conftest import Cli
from tests.loops import JANE, SAM, address, make_group, outgoing, send, text_of

CORRECTION = """\
Item 4 should say the moderation cluster meets in March, not May.

Thanks,
Jane

On Fri, 20 Nov 2026 at 09:00, Eastleigh DHT Group <dht@example.org> wrote:
> Minutes of the Autumn meeting
"""


def test_correction_goes_on_the_next_agenda(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    to = address(app, "m", group.meeting, group.id(JANE))
    row = send(server, JANE, to, CORRECTION, name="Jane Smith", subject="Re: Minutes")
    assert row.status == "processed", row.outcome
    [item] = json.loads(cli("items", "list", "spring", "--json").stdout)
    assert item["kind"] == "agenda" and item["member"] == JANE
    assert item["title"] == ("Correction to the minutes: Item 4 should say the moderation "
                             "cluster meets in March, not May.")  # fmt: skip
    assert "On the minutes of Autumn meeting (19 November 2026)" in item["body"]
    assert "wrote:" not in item["body"]

    agenda = json.loads(cli("agenda", "spring", "--format", "json").stdout)
    titles = [s["title"] for s in agenda["slots"]]
    assert titles[:2] == ["Welcome and apologies", planner.APPROVAL_TITLE]
    assert agenda["slots"][1]["items"] == [item["id"]]
    text = cli("agenda", "spring").stdout
    assert " 2. Approval of the minutes (5 min)\n    - Correction to the minutes: Item 4" in text

    [ack] = outgoing(app, to=JANE)
    assert 'for Spring meeting, under "Approval of the minutes"' in text_of(ack)
    assert ack["Auto-Submitted"] == "auto-replied"


def test_correction_without_a_next_meeting_or_words_is_held(app: App, server: Any) -> None:
    group = make_group(app)
    last = address(app, "m", group.next_meeting, group.id(SAM))
    row = send(server, SAM, last, "My name is spelt Patel.")
    assert row.status == "held" and "no later meeting is planned" in row.outcome
    row = send(server, SAM, address(app, "m", group.meeting, group.id(SAM)), "> only a quote\n")
    assert row.status == "held" and "no text of the member's own" in row.outcome
    assert outgoing(app) == []


THANKS = """\
Thanks Helen, really useful meeting. See you in June!

Jane

On Fri, 20 Nov 2026 at 09:00, Eastleigh DHT Group <dht@example.org> wrote:
> Minutes of the Autumn meeting
"""


def test_thanks_for_the_minutes_is_not_a_correction(app: App, server: Any, cli: Cli) -> None:
    group = make_group(app)
    to = address(app, "m", group.meeting, group.id(JANE))
    row = send(server, JANE, to, THANKS, name="Jane Smith", subject="Re: Minutes")
    assert (row.status, row.outcome) == ("ignored", "a thank-you for the minutes, not a correction")
    assert json.loads(cli("items", "list", "spring", "--json").stdout) == []
    assert "Correction" not in cli("agenda", "spring").stdout
    assert outgoing(app) == []  # no answer to a thank-you

    # A correction that starts by thanking is still a correction.
    row = send(server, JANE, to, "Thanks for the minutes. One correction: Ben was there too.",
               name="Jane Smith", subject="Re: Minutes")  # fmt: skip
    assert row.status == "processed", row.outcome
    [item] = json.loads(cli("items", "list", "spring", "--json").stdout)
    assert item["title"].startswith("Correction to the minutes: Thanks for the minutes.")
