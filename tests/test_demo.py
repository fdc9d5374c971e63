"""`mailflow demo` plays a whole term to the end in a temporary folder."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from mailflow import demo


def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    # The demo always plays on its own embedded SQLite database, whatever the suite uses.
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
    assert sum(s.startswith("Call for items: Autumn") for s in subjects) == 6
    assert sum(s.startswith("Call for items: Spring") for s in subjects) == 6
    assert sum(s.startswith("Invitation") for s in subjects) == 6
    assert sum(s.startswith("Minutes:") for s in subjects) == 6
    assert "7. Minutes from minutes.md: 6 copies" in text
    # who came: a tentative member and one who never answered, both present
    assert "   present: Jane Smith, Mark Jones, Priya Shah, Ruth Evans, Tom Hughes (" in text
    assert "   apologies: Sam Patel" in text
    # an action carried into the next call for items, closed by its owner's reply
    assert ">>   2. ask the LA about the MIS update timetable, from Autumn DHT meeting" in text
    assert "the acknowledgement says: Note: Action 2 marked done" in text
    # a written answer after the minutes reaches everyone; what was not reached carries over
    assert sum(s.startswith("Answers since Autumn DHT meeting") for s in subjects) == 6
    assert "#6 question: Is anyone else trialling the new phonics scheme" in text
    assert "(Tom Hughes) - carried over" in text
