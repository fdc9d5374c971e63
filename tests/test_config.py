"""Config loading: defaults, the documented example, and one clear error per bad key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mailflow import config
from mailflow.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"

GOOD = """
[mail]
address = "dht@example.org"
secret = "s"
"""


def load_text(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "mailflow.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    settings = load_text(tmp_path, GOOD)
    assert settings.outbound.transport == "maildir"
    assert settings.database_url == f"sqlite:///{tmp_path / 'mailflow.db'}"
    assert settings.maildir == tmp_path / "sent-mail"


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, cls in config._SECTIONS.items():
        assert f"[{section}]" in text
        for f in fields(cls):
            assert f"\n{f.name} = " in text, f"{section}.{f.name} is not documented"
    for f in fields(config.TermConfig):
        assert f"\n{f.name} = " in text, f"terms.{f.name} is not documented"


def test_example_loads_once_a_secret_is_set(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('secret = ""', 'secret = "x"')
    settings = load_text(tmp_path, text)
    assert settings.term("autumn-2026").location == "Teachers' Centre, Room 2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "[group]\ncolour = 'blue'\n", "group.colour: unknown key"),
        (GOOD + "[inbound]\nport = '25'\n", "inbound.port: expected a whole number"),
        (GOOD + "[group]\ntimezone = 'Mars/Olympus'\n", "group.timezone: unknown time zone"),
        (GOOD + "[outbound]\ntransport = 'pigeon'\n", "outbound.transport: unknown transport"),
        ('[mail]\naddress = "dht@example.org"\n', "mail.secret: missing"),
        (GOOD + "[inbound]\nprotocol = 'x400'\n", "inbound.protocol: unknown protocol"),
        (GOOD + "[outbound]\nstarttls = 'yes'\n", "outbound.starttls: expected true or false"),
        (GOOD + "[weather]\n", "weather: unknown section"),
        (GOOD + "[[terms]]\nname = 'a'\nstart = '2026-09-01'\n", "terms[0].end: missing"),
        (
            GOOD + "[[terms]]\nname='a'\nstart='2026-09-01'\nend='2026-13-01'\nmeeting='x'\n",
            "terms[0].end: expected a date",
        ),
        ("[mail\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_text(tmp_path, text)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml")


def test_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_text(tmp_path, GOOD + "[outbound]\npassword_env = 'RELAY_PW'\n")
    monkeypatch.setenv("RELAY_PW", "hunter2")
    assert settings.outbound.password() == "hunter2"


def test_config_env_variable_picks_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("MAILFLOW_CONFIG", str(path))
    assert config.load().base_dir == tmp_path
