"""A message written straight to bytes (`compose.build_wire`, the acknowledgements) is
the message `compose.build_message` makes: the same header lines, byte for byte, the
same text and HTML read back, the same values for the outbox, and hostile member data
just as harmless."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from mailflow import compose, outbox
from mailflow.app import App

INJECTION = base64.b64encode(b"\r\nBcc: victim@x.example\r\n").decode()
NAMES = ["Jane Smith", "Smith, Jane", 'Jane "JJ" Smith', "Zoë Ångström", "日本 語",
         f"Eve =?utf-8?b?{INJECTION}?=", "Eve\r\nBcc: victim@x.example", "x" * 300]  # fmt: skip
SUBJECTS = ["Re: Call for items (3)", "Re: Zoë's agenda", "=?utf-8?q?=0D=0ABcc:_x?=",
            "Re: a\r\nBcc: victim@x.example", "", "y" * 990, "  Re:   spaced   out  "]  # fmt: skip
TEXTS = ["Dear Jane,\n\n  #3 question: x [5 min]\n", "trailing space \nand tab\t\n",
         ".\nFrom here\n=?= = 3D\r\nlone\rcarriage", "é" * 200 + "\n" + "w " * 100,
         "no line end", "\x00\x1b\u2028\x85 controls"]  # fmt: skip
REFERENCES = [None, "<bench-1@school.example>", '<a"b(c)@d>', "<é@x>", "not an id", "<x>"]


def _cases() -> list[dict[str, Any]]:
    cases = []
    for n, name in enumerate(NAMES):
        cases.append({
            "to": compose.mailbox(f"m{n}@school.example", name),
            "subject": SUBJECTS[n % len(SUBJECTS)],
            "text": TEXTS[n % len(TEXTS)],
            "html": f"<p>{TEXTS[(n + 1) % len(TEXTS)]}</p>",
            "reply_to": compose.mailbox("group+x@example.org", name) if n % 2 else None,
            "in_reply_to": REFERENCES[n % len(REFERENCES)],
            "member_id": n or None,
        })  # fmt: skip
    return cases


def _built(app: App, case: dict[str, Any]) -> tuple[bytes, compose.Wire]:
    now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    message_id = compose.new_message_id(app.settings)
    common = {**case, "now": now, "message_id": message_id, "auto_submitted": "auto-replied"}
    msg = compose.build_message(app.settings, **common)
    return compose.to_bytes(msg), compose.build_wire(app.settings, **common)


def _headers(raw: bytes) -> list[bytes]:
    """The top-level header lines but the multipart Content-Type (its boundary differs)."""
    head = raw.partition(b"\r\n\r\n")[0].split(b"\r\n")
    return [line for line in head if not line.startswith(b"Content-Type: multipart/")]


def _read(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize("case", _cases(), ids=lambda case: str(case["to"].username))
def test_a_written_message_is_the_built_one(app: App, case: dict[str, Any]) -> None:
    built, wire = _built(app, case)
    assert _headers(wire.raw) == _headers(built)
    old, new = _read(built), _read(wire.raw)
    assert not new.defects and all(not part.defects for part in new.walk())
    assert new.get_content_type() == "multipart/alternative"
    for subtype in ("plain", "html"):
        part, ours = old.get_body((subtype,)), new.get_body((subtype,))
        assert part is not None and ours is not None
        assert ours.get_content() == part.get_content()
        assert ours.get_content_type() == part.get_content_type()
        assert ours.get_content_charset() == "utf-8"
    now = datetime.now(UTC)
    values = outbox._queued(old, now=now, mailing=None, blobs=())
    written = outbox._queued(wire, now=now, mailing=None, blobs=())
    assert written | {"raw": b""} == values | {"raw": b""}  # the same row but the boundary
    assert max(len(line) for line in wire.raw.split(b"\r\n")) <= 998
    assert b"\r" not in wire.raw.replace(b"\r\n", b"")
    assert new["Bcc"] is None


def test_a_line_break_in_a_header_value_is_refused(app: App) -> None:
    with pytest.raises(ValueError):
        compose.header_line("Auto-Submitted", "auto-replied\r\nBcc: victim@x.example")
    with pytest.raises(ValueError):
        compose.build_wire(app.settings, to="mallory@example.org\r\nBcc: victim@x.example",
                           subject="Hi", text="", html="", now=datetime.now(UTC))  # fmt: skip
