"""`mailflow init`: write a config file with a random secret and create the database.

The config file (it holds the secret), a new SQLite database and the data folder are
created readable by the owner only, and `init` says what mode each one has.
"""

from __future__ import annotations

import re
import secrets
from importlib import resources
from pathlib import Path

import typer

from mailflow import config, db, files
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
        files.private_dir(path.parent)
        files.write_private(path, example_config(secrets.token_urlsafe(32)).encode("utf-8"))
        console.print(f"wrote {path}")
    console.print(f"  {path.name}: {files.describe_mode(path)}")
    settings = config.load(path)
    app_ = App.from_settings(settings)
    try:
        app_.upgrade()
        console.print(f"database ready at revision {db.current_revision(app_.engine)}")
        database = app_.engine.url.database
        if app_.engine.dialect.name == "sqlite" and database:
            console.print(f"  {database}: {files.describe_mode(Path(database))}")
    finally:
        app_.close()
    console.print(f"data folder: {Path(settings.data_dir)}")
    console.print(f"  {files.describe_mode(settings.data_dir)}")
