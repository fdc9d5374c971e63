"""`mailflow inbox parse`: what a reply would record, without storing anything."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, load_mail


def write_mail(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(load_mail(name, reply_to="dht+c1-2-abcdefghijklmnop@example.org"))
    return path


def test_parse_json_has_the_contract_keys(tmp_path: Path, cli: Cli) -> None:
    result = cli("inbox", "parse", str(write_mail(tmp_path, "gmail_question.eml")), "--json")
    assert result.exit_code == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert {"automatic", "body", "items", "attachments"} <= parsed.keys()
    assert parsed["automatic"] is None
    assert [(i["kind"], i["title"], i["minutes"]) for i in parsed["items"]] == [
        ("question", "How are other schools handling the new attendance codes?", 10),
        ("agenda", "Moderation of Year 6 writing", None),
    ]
    assert "wrote:" not in parsed["body"]


def test_votes_and_volunteers_are_commands_not_items(tmp_path: Path, cli: Cli) -> None:
    result = cli("inbox", "parse", str(write_mail(tmp_path, "apple_votes.eml")), "--json")
    parsed = json.loads(result.stdout)
    assert parsed["votes"] == [
        {"item": 3, "value": 1}, {"item": 7, "value": 1}, {"item": 4, "value": -1}
    ]  # fmt: skip
    assert parsed["volunteers"] == [5]
    assert [(i["kind"], i["title"]) for i in parsed["items"]] == [
        ("question", "Is anyone else piloting the new phonics assessment?")
    ]
    text = cli("inbox", "parse", str(tmp_path / "apple_votes.eml")).stdout
    assert "vote: +1 on #3" in text and "volunteers to answer #5" in text


def test_automatic_mail_records_nothing(tmp_path: Path, cli: Cli) -> None:
    parsed = json.loads(cli("inbox", "parse", str(write_mail(tmp_path, "vacation.eml")),
                            "--json").stdout)  # fmt: skip
    assert parsed["automatic"] and parsed["items"] == [] and parsed["votes"] == []


def test_a_missing_file_is_one_line(tmp_path: Path, cli: Cli) -> None:
    result = cli("inbox", "parse", str(tmp_path / "nope.eml"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "nope.eml" in result.stderr
