"""`mailflow init`: write a config file with a random secret and create the database."""

from __future__ import annotations

import re
import secrets
from importlib import resources
from pathlib import Path

import typer

from mailflow import config, db
from mailflow.app import App
from mailflow.cli.base import app, config_path, console
from mailflow.errors import UserError


def example_config(secret: str) -> str:
    """The documented example config with `secret` filled in."""
    text = (resources.files("mailflow.templates") / "config.example.toml").read_text("utf-8")
    return re.sub(r'^secret = ""', f'secret = "{secret}"', text, count=1, flags=re.M)


@app.command()
def init(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config file."),
) -> None:
    """Create mailflow.toml (with a random secret) and the database; safe to re-run."""
    path = config.resolve_path(config_path(ctx))
    if path.exists() and not force:
        console.print(f"{path} exists; keeping it (use --force to write a new one)")
    else:
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a config file")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example_config(secrets.token_urlsafe(32)), encoding="utf-8")
        console.print(f"wrote {path}")
    settings = config.load(path)
    app_ = App.from_settings(settings)
    try:
        app_.upgrade()
        console.print(f"database ready at revision {db.current_revision(app_.engine)}")
    finally:
        app_.close()
    console.print(f"data folder: {Path(settings.data_dir)}")
