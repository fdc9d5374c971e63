"""Owner-only files: what mailflow writes to disk holds members' mail or secrets.

The config (with the signing secret), the SQLite database, the data folder, stored
attachments, sent mail in the maildir folder and exports are created readable by the
owner only (files 0600, folders 0700), whatever the umask. Existing files and folders
keep the mode they have: `describe_mode` says what it is.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as owner-only folders; returns `path`."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def open_private(path: Path) -> BinaryIO:
    """Open `path` for writing, created with mode 0600 (or truncated if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, created with mode 0600."""
    with open_private(path) as fh:
        fh.write(data)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (SQLite then keeps that mode,
    and gives its -wal and -shm files the same)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def describe_mode(path: Path) -> str:
    """Whether only the owner can read `path`, or else its mode and how to change it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 == 0:
        return "readable by the owner only"
    private = PRIVATE_DIR if path.is_dir() else PRIVATE_FILE
    return f"mode {mode:04o}: others can read it; `chmod {private:o} {path}` to keep it private"
