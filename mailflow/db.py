"""Database access: engine and session factory, and schema creation/upgrade via Alembic.

The caller owns the session's lifecycle (`session_scope` commits or rolls back); the
functions that use a session never commit on their own unless they say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from mailflow import files
from mailflow.errors import ConfigError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the server write while the CLI reads; busy_timeout waits out short locks.
    # synchronous=FULL fsyncs the WAL at every commit: the server answers 250 only after
    # committing, and in WAL mode NORMAL may lose a committed transaction to a power cut
    # (bench/bench_durability.py measures the cost). Only `relaxed_connection` lowers it,
    # for the one connection it hands out.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, synchronous=FULL, a busy timeout and
    foreign keys, and a new database file is created owner-only (0600)."""
    try:
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except Exception as exc:  # bad URL, missing driver
        raise ConfigError(f"database.url: cannot use {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        _private_sqlite_file(engine.url.database)
    return engine


@contextmanager
def relaxed_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of `engine` whose commits survive a crash of this process but need
    not survive a power cut: on SQLite, `synchronous=NORMAL` while it is held (FULL again
    before it goes back to the pool; a connection that cannot be set back is discarded).
    PostgreSQL connections are left as they are.

    For writes that may be lost to a power cut without losing anything else: the outbox's
    claims and delivery outcomes. In WAL mode a NORMAL commit is in the log (the OS's page cache) at
    once, so a killed process loses none of it; a power cut may roll back the last few,
    and a mail whose "sent" is lost is sent again: the same at-least-once as a crash
    between a relay's 250 and the mark. A later FULL commit of any connection syncs the
    log with everything before it. Storing inbound mail and queueing outgoing mail must
    never use it.
    """
    relax = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        try:
            if relax:
                _synchronous(conn, "NORMAL")
            yield conn
        finally:
            if relax and not conn.invalidated:
                _restore_full(conn)


def _restore_full(conn: Connection) -> None:
    try:
        if conn.in_transaction():
            conn.rollback()
        _synchronous(conn, "FULL")
    except Exception:  # never back into the pool with NORMAL
        conn.invalidate()
        raise


def _synchronous(conn: Connection, setting: str) -> None:
    conn.exec_driver_sql(f"PRAGMA synchronous={setting}")
    conn.commit()


def _private_sqlite_file(database: str | None) -> None:
    """Create a new SQLite file owner-only before SQLite creates it with the umask's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir():
        files.create_private(path)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit if the block succeeds, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("mailflow") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the schema or bring it up to the newest migration, or to `revision`
    (idempotent)."""
    command.upgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
