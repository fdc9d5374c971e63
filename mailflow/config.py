"""Settings: `mailflow.toml` read with tomllib into frozen, validated dataclasses.

Every problem is reported as a `ConfigError` whose message names the key, e.g.
``mail.secret: missing``. Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailflow.errors import ConfigError

CONFIG_ENV = "MAILFLOW_CONFIG"
DEFAULT_CONFIG_NAME = "mailflow.toml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class GroupConfig:
    """Who the group is and the time zone every time is shown in."""

    name: str = "Mailflow Group"
    timezone: str = "Europe/London"
    coordinator: str = ""
    quorum: int = 0
    greeting: str = "first name"  # how mail greets a member: "first name" or "full name"

    @property
    def tz(self) -> ZoneInfo:
        """The group's time zone as a `ZoneInfo`."""
        return ZoneInfo(self.timezone)

    def greet(self, name: str) -> str:
        """How mail addresses a member: "Jane" (or "Dr Evans" for "Dr Ruth Evans"), or the
        full name when `greeting` says so."""
        words = name.split()
        if self.greeting == "full name" or not words:
            return name
        if words[0].rstrip(".").lower() in TITLES and len(words) > 1:
            return f"{words[0]} {words[-1]}"
        return words[0]


# titles greeted with the surname ("Dear Dr Evans")
TITLES = ("dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "rev", "sir", "dame")


@dataclass(frozen=True)
class MailConfig:
    """The group's address and the key that signs reply addresses."""

    address: str = "group@example.org"
    secret: str = ""

    @property
    def local_part(self) -> str:
        """The part of the group address before the ``@``."""
        return self.address.rsplit("@", 1)[0]

    @property
    def domain(self) -> str:
        """The group address's domain, lower-cased."""
        return self.address.rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the data lives: any SQLAlchemy URL."""

    url: str = "sqlite:///mailflow.db"


@dataclass(frozen=True)
class StorageConfig:
    """Files we keep on disk (attachments) and the limits on what we accept."""

    data_dir: str = "data"
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments_per_message: int = 20


@dataclass(frozen=True)
class InboundConfig:
    """The inbound SMTP/LMTP server."""

    host: str = "127.0.0.1"
    port: int = 8025
    protocol: str = "smtp"
    max_message_bytes: int = 26214400
    tls_cert: str = ""
    tls_key: str = ""
    require_starttls: bool = False
    rate_limit_per_minute: int = 20
    trusted_authserv_id: str = ""
    stranger_max_message_bytes: int = 5242880
    max_bytes_in_flight: int = 67108864
    max_connections: int = 50
    idle_timeout_seconds: int = 300
    connection_time_limit_seconds: int = 600
    processing_budget_seconds: float = 20.0
    retry_seconds: int = 30
    max_start_attempts: int = 3


@dataclass(frozen=True)
class OutboundConfig:
    """How outgoing mail leaves: a maildir folder or an SMTP relay."""

    transport: str = "maildir"
    maildir: str = "sent-mail"
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password_env: str = "MAILFLOW_SMTP_PASSWORD"
    connections: int = 4
    max_attempts: int = 8
    retry_base_seconds: int = 60
    deliver_interval_seconds: int = 5

    def password(self) -> str:
        """The relay password, read from the environment variable named by `password_env`."""
        return os.environ.get(self.password_env, "")


@dataclass(frozen=True)
class ScheduleConfig:
    """When mail goes out relative to a meeting, and how long things take."""

    call_for_items_days: int = 21
    reminder_days: int = 7
    invite_days: int = 7
    meeting_length_minutes: int = 90
    default_item_minutes: int = 10
    question_minutes: int = 5
    standing_items: tuple[str, ...] = (
        "Welcome and apologies",
        "Matters arising from the last minutes",
        "Any other business",
    )
    standing_item_minutes: int = 5
    reminder_alarm_minutes: int = 60
    digest_weekday: str = "friday"
    agenda_draft_days: int = 2
    quorum_warning_days: int = 2


@dataclass(frozen=True)
class SeriesConfig:
    """A recurring series (the weekly chat): its occurrence records and its weekly rhythm.

    The hours count back from each occurrence's start (`summary_hours_after` on from its
    end); `tick` does each step once it is due, for the next occurrence of every series.
    """

    lookahead_weeks: int = 8
    list_occurrences: int = 4
    poll_opens_hours: int = 144
    poll_reminder_hours: int = 72
    poll_closes_hours: int = 48
    reminder_hours: int = 24
    summary_hours_after: int = 1
    summary_dir: str = "summaries"
    theme_options: tuple[str, ...] = ()
    approve_themes: bool = False


@dataclass(frozen=True)
class ArchiveConfig:
    """Where large attachments are published instead of attached (optional)."""

    base_url: str = ""


@dataclass(frozen=True)
class RetentionConfig:
    """How long mail is kept (days; 0 = keep), and what erasing a member does to their items."""

    inbound_days: int = 0
    sent_days: int = 0
    held_days: int = 0
    erase_items: str = "anonymise"


@dataclass(frozen=True)
class TermConfig:
    """One `[[terms]]` entry: the term's dates and its meeting time or rule."""

    name: str
    start: date
    end: date
    meeting: str
    location: str = ""
    title: str = ""
    duration_minutes: int = 0
    closures: tuple[date, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything mailflow is configured with, plus the folder paths are relative to."""

    base_dir: Path
    group: GroupConfig = field(default_factory=GroupConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    series: SeriesConfig = field(default_factory=SeriesConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    terms: tuple[TermConfig, ...] = ()

    def path(self, value: str) -> Path:
        """Resolve a configured path relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def data_dir(self) -> Path:
        """The folder for attachments and anything else kept on disk."""
        return self.path(self.storage.data_dir)

    @property
    def maildir(self) -> Path:
        """The folder the maildir transport writes `.eml` files to."""
        return self.path(self.outbound.maildir)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            rest = url[len(prefix) :]
            if not rest.startswith("/"):
                return prefix + str(self.base_dir / rest)
        return url

    def term(self, name: str) -> TermConfig:
        """The `[[terms]]` entry called `name`; `ConfigError` if there is none."""
        for term in self.terms:
            if term.name == name:
                return term
        known = ", ".join(t.name for t in self.terms) or "none configured"
        raise ConfigError(f"terms: no term named {name!r} (known: {known})")


_SECTIONS: dict[str, type[Any]] = {
    "group": GroupConfig,
    "mail": MailConfig,
    "database": DatabaseConfig,
    "storage": StorageConfig,
    "inbound": InboundConfig,
    "outbound": OutboundConfig,
    "schedule": ScheduleConfig,
    "series": SeriesConfig,
    "archive": ArchiveConfig,
    "retention": RetentionConfig,
}

ERASE_ITEMS = ("anonymise", "delete")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default; tuples come from lists."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings")
        return tuple(value)
    raise ConfigError(f"{key}: unsupported value {value!r}")  # pragma: no cover


def _section(name: str, cls: type[Any], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key")
        values[key] = _coerce(f"{name}.{key}", value, getattr(defaults, key))
    return cls(**values)


def _date(key: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{key}: expected a date YYYY-MM-DD, got {value!r}")


def _term(index: int, raw: Any) -> TermConfig:
    where = f"terms[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    allowed = {f.name for f in fields(TermConfig)}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key")
    for key in ("name", "start", "end", "meeting"):
        if key not in raw:
            raise ConfigError(f"{where}.{key}: missing")
    for key in ("name", "meeting", "location", "title"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}.{key}: expected a string, got {raw[key]!r}")
    duration = raw.get("duration_minutes", 0)
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise ConfigError(f"{where}.duration_minutes: expected a whole number of minutes")
    closures = raw.get("closures", [])
    if not isinstance(closures, list):
        raise ConfigError(f"{where}.closures: expected a list of dates")
    term = TermConfig(
        name=raw["name"],
        start=_date(f"{where}.start", raw["start"]),
        end=_date(f"{where}.end", raw["end"]),
        meeting=raw["meeting"],
        location=raw.get("location", ""),
        title=raw.get("title", ""),
        duration_minutes=duration,
        closures=tuple(_date(f"{where}.closures", c) for c in closures),
    )
    if term.end < term.start:
        raise ConfigError(f"{where}.end: before the term's start")
    return term


def _validate(settings: Settings) -> None:
    try:
        ZoneInfo(settings.group.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"group.timezone: unknown time zone {settings.group.timezone!r}"
        ) from None
    if settings.group.greeting not in ("first name", "full name"):
        raise ConfigError(f"group.greeting: expected 'first name' or 'full name', "
                          f"got {settings.group.greeting!r}")  # fmt: skip
    if "@" not in settings.mail.address:
        raise ConfigError(f"mail.address: not an email address: {settings.mail.address!r}")
    if not settings.mail.secret:
        raise ConfigError("mail.secret: missing (run `mailflow init` to write a random one)")
    if settings.outbound.transport not in ("maildir", "smtp"):
        raise ConfigError(
            f"outbound.transport: unknown transport {settings.outbound.transport!r} "
            "(expected 'maildir' or 'smtp')"
        )
    if settings.inbound.protocol not in ("smtp", "lmtp"):
        raise ConfigError(
            f"inbound.protocol: unknown protocol {settings.inbound.protocol!r} "
            "(expected 'smtp' or 'lmtp')"
        )
    if settings.outbound.connections < 1:
        raise ConfigError("outbound.connections: must be at least 1")
    for key in ("max_connections", "idle_timeout_seconds", "connection_time_limit_seconds",
                "max_start_attempts"):  # fmt: skip
        if getattr(settings.inbound, key) < 1:
            raise ConfigError(f"inbound.{key}: must be at least 1")
    if settings.inbound.processing_budget_seconds <= 0:
        raise ConfigError("inbound.processing_budget_seconds: must be more than 0")
    if settings.schedule.meeting_length_minutes < 1:
        raise ConfigError("schedule.meeting_length_minutes: must be at least 1")
    if settings.schedule.digest_weekday.lower() not in WEEKDAYS:
        raise ConfigError(
            f"schedule.digest_weekday: {settings.schedule.digest_weekday!r} is not a day of "
            "the week (monday ... sunday)"
        )
    series = settings.series
    if not series.poll_opens_hours > series.poll_closes_hours:
        raise ConfigError("series.poll_opens_hours: must be more than series.poll_closes_hours")
    if settings.retention.erase_items not in ERASE_ITEMS:
        raise ConfigError(
            f"retention.erase_items: {settings.retention.erase_items!r} is neither "
            "'anonymise' nor 'delete'"
        )
    names = [t.name for t in settings.terms]
    if len(names) != len(set(names)):
        raise ConfigError("terms: two terms share a name")


def parse(data: dict[str, Any], base_dir: Path) -> Settings:
    """Build validated `Settings` from an already-parsed TOML document."""
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "terms":
            if not isinstance(raw, list):
                raise ConfigError("terms: expected an array of tables ([[terms]])")
            values["terms"] = tuple(_term(i, t) for i, t in enumerate(raw))
        elif key in _SECTIONS:
            values[key] = _section(key, _SECTIONS[key], raw)
        else:
            raise ConfigError(f"{key}: unknown section")
    settings = Settings(base_dir=base_dir, **values)
    _validate(settings)
    return settings


def resolve_path(path: str | Path | None) -> Path:
    """The config file to use: the explicit path, else $MAILFLOW_CONFIG, else ./mailflow.toml."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path.cwd() / DEFAULT_CONFIG_NAME


def load(path: str | Path | None = None) -> Settings:
    """Read and validate the config file; `ConfigError` names the key on any problem."""
    file = resolve_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file (run `mailflow init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse(data, file.resolve().parent)
