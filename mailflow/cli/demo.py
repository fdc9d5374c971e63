"""`mailflow demo`: the whole term's workflow end to end on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from mailflow import demo as demo_
from mailflow import demo_weekly
from mailflow.cli.base import app, console


@app.command()
def demo(
    folder: Path = typer.Option(Path("mailflow-demo"), "--dir", help="Folder to play the term in."),
    weekly: bool = typer.Option(
        False, "--weekly", help="Play three weeks of a weekly chat (theme polls) instead."
    ),
) -> None:
    """Play a whole term: members, call for items, replies, agenda, invites, RSVPs, minutes."""
    play = demo_weekly.run if weekly else demo_.run
    maildir = play(folder.resolve(), lambda line: console.print(line, markup=False, soft_wrap=True))
    console.print(f"\nDone. Every mail mailflow sent is in {maildir}")
