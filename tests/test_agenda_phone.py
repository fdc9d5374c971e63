"""The agenda on a phone: the invite's HTML and `agenda --format html`, rendered by
headless Chromium 390 px wide (an iPhone's width), need no horizontal scrolling, however
long the titles, names and links members send.

Runs where Chromium is installed (`.ci/run` installs Debian's package); skipped elsewhere.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailflow import planning
from mailflow.app import App
from mailflow.meetings import find_meeting
from tests.conftest import Cli, ok
from tests.loops import JANE, RUTH, SAM, address, at, delivered, make_group, send

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

PHONE_WIDTH = 390
# Run once the page has laid out: how far the page is wider than the window.
MEASURE = (
    "<script>window.addEventListener('load', () => {"
    " const page = document.documentElement;"
    " document.body.setAttribute('data-overflow', String(page.scrollWidth - page.clientWidth));"
    "});</script>"
)
LONG_LINK = "https://www.example-trust.org.uk/policies/send/2026/" + "training-" * 8 + "v3.pdf"


def chromium(page: Path, *options: str) -> str:
    """Run headless Chromium on `page` at the phone's width; what it printed."""
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={PHONE_WIDTH},844", "--virtual-time-budget=2000", *options,
               page.as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def overflow(html: str, folder: Path) -> int:
    """How many pixels wider than the phone's screen the page lays out."""
    page = folder / "page.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    found = re.search(r'data-overflow="(-?\d+)"', chromium(page, "--dump-dom"))
    assert found, "the page did not report its width"
    return int(found[1])


def screenshot_width(html: str, folder: Path) -> int:
    """The width in pixels of a screenshot of the page taken at the phone's width."""
    page, shot = folder / "shot.html", folder / "shot.png"
    page.write_text(html, encoding="utf-8")
    chromium(page, f"--screenshot={shot}")
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width: int = struct.unpack(">I", header[16:20])[0]
    return width


@pytest.fixture
def long_agenda(app: App, server: Any) -> str:
    """A meeting whose members sent long titles, a long link and apologies."""
    group = make_group(app)
    at(app, 2026, 11, 2, 9)
    for sender, body in [
        (JANE, "Q: How are other schools recording the new attendance codes for pupils on "
               f"part-time timetables, and has anyone had an LA audit yet? See {LONG_LINK}"),
        (SAM, "Apologies, I am on a course that day.\n\n"
              "Item: Sharing SEND support staff training across the partnership schools "
              "(Hamble, Bursledon, West End) [15m]"),
        (RUTH, "Item: Supercalifragilisticexpialidocious-length-compound-name-for-"
               "a-trust-wide-initiative [10m]"),
    ]:  # fmt: skip
        row = send(server, sender, address(app, "c", group.meeting, group.id(sender)), body)
        assert row.status == "processed", row.outcome
    return "autumn"


def invite_html(msg: EmailMessage) -> str:
    """The HTML part of an invitation we sent."""
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_the_invite_agenda_fits_a_phone(app: App, long_agenda: str, tmp_path: Path) -> None:
    with app.session() as session:
        planning.send_invites(session, app.settings, find_meeting(session, long_agenda),
                              now=app.now())  # fmt: skip
    [invite] = delivered(app, JANE, "Invitation")
    html = invite_html(invite)
    assert "<table" in html and "16:00" in html and "raised in their absence" in html
    assert overflow(html, tmp_path) <= 0
    assert screenshot_width(html, tmp_path) == PHONE_WIDTH


def test_the_agenda_page_fits_a_phone(cli: Cli, long_agenda: str, tmp_path: Path) -> None:
    html = ok(cli("agenda", long_agenda, "--format", "html")).stdout
    assert "Supercalifragilisticexpialidocious" in html
    assert overflow(html, tmp_path) <= 0


def test_the_measure_sees_a_page_too_wide(tmp_path: Path) -> None:
    """The check can fail: a fixed 800 px table does overflow the phone's screen."""
    html = '<html><body><table style="width:800px"><tr><td>x</td></tr></table></body></html>'
    assert overflow(html, tmp_path) > 300
