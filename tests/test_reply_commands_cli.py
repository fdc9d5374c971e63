"""`mailflow inbox parse` reports the commands a reply carries: closed actions and themes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli

MESSAGES = Path(__file__).parent / "messages"


def test_done_and_themes_are_reported_and_never_items(cli: Cli) -> None:
    eml = MESSAGES / "gmail_done_actions_and_theme.eml"
    parsed = json.loads(cli("inbox", "parse", str(eml), "--json").stdout)
    assert parsed["done"] == [2, 5, 7]
    assert parsed["themes"] == ["Workload and wellbeing"]
    assert parsed["items"] == []
    text = cli("inbox", "parse", str(eml)).stdout
    assert "action #2 done" in text and "theme proposed: Workload and wellbeing" in text
