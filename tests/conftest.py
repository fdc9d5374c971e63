"""Shared fixtures: a config on a real database, the CLI, and a real SMTP sink.

Set MAILFLOW_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)
to run every test on that database instead of a temporary SQLite file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from mailflow import db
from mailflow.app import App
from mailflow.models import Base, OutboxMessage

MESSAGES = Path(__file__).parent / "messages"
PG_URL = os.environ.get("MAILFLOW_TEST_DATABASE_URL", "")
# The `mailflow` command the process-level tests run: .ci/run points this at a wheel
# installed in a fresh virtual environment, so packaging faults show; by default the
# command installed beside this Python.
MAILFLOW = os.environ.get("MAILFLOW_TEST_COMMAND") or str(Path(sys.executable).parent / "mailflow")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-xdist (`-p no:xdist`) the parallel options of pyproject's addopts are
    accepted and ignored: the tests run in this process."""
    if not pluginmanager.has_plugin("xdist"):
        parser.addoption("--numprocesses", help="ignored: pytest-xdist is not in use")
        parser.addoption("--dist", help="ignored: pytest-xdist is not in use")


@pytest.fixture(autouse=True)
def alone_when_marked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A test marked `alone` runs while the other workers of a parallel run wait between
    their tests: what it measures (CPU time per call) is not inflated by their load."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    exclusive = request.node.get_closest_marker("alone") is not None
    # the workers' temporary folders share a parent of this run's own
    with open(tmp_path_factory.getbasetemp().parent / "alone.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresSchema:
    """This process's schema on the test server, migrated once, emptied for each test."""

    name: str
    url: str  # the configured URL with this schema on the search path
    admin: Engine  # the configured URL, autocommitting
    emptying: str  # the SQL that deletes every row and restarts every id sequence

    def empty(self) -> None:
        """Delete every row and restart the ids, as if the schema were new."""
        with self.admin.connect() as conn:
            conn.execute(text(self.emptying))

    def drop(self) -> None:
        """Drop the schema and everything in it, and disconnect."""
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self.admin.dispose()


def create_postgres_schema(url: str, schema: str) -> PostgresSchema:
    """(Re)create `schema` on the server at `url` and bring it to the newest migration."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    schema_url = f"{url}{separator}options=-csearch_path%3D{schema}"
    engine = db.make_engine(schema_url)
    db.upgrade(engine)
    engine.dispose()
    with admin.connect() as conn:
        tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                                  {"s": schema}))  # fmt: skip
        sequences = conn.execute(text("SELECT sequencename, start_value FROM pg_sequences "
                                      "WHERE schemaname = :s"), {"s": schema}).all()  # fmt: skip
    # children before parents, so that no foreign key stops a DELETE
    ordered = [table.name for table in reversed(Base.metadata.sorted_tables)]
    assert tables == {*ordered, "alembic_version"}, "the migrations and the models differ"
    deletes = [f'DELETE FROM "{schema}"."{name}"' for name in ordered]
    # setval, not ALTER SEQUENCE ... RESTART, which rewrites the sequence (four times slower)
    restarts = [f"setval('{schema}.{name}', {start}, false)" for name, start in sequences]
    emptying = ";\n".join([*deletes, "SELECT " + ", ".join(restarts)])
    return PostgresSchema(schema, schema_url, admin, emptying)


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[PostgresSchema]:
    """This test process's migrated schema on the configured PostgreSQL server.

    Each process (a run, or each worker of a parallel run) has a schema of its own, named
    after the process, so two of them on one server do not disturb each other.
    """
    pg = create_postgres_schema(PG_URL, f"mailflow_test_{os.getpid()}")
    yield pg
    pg.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest migration, made once, for tests to start from."""
    path = tmp_path_factory.mktemp("template") / "mailflow.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the newest migration: PostgreSQL if configured, else SQLite
    in tmp_path.

    Migrating takes far longer than a test, so it happens once per test process: on
    PostgreSQL every test starts from the process's schema with all rows deleted and the
    ids restarted, on SQLite from a copy of a migrated file (its owner-only mode kept).
    """
    if PG_URL:
        pg: PostgresSchema = request.getfixturevalue("postgres_schema")
        pg.empty()
        return pg.url
    path = tmp_path / "mailflow.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


CONFIG = """\
[group]
name = "Eastleigh DHT Group"
timezone = "Europe/London"
coordinator = "coordinator@example.org"

[mail]
address = "dht@example.org"
secret = "test-secret-not-for-production"

[database]
url = "{db_url}"

[storage]
data_dir = "data"

[inbound]
host = "127.0.0.1"
port = {inbound_port}
max_message_bytes = {max_message_bytes}

[outbound]
transport = "{transport}"
maildir = "sent-mail"
host = "127.0.0.1"
port = {smtp_port}
connections = 2
retry_base_seconds = 60

[[terms]]
name = "autumn-2026"
start = "2026-09-03"
end = "2026-12-18"
meeting = "2026-11-19 16:00"
location = "Teachers' Centre, Room 2"
"""


@dataclass
class ConfigFactory:
    """Writes mailflow.toml files into a test's folder."""

    folder: Path
    db_url: str

    def write(
        self, *, transport: str = "maildir", smtp_port: int = 25, extra: str = "",
        max_message_bytes: int = 26214400, inbound: str = "",
    ) -> Path:  # fmt: skip
        """Write the standard test config (plus `inbound` lines in its [inbound] table,
        and `extra` TOML at the end) and return its path."""
        path = self.folder / "mailflow.toml"
        text = CONFIG.format(
            db_url=self.db_url, transport=transport, smtp_port=smtp_port,
            inbound_port=free_port(), max_message_bytes=max_message_bytes,
        )  # fmt: skip
        path.write_text(text.replace("[inbound]\n", f"[inbound]\n{inbound}") + extra,
                        encoding="utf-8")  # fmt: skip
        return path


@pytest.fixture
def configs(tmp_path: Path, db_url: str) -> ConfigFactory:
    """A factory for config files on the test's database."""
    return ConfigFactory(tmp_path, db_url)


@pytest.fixture
def config_file(configs: ConfigFactory) -> Path:
    """The standard test config (maildir transport)."""
    return configs.write()


@pytest.fixture
def app(config_file: Path) -> Iterator[App]:
    """An App on the test config with the schema created."""
    app_ = App.open(config_file)
    yield app_
    app_.close()


@dataclass
class CliResult:
    """What one CLI invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


Cli = Callable[..., CliResult]


def ok(result: CliResult) -> CliResult:
    """`result`, after checking the command succeeded (its stderr shown if not)."""
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def cli(config_file: Path) -> Cli:
    """Run `mailflow --config <test config> ARGS...` in-process."""

    from mailflow.cli import app as cli_app

    def run(*args: str, config: Path | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli_app, ["--config", str(config or config_file), *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@dataclass
class Envelope:
    """One message a sink received."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SinkHandler:
    """An aiosmtpd handler that records messages and can answer scripted codes."""

    received: list[Envelope] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # answers to use for the next DATAs
    by_recipient: dict[str, list[str]] = field(default_factory=dict)  # the same, per address
    lock: threading.Lock = field(default_factory=threading.Lock)
    peers: set[Any] = field(default_factory=set)  # the client ends of the sessions seen

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.peers.add(session.peer)
            scripted = self.by_recipient.get(envelope.rcpt_tos[0], self.replies)
            if scripted:
                reply = scripted.pop(0)
                if not reply.startswith("250"):
                    return reply
            self.received.append(
                Envelope(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 OK"


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1 that captures what it receives."""

    port: int
    handler: SinkHandler

    @property
    def received(self) -> list[Envelope]:
        """Messages received so far."""
        return self.handler.received


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """Start a capturing aiosmtpd server for the test."""
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(controller.port, handler)
    finally:
        controller.stop()


def load_eml(name: str) -> bytes:
    """The bytes of tests/messages/<name>."""
    return (MESSAGES / name).read_bytes()


MAIL = Path(__file__).parent / "mail"


def load_mail(name: str, **values: str) -> bytes:
    """tests/mail/<name> with {placeholders} filled in (reply addresses, UIDs)."""
    text = (MAIL / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


@pytest.fixture
def server(app: App) -> Iterator[Any]:
    """A running inbound server (SMTP) on a free local port."""
    from mailflow.server import InboundServer

    srv = InboundServer(app, port=free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@contextmanager
def running_server(config: Path) -> Iterator[tuple[App, Any]]:
    """An App on `config` with its inbound server running on a free local port."""
    from mailflow.server import InboundServer

    app_ = App.open(config)
    srv = InboundServer(app_, port=free_port())
    srv.start()
    try:
        yield app_, srv
    finally:
        srv.stop()
        app_.close()


AUTHSERV = "mx.example.org"


@pytest.fixture
def strict(configs: ConfigFactory) -> Iterator[tuple[App, Any]]:
    """A running installation that trusts Authentication-Results from mx.example.org only."""
    with running_server(configs.write(inbound=f'trusted_authserv_id = "{AUTHSERV}"\n')) as pair:
        yield pair


def queue_small_mails(app: App, total: int) -> None:
    """Queue `total` small messages, one per recipient, straight into the outbox table."""
    now = app.now()
    with app.session() as session:
        for n in range(total):
            raw = (
                f"From: Eastleigh DHT Group <dht@example.org>\r\nTo: r{n}@members.example\r\n"
                f"Subject: Notice {n}\r\nMessage-ID: <scale-{n}@example.org>\r\n"
                f"Auto-Submitted: auto-generated\r\n\r\nNotice {n}\r\n"
            ).encode()
            session.add(OutboxMessage(recipient=f"r{n}@members.example", subject=f"Notice {n}",
                                      message_id=f"<scale-{n}@example.org>", raw=raw,
                                      status="queued", attempts=0, next_attempt_at=now,
                                      created_at=now))  # fmt: skip
