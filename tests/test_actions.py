"""Actions from the minutes: stored once, in the next call for items (each owner's own
highlighted), closed by the owner's "done N" reply, shown as done in the next minutes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailflow.app import App
from tests.conftest import Cli
from tests.loops import (
    JANE,
    MARY,
    RUTH,
    SAM,
    address,
    make_group,
    message,
    outgoing,
    send,
    text_of,
)
from tests.test_attendance import send_minutes

AUTUMN = """\
## Attendance codes

- ACTION Jane Smith: circulate the LA guidance and our crib sheet by 2026-12-10
- ACTION Sam: ask the LA about the MIS update timetable
- ACTION Ruth Evans: book the Teachers' Centre by 15 January 2027
"""
GROUP_ADDRESS = "dht@example.org"
SPRING = """\
## Moderation

Agreed to meet in March.
"""


def actions(cli: Cli, *options: str) -> list[dict[str, Any]]:
    result = cli("actions", "list", "--json", *options)
    assert result.exit_code == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


def latest(app: App, to: str, subject: str) -> EmailMessage:
    return [m for m in outgoing(app, to=to) if str(m["Subject"]).startswith(subject)][-1]


def test_actions_are_stored_once_listed_and_closed(
    cli: Cli, app: App, server: Any, tmp_path: Path
) -> None:
    group = make_group(app)
    assert send_minutes(cli, tmp_path, AUTUMN).exit_code == 0
    jane, sam, ruth = actions(cli)
    assert jane == {"id": jane["id"], "meeting": "autumn", "meeting_id": group.meeting,
                    "owner": JANE,
                    "owner_name": "Jane Smith",
                    "text": "circulate the LA guidance and our crib sheet by 2026-12-10",
                    "due": "2026-12-10", "status": "open", "done_at": None}  # fmt: skip
    assert (sam["owner"], sam["owner_name"], sam["due"]) == (SAM, "Sam", None)
    assert (ruth["owner"], ruth["due"]) == (RUTH, "2027-01-15")
    text = text_of(latest(app, JANE, "Minutes:"))
    assert f'YOUR ACTIONS (reply "done N" when one is done)\n  {jane["id"]}. circulate' in text
    assert f"  {sam['id']}. Sam: ask the LA about the MIS update timetable" in text

    # Sent again, resent, and resent with one action reworded: never doubled.
    assert send_minutes(cli, tmp_path, AUTUMN).exit_code == 0
    path = tmp_path / "autumn.md"
    assert cli("send-minutes", "autumn", "--minutes", str(path), "--resend").exit_code == 0
    assert [a["id"] for a in actions(cli)] == [jane["id"], sam["id"], ruth["id"]]
    path.write_text(AUTUMN.replace("MIS update timetable", "MIS update"), encoding="utf-8")
    assert cli("send-minutes", "autumn", "--minutes", str(path), "--resend").exit_code == 0
    now = actions(cli)
    assert [a["text"] for a in now] == [jane["text"], ruth["text"],
                                         "ask the LA about the MIS update"]  # fmt: skip
    assert [a["id"] for a in now[:2]] == [jane["id"], ruth["id"]] and now[2]["id"] > ruth["id"]

    done = cli("actions", "done", str(jane["id"]))
    assert done.exit_code == 0 and f"Action {jane['id']} marked done" in done.stdout
    assert [a["id"] for a in actions(cli, "--open")] == [a["id"] for a in now[1:]]
    again = cli("actions", "done", str(jane["id"]))
    assert "already done" in again.stdout
    missing = cli("actions", "done", "999")
    assert missing.exit_code == 1 and missing.stderr == (
        "mailflow: no action 999 (see `mailflow actions list`)\n"
    )

    # A coordinator may close anyone's action by reply.
    mary = address(app, "m", group.meeting, group.id(MARY))
    row = send(server, MARY, mary, f"done {now[2]['id']}", name="Mary Jones")
    assert row.status == "processed", row.outcome
    assert f"Action {now[2]['id']} marked done" in text_of(latest(app, MARY, "Re:"))
    assert [a["id"] for a in actions(cli, "--open")] == [ruth["id"]]

    # On the group address it counts only when the mail is the owner's own.
    forged = message(RUTH, GROUP_ADDRESS, f"done {ruth['id']}")
    row = send(server, "mallory@evil.example", GROUP_ADDRESS, forged)
    assert row.status == "held", row.outcome
    row = send(server, RUTH, GROUP_ADDRESS, f"done {ruth['id']}\n\nRuth", name="Ruth Evans")
    assert row.status == "processed", row.outcome
    assert actions(cli, "--open") == []
    assert f"Action {ruth['id']} marked done" in text_of(latest(app, RUTH, "Re:"))
    for meeting in ("autumn", "spring"):  # not a news post either
        assert json.loads(cli("items", "list", meeting, "--json").stdout) == []


def test_an_action_follows_up_into_the_next_meeting(
    cli: Cli, app: App, server: Any, tmp_path: Path
) -> None:
    group = make_group(app)
    app.clock = lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert send_minutes(cli, tmp_path, AUTUMN).exit_code == 0
    jane, sam, ruth = (a["id"] for a in actions(cli))

    # The spring call for items lists the open actions; each owner's own stand out.
    assert cli("call-for-items", "spring").exit_code == 0
    call = latest(app, JANE, "Call for items")
    text = text_of(call)
    assert f'>> YOUR OPEN ACTIONS (reply "done N" when one is done):\n>>   {jane}. ' in text
    assert f"  {jane}. Jane Smith: circulate the LA guidance" in text
    assert "(due 2026-12-10) <- yours" in text
    assert f"  {ruth}. Ruth Evans: book the Teachers' Centre by 15 January 2027 (due " in text
    html = call.get_body(("html",))
    assert html is not None and "<strong>Your open actions</strong>" in html.get_content()
    sams = text_of(latest(app, SAM, "Call for items"))
    assert f">>   {sam}. ask the LA" in sams and "<- yours" not in sams.split(f"{sam}. Sam")[0]

    # Only the owner (or a coordinator) can close an action by reply.
    sam_call = address(app, "c", group.next_meeting, group.id(SAM))
    row = send(server, SAM, sam_call, f"done {jane}\n\nSam", name="Sam Patel")
    assert row.status == "processed", row.outcome
    assert f"Action {jane} is not yours" in text_of(latest(app, SAM, "Re:"))
    jane_call = address(app, "c", group.next_meeting, group.id(JANE))
    row = send(server, JANE, jane_call, f"Done {jane}\n\nSent round on Monday.\n\nThanks,\nJane",
               name="Jane Smith")  # fmt: skip
    assert row.status == "processed", row.outcome
    ack = latest(app, JANE, "Re:")
    assert f"Action {jane} marked done" in text_of(ack)
    assert ack["Auto-Submitted"] == "auto-replied"

    # Sam closes his by replying to the autumn minutes: no correction is recorded.
    sam_minutes = address(app, "m", group.meeting, group.id(SAM))
    row = send(server, SAM, sam_minutes, f"done {sam}\nThanks!\n", name="Sam Patel")
    assert row.status == "processed", row.outcome
    assert f"Action {sam} marked done" in text_of(latest(app, SAM, "Re:"))
    assert json.loads(cli("items", "list", "spring", "--json").stdout) == []
    assert [a["id"] for a in actions(cli, "--open")] == [ruth]

    # The spring minutes show what was done since the autumn meeting, and what is not.
    assert send_minutes(cli, tmp_path, SPRING, meeting="spring").exit_code == 0
    minutes = text_of(latest(app, RUTH, "Minutes: Spring"))
    earlier = minutes.split("ACTIONS FROM EARLIER MEETINGS\n")[1]
    assert f"  {jane}. Jane Smith: circulate the LA guidance" in earlier
    assert "crib sheet by 2026-12-10 - done\n" in earlier
    assert f"  {sam}. Sam: ask the LA about the MIS update timetable - done\n" in earlier
    assert (
        f"  {ruth}. Ruth Evans: book the Teachers' Centre by 15 January 2027 (due 2027-01-15)"
        " - still open" in earlier
    )
    assert f"{ruth}. book the Teachers' Centre" in minutes.split("ATTENDANCE")[0]


def test_erasing_a_member_anonymises_their_actions(cli: Cli, app: App, tmp_path: Path) -> None:
    group = make_group(app)
    assert send_minutes(cli, tmp_path, AUTUMN).exit_code == 0
    erased = cli("members", "erase", SAM)
    assert erased.exit_code == 0, erased.stderr
    sam = next(a for a in actions(cli) if a["text"].startswith("ask the LA"))
    anonymous = f"Former member {group.id(SAM)}"
    assert (sam["owner_name"], sam["owner"]) == (
        anonymous,
        f"erased-{group.id(SAM)}@erased.invalid",
    )
    listed = cli("actions", "list").stdout
    assert "Sam" not in listed and SAM not in listed
