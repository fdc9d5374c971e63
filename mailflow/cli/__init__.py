"""The `mailflow` command: a typer app whose groups live in the modules beside this one.

This package is the only place that prints. Every `MailflowError` (and anything
unexpected) becomes one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

from mailflow.cli import (  # noqa: F401 (registers commands)
    actions,
    demo,
    held,
    inbox,
    items,
    loops,
    meetings,
    members,
    minutes,
    outbox,
    planning,
    polls,
    privacy,
    serve,
    setup,
)
from mailflow.cli.base import app

__all__ = ["app"]
