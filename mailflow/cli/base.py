"""The root typer app, the shared `--config` option and the one-line error handling."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from mailflow.app import App
from mailflow.errors import MailflowError

# Piped or redirected output is not cut to 80 columns: a table of addresses and times
# written to a file or read by a script keeps every value on its line.
PIPED_WIDTH = 250
console = Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err_console = Console(stderr=True, highlight=False)


def new_table(*headers: str) -> Table:
    """A table that never cuts a value short (an address, a time): in a narrow terminal
    words wrap and long ones fold onto the next line."""
    grid = Table()
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid


class MailflowGroup(TyperGroup):
    """Turns errors raised by any command into one line on stderr and exit code 1.

    `--config PATH` is accepted anywhere on the line (`mailflow members list --config
    x.toml` as well as `mailflow --config x.toml members list`).
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if ctx.parent is None:
            args = _hoist_config(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException):
            raise
        except MailflowError as exc:
            _fail(str(exc))
        except SQLAlchemyError as exc:
            _fail(
                f"database error: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}"
            )
        except KeyboardInterrupt:
            _fail("interrupted")
        except Exception as exc:
            if os.environ.get("MAILFLOW_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])


def _hoist_config(args: list[str]) -> list[str]:
    """Move `--config X` / `--config=X` to the front, where the root option is parsed."""
    rest: list[str] = []
    front: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--config" and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _fail(message: str) -> None:
    sys.stderr.write(f"mailflow: {message}\n")
    raise SystemExit(1)


app = typer.Typer(
    cls=MailflowGroup,
    help="Run a small group's meetings through email.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Config file (default: $MAILFLOW_CONFIG or ./mailflow.toml)."
    ),
) -> None:
    """Run a small group's meetings through email."""
    ctx.obj = {"config": config}


def open_app(ctx: typer.Context) -> App:
    """The app for the config chosen on the command line; closed when the command ends."""
    root = ctx.find_root()
    cached = root.meta.get("mailflow.app")
    if isinstance(cached, App):
        return cached
    app_ = App.open((root.obj or {}).get("config"))
    root.meta["mailflow.app"] = app_
    root.call_on_close(app_.close)
    return app_


def config_path(ctx: typer.Context) -> Path | None:
    """The `--config` value given on the command line, if any."""
    value = (ctx.find_root().obj or {}).get("config")
    return Path(value) if value else None


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
