"""The running application: settings plus the database they point at.

`App.open` is what every CLI command starts from; tests build one from a temporary
config. There are no module-level singletons: the app is passed to whoever needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow import config, db, files
from mailflow.config import Settings


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class App:
    """Settings, engine and session factory of one mailflow installation."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = field(default=utc_now)
    # SQLite lets one writer in at a time and makes the others sleep and retry; threads
    # of one process take turns on this lock instead (PostgreSQL needs no such lock).
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> App:
        """Connect to the configured database (the schema must already exist)."""
        engine = db.make_engine(settings.database_url)
        sessions = db.make_sessionmaker(engine)
        # a session knows the settings, so that a series' date can be found by its ref
        # (`meetings.find_meeting`) wherever a meeting is looked up
        sessions.configure(info={"settings": settings})
        return cls(settings=settings, engine=engine, sessions=sessions)

    @classmethod
    def open(cls, config_path: str | Path | None = None) -> App:
        """Load the config file and connect; creates or upgrades the schema if needed."""
        app = cls.from_settings(config.load(config_path))
        app.upgrade()
        return app

    def upgrade(self) -> None:
        """Create the schema or bring it to the newest migration; a new data folder is
        created owner-only (0700)."""
        files.private_dir(self.settings.data_dir)
        db.upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends without error."""
        with db.session_scope(self.sessions) as session:
            yield session

    @contextmanager
    def write_guard(self) -> Iterator[None]:
        """This process's turn to write on SQLite (nothing on PostgreSQL), for short
        writes on a session or connection that is open for longer (the outbox's claims
        and delivery outcomes)."""
        if self.engine.dialect.name != "sqlite":
            yield
            return
        with self.write_lock:
            yield

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session for a write, serialised within this process on SQLite."""
        with self.write_guard(), self.session() as session:
            yield session

    def now(self) -> datetime:
        """The current time from the app's clock (tests may replace the clock)."""
        return self.clock()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
