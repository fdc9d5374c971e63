"""The coordinator's slips refused in one line, `--force` to go ahead, `--dry-run` to look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.app import App
from mailflow.models import Mailing, OutboxMessage
from tests.conftest import Cli, CliResult, ok

MEMBERS = [
    ("jane.smith@hamble.hants.sch.uk", "Jane Smith"),
    ("sam.patel@westend.hants.sch.uk", "Sam Patel"),
    ("ruth.evans@bursledon.hants.sch.uk", "Ruth Evans"),
]


def queued(app: App) -> tuple[int, int]:
    """How many outbox rows and mailings exist."""
    with app.session() as session:
        rows = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        mailings = session.scalar(select(func.count()).select_from(Mailing)) or 0
        return rows, mailings


def refused(result: CliResult, *words: str) -> None:
    """One line on stderr naming --force, exit 1, nothing on stdout."""
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def _local(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d 16:00")


@pytest.fixture
def people(cli: Cli) -> None:
    for address, name in MEMBERS:
        ok(cli("members", "add", address, "--name", name, "--quiet"))


def test_each_guard_refuses_in_one_line_and_queues_nothing(
    cli: Cli, app: App, people: None, tmp_path: Path
) -> None:
    ok(cli("meetings", "add", "--title", "Past meeting", "--start", _local(-3), "--force"))
    ok(cli("meetings", "add", "--title", "Future meeting", "--start", _local(60)))
    past, future = "1", "2"
    minutes = tmp_path / "minutes.md"
    minutes.write_text("# Minutes\n\nWe met.\n", encoding="utf-8")

    refused(cli("call-for-items", past), "deadline", "has passed")
    refused(cli("send-invites", future), "until")
    refused(cli("send-minutes", future, "--minutes", str(minutes)), "has not happened yet")
    assert queued(app) == (0, 0)
    assert list(app.settings.maildir.glob("*.eml")) == []

    ok(cli("call-for-items", past, "--force"))
    ok(cli("send-invites", future, "--force"))
    ok(cli("send-minutes", future, "--minutes", str(minutes), "--force"))
    # a call, an invite and the minutes for each of the three members
    assert len(list(app.settings.maildir.glob("*.eml"))) == 9


def test_dry_runs_list_recipients_and_queue_nothing(cli: Cli, app: App, people: None) -> None:
    ok(cli("meetings", "add", "--title", "Spring meeting", "--start", _local(30)))
    call = ok(cli("call-for-items", "1", "--dry-run"))
    for address, _ in MEMBERS:
        assert address in call.stdout
    assert "Call for items: Spring meeting" in call.stdout
    assert "would go to 3 recipient(s)" in call.stdout
    invites = ok(cli("send-invites", "1", "--dry-run"))  # before the deadline: only a look
    assert "Invitation: Spring meeting" in invites.stdout
    assert "would go to 3 recipient(s)" in invites.stdout
    assert queued(app) == (0, 0)
    listed = ok(cli("items", "list", "1", "--json")).stdout
    assert '"scheduled"' not in listed  # the agenda was not fixed

    ok(cli("call-for-items", "1"))
    again = ok(cli("call-for-items", "1", "--dry-run"))
    assert "would go to 0 recipient(s)" in again.stdout  # everyone has theirs already


def test_tick_sends_on_its_schedule_without_force(app: App, cli: Cli, people: None) -> None:
    from mailflow import tick

    ok(cli("meetings", "add", "--title", "Spring meeting", "--start", "2027-03-18 16:00"))
    for when, expected in ((datetime(2027, 2, 26, 9, tzinfo=UTC), "call for items"),
                           (datetime(2027, 3, 11, 17, tzinfo=UTC), "invites")):  # fmt: skip
        app.clock = lambda moment=when: moment  # type: ignore[misc]
        done = tick.run(app)
        assert any(expected in line for line in done), done
