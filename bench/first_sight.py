"""First-sight scores of the hold-out sets, beside the scores now.

A hold-out set is written without looking at the parser, so how the parser read it on the
day the set was added is the honest estimate for mail it has never seen. For each
``tests/messages/holdout*/`` this finds the commit that added the set, checks that commit
out in a temporary ``git worktree``, and scores the set as it was written there with this
checkout's ``bench/corpus_score.py``, importing ``mailflow`` from the worktree
(``PYTHONPATH``). It prints one row per set: messages, first-sight score (and the
commit), and the score with the code here now.

Run ``python bench/first_sight.py``; with ``MAILFLOW_BENCH_SHORT=1`` (CI) it scores only
the last two sets. It needs the full git history: without it (no repository, or a shallow
clone) it says so in one line and exits 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "tests" / "messages"
SCORER = ROOT / "bench" / "corpus_score.py"
SUMMARY = re.compile(r": (\d+) messages, (\d+) exactly right")
SHORT = bool(os.environ.get("MAILFLOW_BENCH_SHORT"))

Score = tuple[int, int]  # (right, total)


def git(*args: str) -> str:
    """The output of a git command run in this checkout; raises CalledProcessError."""
    run = subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    )
    return run.stdout.strip()


def history_available() -> bool:
    """Whether this checkout is a git repository with its full history."""
    try:
        return git("rev-parse", "--is-shallow-repository") == "false"
    except (OSError, subprocess.CalledProcessError):
        return False


def holdout_sets() -> list[Path]:
    """The hold-out folders in the order they were written (holdout, holdout2, ...)."""

    def number(folder: Path) -> int:
        suffix = folder.name.removeprefix("holdout")
        return int(suffix) if suffix.isdigit() else 1

    return sorted((p for p in MESSAGES.glob("holdout*") if p.is_dir()), key=number)


def added_by(folder: Path) -> str | None:
    """The commit that first added files to `folder`, or None if it was never committed."""
    out = git("log", "--diff-filter=A", "--format=%H", "--", str(folder.relative_to(ROOT)))
    return out.splitlines()[-1] if out else None


def score(folder: Path, code: Path) -> Score | None:
    """Score the messages in `folder` with the parser imported from `code`; None on failure."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    run = subprocess.run(
        [sys.executable, str(SCORER), str(folder)],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = SUMMARY.search(run.stdout)
    if run.returncode or not found:
        return None
    return int(found[2]), int(found[1])


def first_sight(folder: Path, commit: str) -> Score | None:
    """Score `folder` as it was at `commit`, read by the parser as it was then."""
    with tempfile.TemporaryDirectory(prefix="mailflow-first-sight-") as tmp:
        tree = Path(tmp) / "tree"
        try:
            git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        except subprocess.CalledProcessError:
            return None
        try:
            return score(tree / folder.relative_to(ROOT), tree)
        finally:
            git("worktree", "remove", "--force", str(tree))


def shown(result: Score | None) -> str:
    """A score as "right/total (share%)", or "n/a"."""
    if result is None:
        return "n/a"
    right, total = result
    share = 100.0 * right / total if total else 0.0
    return f"{right}/{total} ({share:.1f}%)"


def main() -> int:
    """Print the table of first-sight and current scores."""
    if not history_available():
        print("first_sight: no full git history here (no repository or a shallow clone); skipped")
        return 0
    sets = holdout_sets()
    if SHORT:
        sets = sets[-2:]
    print(f"{'set':<10} {'messages':>8}  {'first sight':<30} {'now':<16}")
    for folder in sets:
        commit = added_by(folder)
        then = first_sight(folder, commit) if commit else None
        at = f" at {commit[:7]}" if commit else " (not committed)"
        now = score(folder, ROOT)
        messages = len(list(folder.glob("*.eml")))
        print(f"{folder.name:<10} {messages:>8}  {shown(then) + at:<30} {shown(now):<16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
