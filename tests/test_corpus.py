"""Every message in tests/messages (and the hold-out sets) parses to its expected result.

Each NAME.eml has NAME.json beside it, written as a coordinator would want the message
recorded: ``automatic``, ``items`` (compared exactly) and the attachments' filenames and
types; ``withdraw``, ``apologies`` and ``rsvp`` are compared when present.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.corpus_score import HOLDOUTS, KNOWN_MISSES, MESSAGES, SHAPES, check
from mailflow.replies import parse_reply

CORPUS = [
    eml for folder in ("", SHAPES, *HOLDOUTS) for eml in sorted((MESSAGES / folder).glob("*.eml"))
]


def test_corpus_is_large_enough() -> None:
    assert len(list(MESSAGES.glob("*.eml"))) >= 70
    assert len(list((MESSAGES / "holdout2").glob("*.eml"))) >= 40
    for eml in CORPUS:
        assert eml.with_suffix(".json").exists(), f"{eml.name} has no expected .json"


def _known(eml: Path) -> object:
    reason = KNOWN_MISSES.get(f"{eml.parent.name}/{eml.stem}")
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(eml, marks=marks, id=f"{eml.parent.name}/{eml.stem}")


@pytest.mark.parametrize("eml", [_known(eml) for eml in CORPUS])
def test_message_parses_as_expected(eml: Path) -> None:
    _, got, expected = check(eml)
    assert got == expected


@pytest.mark.parametrize("eml", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_result_has_the_contract_shape(eml: Path) -> None:
    result = parse_reply(eml.read_bytes())
    assert {"automatic", "body", "items", "attachments"} <= set(result)
    assert isinstance(result["body"], str)
    json.dumps(result)  # the CLI prints it as JSON
    attachments = result["attachments"]
    assert isinstance(attachments, list)
    for att in attachments:
        assert set(att) == {"filename", "content_type", "size", "sha256"}
    if result["automatic"] is not None:
        assert result["items"] == []
