"""The package as people install it: an sdist and a wheel that hold every module, template
and migration, and the `mailflow` command working from a fresh virtual environment with
no source tree in sight, following docs/deploy.md as far as it runs on one machine.

.ci/run builds the wheel and installs it in a fresh virtual environment once, and points
MAILFLOW_TEST_COMMAND at it; run alone, these tests make that environment themselves
(skipped, with the reason, where the dependencies cannot be installed).
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SmtpSink, free_port
from tests.loops import JANE, message
from tests.test_serve_cli import wait_for_port

# one worker runs the whole module, so the sdist, wheel and virtual environment are built once
pytestmark = pytest.mark.xdist_group("package")

SOURCE = Path(__file__).parent.parent
LEFT_OUT = {".git", ".venv", "build", "dist", "demo", "data", "sent-mail", "mailflow.egg-info"}


def _package_files() -> set[str]:
    """Every file of the `mailflow` package in the source tree, as paths in a wheel."""
    return {
        path.relative_to(SOURCE).as_posix()
        for path in (SOURCE / "mailflow").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist and a wheel built the way `python -m build` does: the wheel from the sdist,
    so anything the sdist forgets is missing from the wheel too."""
    copy = tmp_path_factory.mktemp("src") / "mailflow"
    shutil.copytree(SOURCE, copy, ignore=lambda folder, names: [
        n for n in names if (Path(folder) == SOURCE and n in LEFT_OUT) or n == "__pycache__"
    ])  # fmt: skip
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(copy)]
    result = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def test_the_wheel_holds_every_module_template_and_migration(dist: Path) -> None:
    (wheel,) = dist.glob("mailflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_package_files() - names)
    assert missing == []
    assert {"mailflow/cli/__init__.py", "mailflow/templates/config.example.toml",
            "mailflow/migrations/script.py.mako"} <= names  # fmt: skip
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mailflow = mailflow.cli:app" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_sdist_holds_the_package_readme_and_config_example(dist: Path) -> None:
    (sdist,) = dist.glob("mailflow-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "config.example.toml"} <= names
    assert sorted(_package_files() - names) == []


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `mailflow` command of the wheel installed in a fresh virtual environment."""
    if command := os.environ.get("MAILFLOW_TEST_COMMAND"):
        return Path(command)
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (wheel,) = dist.glob("mailflow-*.whl")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)]
    result = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.skip(f"cannot install the wheel's dependencies here: {result.stderr[-300:]}")
    return venv / "bin" / "mailflow"


def _run(command: Path, *args: str, cwd: Path, timeout: float = 120) -> str:
    """Run the installed command from `cwd` with no source tree on the path; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MAILFLOW_"))}
    result = subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)  # fmt: skip
    assert result.returncode == 0, f"mailflow {' '.join(args)}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    return result.stdout


def test_the_installed_command_runs_init_and_demo(installed: Path, tmp_path: Path) -> None:
    python = installed.parent / "python"
    where = subprocess.run([str(python), "-c", "import mailflow; print(mailflow.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)  # fmt: skip
    assert str(SOURCE / "mailflow") not in where.stdout, "the wheel, not the source tree"
    assert "serve" in _run(installed, "--help", cwd=tmp_path)
    assert "database ready" in _run(installed, "init", cwd=tmp_path)
    assert (tmp_path / "mailflow.toml").exists()
    _run(installed, "demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    sent = sorted((tmp_path / "demo" / "sent-mail").glob("*.eml"))
    assert len(sent) > 10
    for path in sent:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["Message-ID"] and msg["List-Id"] and msg.get_body(("plain",)) is not None


# --- docs/deploy.md, as far as it runs here -------------------------------------------------


def _doc_config() -> dict[str, Any]:
    """The TOML that docs/deploy.md tells the reader to put in mailflow.toml."""
    text = (SOURCE / "docs" / "deploy.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/deploy.md has no TOML block"
    return tomllib.loads(block.group(1))


def _set_keys(path: Path, values: dict[str, dict[str, Any]]) -> None:
    """Set `[section] key = value` lines in a config file written by `mailflow init`."""
    lines, section = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[] ")
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in values.get(section, {}):
            line = f"{key} = {json.dumps(values[section][key])}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def deployed(installed: Path, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[tuple[Path, int]]:
    """A folder set up as docs/deploy.md says, with its relay replaced by a capturing sink,
    and `mailflow serve` running in it in LMTP mode; yields (folder, LMTP port)."""
    _run(installed, "init", cwd=tmp_path)
    config = _doc_config()
    config["inbound"]["port"] = free_port()
    config["outbound"].update(host="127.0.0.1", port=smtp_sink.port, starttls=False,
                              username="")  # fmt: skip
    _set_keys(tmp_path / "mailflow.toml", config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MAILFLOW_"))}
    proc = subprocess.Popen([str(installed), "serve"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for_port(config["inbound"]["port"])
        yield tmp_path, config["inbound"]["port"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        proc.kill()
    assert "LMTP server listening" in out and "Traceback" not in err


def test_deploy_steps_take_a_reply_over_lmtp_and_acknowledge_it(
    installed: Path, deployed: tuple[Path, int], smtp_sink: SmtpSink
) -> None:
    folder, port = deployed
    _run(installed, "members", "add", JANE, "--name", "Jane Smith", "--quiet", cwd=folder)
    _run(installed, "meetings", "add", "--title", "Spring meeting", "--start",
         "2027-03-18 16:00", cwd=folder)  # fmt: skip
    _run(installed, "call-for-items", "1", cwd=folder)
    (call,) = [email.message_from_bytes(m.data, policy=policy.default) for m in smtp_sink.received]
    reply_to = call["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("dht+") and reply_to.endswith("@groups.example.org")
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        lmtp.sendmail(JANE, [reply_to], message(JANE, reply_to, "Q: Who chairs in March?"))
    deadline = time.monotonic() + 10
    while len(smtp_sink.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    ack = email.message_from_bytes(smtp_sink.received[-1].data, policy=policy.default)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "Who chairs in March?" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    listed = json.loads(_run(installed, "items", "list", "1", "--json", cwd=folder))
    assert [(i["kind"], i["title"]) for i in listed] == [("question", "Who chairs in March?")]
