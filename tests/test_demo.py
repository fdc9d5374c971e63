"""`mailflow demo` plays a whole term to the end in a temporary folder."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from mailflow import demo


@pytest.mark.skipif(
    bool(__import__("os").environ.get("MAILFLOW_TEST_DATABASE_URL")),
    reason="the demo always runs on its own embedded SQLite database",
)
def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    lines: list[str] = []
    maildir = demo.run(tmp_path / "demo", lines.append)
    text = "\n".join(lines)
    assert "every reply was acknowledged (5 acknowledgements)" in text
    assert "Sam Patel: declined" in text
    assert "all accounted for: processed" in text
    files = sorted(maildir.glob("*.eml"))
    subjects = [
        str(email.message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"])
        for f in files
    ]
    assert sum(s.startswith("Call for items") for s in subjects) == 6
    assert sum(s.startswith("Invitation") for s in subjects) == 6
    assert sum(s.startswith("Minutes:") for s in subjects) == 6
    assert "7. Minutes from minutes.md: 6 copies" in text
