"""Score parse_reply on the message corpus: the share of messages parsed exactly right.

`tests/test_corpus.py` runs the same check on every message.

Each ``tests/messages/**/NAME.eml`` has ``NAME.json`` beside it with the expected
``automatic``, ``items`` and attachment names/types (plus, when present, ``withdraw``,
``apologies``, ``rsvp`` and the commands: ``votes``, ``volunteers``, ``done``, ``themes``,
``leave``). Run ``python bench/corpus_score.py [FOLDER...]``; with no
folder it scores the main corpus and each hold-out set (``holdout/``, ``holdout2/``)
separately.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mailflow.replies import parse_reply

MESSAGES = Path(__file__).resolve().parent.parent / "tests" / "messages"
OPTIONAL_KEYS = ("withdraw", "apologies", "rsvp", "votes", "volunteers", "done", "themes", "leave")
HOLDOUTS = ("holdout", *(f"holdout{n}" for n in range(2, 13)))
SHAPES = "shapes"  # one message for each reply shape a reading rule was made for
# Messages we know we read wrongly, with why; the corpus test expects them to fail.
KNOWN_MISSES = {
    "holdout10/gmail_q_with_pasted_chart_screenshot_inline": (
        "an image pasted into the member's own text is taken for decoration, like a logo"
    ),
    "holdout10/outlook_desktop_q_pasted_screenshot_mid_text_and_sig_logo": (
        "an image pasted into the member's own text is taken for decoration, like a logo"
    ),
    "holdout10/outlook2010_navy_font_question_no_marker_signature": (
        "a first line that is only the coordinator's first name is taken for the title"
    ),
    "holdout12/apple_mail_could_i_have_ten_minutes_walkie_talkies": (
        "a request for ten minutes that ends in a question mark is recorded as a question"
    ),
}


def expected_of(eml: Path) -> dict[str, object]:
    """The expected result stored beside `eml`."""
    data: dict[str, object] = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    return data


def comparable(result: dict[str, object], expected: dict[str, object]) -> dict[str, object]:
    """The parts of a parse_reply result that the corpus pins down."""
    attachments = result.get("attachments")
    assert isinstance(attachments, list)
    got: dict[str, object] = {
        "automatic": result.get("automatic"),
        "items": result.get("items"),
        "attachments": [
            {"filename": a["filename"], "content_type": a["content_type"]} for a in attachments
        ],
    }
    for key in OPTIONAL_KEYS:
        if key in expected:
            got[key] = result.get(key)
    return got


def check(eml: Path) -> tuple[bool, dict[str, object], dict[str, object]]:
    """(matches, got, expected) for one message."""
    expected = expected_of(eml)
    got = comparable(parse_reply(eml.read_bytes()), expected)
    return got == expected, got, expected


def score(folder: Path, label: str) -> tuple[int, int]:
    """Print the score for the .eml files directly in `folder`; return (right, total)."""
    files = sorted(folder.glob("*.eml"))
    wrong: list[tuple[Path, dict[str, object], dict[str, object]]] = []
    for eml in files:
        ok, got, expected = check(eml)
        if not ok:
            wrong.append((eml, got, expected))
    right = len(files) - len(wrong)
    share = 100.0 * right / len(files) if files else 0.0
    print(f"{label}: {len(files)} messages, {right} exactly right ({share:.1f}%)")
    for eml, got, expected in wrong:
        print(f"  MISMATCH {eml.name}")
        for key in expected:
            if got.get(key) != expected[key]:
                print(f"    {key}:\n      expected {json.dumps(expected[key], ensure_ascii=False)}")
                print(f"      got      {json.dumps(got.get(key), ensure_ascii=False)}")
    return right, len(files)


def main(argv: list[str]) -> int:
    """Score the given folders, or the main corpus and each hold-out set."""
    if argv:
        for name in argv:
            score(Path(name), name)
        return 0
    score(MESSAGES, "corpus")
    score(MESSAGES / SHAPES, SHAPES)
    for held in HOLDOUTS:
        if (MESSAGES / held).is_dir():
            score(MESSAGES / held, held)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
