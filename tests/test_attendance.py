"""Attendance as it was: recorded by command or by the minutes' Present: line, apart from
the calendar answers, and shown in the minutes every member receives."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailflow import meetings, members
from mailflow.app import App
from mailflow.models import Meeting
from tests.conftest import Cli, CliResult, load_mail
from tests.loops import (
    JANE,
    MARY,
    RUTH,
    SAM,
    Group,
    address,
    make_group,
    outgoing,
    send,
    text_of,
)

DEV = "dev.rao@botley.hants.sch.uk"
BEN = "ben.cole@hedge-end.hants.sch.uk"
EVERYONE = (BEN, DEV, JANE, MARY, RUTH, SAM)
AFTER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MINUTES = """\
## Attendance codes

Most schools follow the LA guidance issued in October.
"""


def a_meeting_of_six(app: App, server: Any) -> Group:
    """Jane accepts the invitation, Sam answers "tentative", Dev sends apologies by reply;
    Ruth, Ben and Mary (the coordinator, who chairs) never answer."""
    group = make_group(app)
    with app.session() as session:
        for email, name in ((DEV, "Dev Rao"), (BEN, "Ben Cole")):
            group.ids[email] = members.add_member(session, email=email, name=name,
                                                  now=app.now()).id  # fmt: skip
        meeting = session.get(Meeting, group.meeting)
        assert meeting is not None
        uid = meeting.uid
    jane = address(app, "i", group.meeting, group.id(JANE))
    sam = address(app, "i", group.meeting, group.id(SAM))
    for who, to, raw in (
        (JANE, jane, load_mail("rsvp_accept.eml", reply_to=jane, uid=uid, sequence="0")),
        (SAM, sam, load_mail("rsvp_tentative.eml", reply_to=sam, uid=uid)),
    ):
        assert send(server, who, to, raw).status == "processed"
    dev = address(app, "c", group.meeting, group.id(DEV))
    assert send(server, DEV, dev, "Apologies\n\nYear 6 residential that week.",
                name="Dev Rao").status == "processed"  # fmt: skip
    app.clock = lambda: AFTER
    return group


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def shown(cli: Cli, meeting: str = "autumn") -> dict[str, Any]:
    result = cli("meetings", "show", meeting, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def minutes_to(app: App, to: str) -> EmailMessage:
    [mail] = [m for m in outgoing(app, to=to) if str(m["Subject"]).startswith("Minutes:")]
    return mail


def send_minutes(cli: Cli, tmp_path: Path, text: str, meeting: str = "autumn") -> CliResult:
    """`mailflow send-minutes` with `text` as the minutes file."""
    path = tmp_path / f"{meeting}.md"
    path.write_text(text, encoding="utf-8")
    return cli("send-minutes", meeting, "--minutes", str(path), "--force")


PRESENT = "  Present: Jane Smith, Mary Jones, Ruth Evans, Sam Patel\n"
THE_REST = "  Apologies: Dev Rao\n  Absent: Ben Cole\n"
NEVER = "Never answered the invitation (shown to coordinators only): Ben Cole"


def assert_minutes_show_who_came(app: App) -> None:
    for person in EVERYONE:
        mail = minutes_to(app, person)
        text = text_of(mail)
        assert f"ATTENDANCE\n{PRESENT}{THE_REST}" in text, text
        html = mail.get_body(("html",))
        assert html is not None
        assert "Present: Jane Smith, Mary Jones, Ruth Evans, Sam Patel" in html.get_content()
        assert (NEVER in text) == (person == MARY)


def test_attendance_command_records_who_came(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    a_meeting_of_six(app, server)
    before = shown(cli)
    assert (before["present"], before["status"]) == ([], "planned")

    result = cli("meetings", "attendance", "autumn", "--present", JANE, SAM,
                 "--present", "Ruth Evans", "--present=mary jones", "--absent", BEN)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "autumn is held: 4 present, 1 apologies, 1 absent" in result.stdout

    data = shown(cli)
    assert data["status"] == "held"
    assert data["present"] == [JANE, MARY, RUTH, SAM]
    assert (data["apologies"], data["absent"]) == ([DEV], [BEN])
    rsvps = {a["email"]: a["status"] for a in data["attendance"]}
    assert rsvps == {JANE: "accepted", SAM: "tentative", RUTH: "needs-action",
                     MARY: "needs-action", DEV: "apologies", BEN: "needs-action"}  # fmt: skip
    table = cli("meetings", "show", "autumn").stdout
    [sam_row] = [line for line in table.splitlines() if SAM in line]
    assert "tentative" in sam_row and "present" in sam_row

    sent = send_minutes(cli, tmp_path, MINUTES)
    assert sent.exit_code == 0, sent.stderr
    assert_minutes_show_who_came(app)
    assert shown(cli)["status"] == "minuted"


def test_unknown_member_is_refused_in_one_line(app: App, server: Any, cli: Cli) -> None:
    a_meeting_of_six(app, server)
    result = cli("meetings", "attendance", "autumn", "--present", JANE, "nobody@example.com")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("mailflow: 'nobody@example.com' in --present is not a member")
    assert f"Jane Smith <{JANE}>" in line and f"Ben Cole <{BEN}>" in line
    nothing = cli("meetings", "attendance", "autumn")
    assert nothing.exit_code == 1 and len(nothing.stderr.splitlines()) == 1
    assert (shown(cli)["present"], shown(cli)["status"]) == ([], "planned")


def test_present_line_in_the_minutes_records_who_came(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    a_meeting_of_six(app, server)
    minutes = (f"**Present:** Mary Jones (chair), Jane, Sam Patel and {RUTH}\n"
               "Apologies: Dev Rao\n\n" + MINUTES)  # fmt: skip
    sent = send_minutes(cli, tmp_path, minutes)
    assert sent.exit_code == 0, sent.stderr
    assert_minutes_show_who_came(app)
    text = text_of(minutes_to(app, JANE))
    assert "(chair)" not in text  # the line is shown once, as the attendance
    assert "Most schools follow the LA guidance" in text.split("MINUTES")[1]
    data = shown(cli)
    assert (data["present"], data["status"]) == ([JANE, MARY, RUTH, SAM], "minuted")


def test_unknown_name_in_present_line_sends_nothing(
    app: App, server: Any, cli: Cli, tmp_path: Path
) -> None:
    a_meeting_of_six(app, server)
    refused = send_minutes(cli, tmp_path, "Present: Jane Smith, Xavier Jones\n" + MINUTES)
    assert refused.exit_code == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("mailflow: 'Xavier Jones' in the Present: line is not a member")
    assert f"Mary Jones <{MARY}>" in line
    queued = json.loads(cli("outbox", "list", "--json").stdout)
    assert queued and not [o for o in queued if o["subject"].startswith("Minutes")]
    data = shown(cli)
    assert (data["present"], data["status"]) == ([], "planned")


def test_a_dry_run_records_nothing(app: App, server: Any, cli: Cli, tmp_path: Path) -> None:
    a_meeting_of_six(app, server)
    path = tmp_path / "autumn.md"
    path.write_text("Present: Jane Smith, Sam Patel\n\n- ACTION Jane Smith: write it up\n"
                    + MINUTES, encoding="utf-8")  # fmt: skip
    dry = cli("send-minutes", "autumn", "--minutes", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    [draft] = [p for p in (tmp_path / "data" / "dry-run").rglob(f"{MARY}.eml")]
    text = text_of(parse(draft.read_bytes()))
    assert "  Present: Jane Smith, Sam Patel\n" in text
    assert (
        "Never answered the invitation (shown to coordinators only): Ben Cole, Mary Jones" in text
    )
    data = shown(cli)
    assert (data["present"], data["status"]) == ([], "planned")
    assert json.loads(cli("actions", "list", "--json").stdout) == []
    cancelled = cli("meetings", "cancel", "spring")
    assert cancelled.exit_code == 0, cancelled.stderr
    refused = cli("meetings", "attendance", "spring", "--present", JANE)
    assert refused.stderr == "mailflow: meeting spring is cancelled; no attendance to record\n"


def test_attendance_before_the_meeting_needs_force(app: App, server: Any, cli: Cli) -> None:
    a_meeting_of_six(app, server)
    early = cli("meetings", "attendance", "spring", "--present", JANE)
    assert early.exit_code == 1
    assert early.stderr == (
        "mailflow: spring starts Thursday 18 March 2027, 16:00 GMT, so nobody has come yet; "
        "use --force to record attendance now\n"
    )
    with app.session() as session:
        assert meetings.find_meeting(session, "spring").status == "planned"
    forced = cli("meetings", "attendance", "spring", "--present", JANE, "--force")
    assert forced.exit_code == 0, forced.stderr
