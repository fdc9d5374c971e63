"""Copies of one message for many recipients, its shared parts serialised once.

A `Template` is made from a message built the ordinary way (`compose.build_message`),
whose text bodies hold a placeholder where each recipient's own words go (a greeting's
name). The message is serialised once; each copy is then assembled from those bytes:
the header lines that differ per recipient (`compose.RECIPIENT_HEADERS`) are written
for that recipient (`header`), and so are the body lines holding the placeholder,
quoted-printable encoded line by line exactly as `email` encodes a whole body (its
encoding of a line never depends on the lines around it); every other byte is shared.
A template checks itself when made: filled with the prototype's own values it must
give back the prototype's bytes, or it is refused with `ValueError`, and the caller
builds each copy the ordinary way.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import Policy

from mailflow import compose


def placeholder() -> str:
    """A fresh word to stand in a body for each recipient's own text: random, so no
    other text holds it; letters and digits, so neither escaping nor encoding touch it."""
    return f"mailflow{secrets.token_hex(12)}"


class AssembledMessage(EmailMessage):
    """A message known by its wire bytes: `as_bytes` gives them as assembled, and its
    top-level headers are set (as a parser sets them), so the outbox reads To, Subject and
    Message-ID as from any message. Its parts are not: parse `as_bytes()` to read them."""

    def __init__(self, raw: bytes, headers: Sequence[tuple[str, str]]) -> None:
        super().__init__(policy=compose.POLICY)
        self.raw = raw
        for name, value in headers:
            self.set_raw(name, value)

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        """The bytes as assembled (for `compose.WIRE`); any other policy re-serialises a
        parsed copy."""
        if not unixfrom and policy in (None, compose.WIRE):
            return self.raw
        return self.parsed().as_bytes(unixfrom=unixfrom, policy=policy)

    def as_string(
        self, unixfrom: bool = False, maxheaderlen: int | None = None, policy: Policy | None = None
    ) -> str:
        """The message as text, from a parsed copy."""
        return self.parsed().as_string(unixfrom, maxheaderlen, policy)

    def parsed(self) -> EmailMessage:
        """The message parsed from its bytes, parts and all."""
        parsed = message_from_bytes(self.raw, policy=compose.POLICY)
        assert isinstance(parsed, EmailMessage)
        return parsed


class PlainHeader(str):
    """A recipient's header whose value is plain (`compose.plain_header_value`): its
    text, as the email package's header would give it, parsed into that header only when
    asked for more than its text (``.addresses``)."""

    name: str

    def __new__(cls, name: str, value: str) -> PlainHeader:
        header = super().__new__(cls, value)
        header.name = name
        return header

    def __getattr__(self, attribute: str) -> object:
        return getattr(compose.POLICY.header_factory(self.name, str(self)), attribute)


def header(name: str, value: Address | str) -> tuple[bytes, str]:
    """The header ``msg[name] = value`` gives: its line as `compose.to_bytes` writes it
    (folded, CRLF) and its value as the message holds it, the email package's parser
    skipped for a plain value."""
    plain = compose.plain_header_value(name, value)
    if plain is not None:
        return f"{name}: {plain}\r\n".encode("ascii"), PlainHeader(name, plain)
    return compose.folded_header(name, value)


def same_boundaries(msg: EmailMessage, like: EmailMessage) -> EmailMessage:
    """`msg` with the MIME boundaries `like` (serialised, so it has them) has, in order,
    so that two builds of one message serialise alike."""
    ours = [part for part in msg.walk() if part.is_multipart()]
    theirs = [part.get_boundary() for part in like.walk() if part.is_multipart()]
    for part, boundary in zip(ours, theirs, strict=True):
        if boundary is None:
            raise ValueError("the message to copy boundaries from was never serialised")
        part.set_boundary(boundary)
    return msg


def _qp(lines: Sequence[bytes]) -> bytes:
    """`lines` (each without its line end) as `email` writes them quoted-printable."""
    body = b"\n".join(lines) + b"\n"
    width = compose.POLICY.max_line_length or 76
    encoded = quoprimime.body_encode(body.decode("latin-1"), width)
    return encoded.replace("\n", "\r\n").encode("ascii")


@dataclass(frozen=True)
class _Body:
    """A quoted-printable body as shared encoded runs and the lines to fill per copy."""

    pieces: tuple[bytes, ...]
    personal: frozenset[int]  # which pieces are source lines holding the placeholder

    @classmethod
    def of(cls, text: str, slot: bytes) -> _Body:
        pieces: list[bytes] = []
        personal: set[int] = set()
        run: list[bytes] = []
        for line in text.encode("utf-8").splitlines():  # as `email` splits a body
            if slot not in line:
                run.append(line)
                continue
            if run:
                pieces.append(_qp(run))
                run = []
            personal.add(len(pieces))
            pieces.append(line)
        if run:
            pieces.append(_qp(run))
        return cls(tuple(pieces), frozenset(personal))

    def fill(self, slot: bytes, value: bytes) -> bytes:
        return b"".join(
            _qp([p.replace(slot, value)]) if k in self.personal else p
            for k, p in enumerate(self.pieces)
        )


def _header_lines(head: bytes) -> list[tuple[str, bytes]]:
    """(name, line with its continuation lines and CRLF) of a serialised header block."""
    lines: list[tuple[str, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + line + b"\r\n")
        else:
            lines.append((line.split(b":", 1)[0].decode("ascii"), line + b"\r\n"))
    return lines


class Template:
    """The copies of one message (see the module docstring)."""

    def __init__(
        self, prototype: EmailMessage, bodies: Sequence[str], slot: str,
        headers: Sequence[tuple[str, Address | str]],
    ) -> None:  # fmt: skip
        """`prototype` is the message with `headers` (its `compose.recipient_headers`)
        whose text bodies are `bodies` (in order), each holding `slot` where each copy
        gets its own text. `ValueError` when the bytes cannot be assembled this way."""
        raw = compose.to_bytes(prototype)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.slot = slot.encode("ascii")
        personal = {name.lower() for name, _ in headers}
        self.head = [
            (name, b"" if name.lower() in personal else line)
            for name, line in _header_lines(head + b"\r\n")
        ]
        # the shared headers as parsed for the prototype; None for the recipient's own
        self.values = [(name, None if name.lower() in personal else value)
                       for name, value in prototype.raw_items()]  # fmt: skip
        self.pieces: list[bytes | _Body] = []
        rest = b"\r\n" + body  # the blank line after the headers
        for text in bodies:
            part = _Body.of(text, self.slot)
            encoded = part.fill(self.slot, self.slot)
            before, found, rest = rest.partition(encoded)
            if not found or encoded in rest:
                raise ValueError("a body is not where the serialised message has it")
            self.pieces += [before, part]
        self.pieces.append(rest)
        if self._assemble(headers, [slot] * len(bodies))[0] != raw:
            raise ValueError("the message cannot be assembled from its parts")

    def _assemble(self, headers: Sequence[tuple[str, Address | str]],
                  fills: Sequence[str]) -> tuple[bytes, dict[str, str]]:  # fmt: skip
        """The copy's bytes, and its recipient headers' values by lower-cased name."""
        own = {name.lower(): header(name, value) for name, value in headers}
        if own.keys() != {name.lower() for name, line in self.head if not line}:
            raise ValueError("the recipient's headers are not the template's")
        values = iter(v.encode("utf-8") for v in fills)
        raw = b"".join(
            [line or own[name.lower()][0] for name, line in self.head]
            + [p if isinstance(p, bytes) else p.fill(self.slot, next(values))
               for p in self.pieces]
        )  # fmt: skip
        return raw, {name: value for name, (_, value) in own.items()}

    def copy(
        self, headers: Sequence[tuple[str, Address | str]], fills: Sequence[str]
    ) -> AssembledMessage:
        """The copy with these recipient headers (`compose.recipient_headers`) and, in
        each body in turn, `fills[k]` in place of the placeholder (already escaped as
        that body needs). `ValueError` for a fill holding a line break or control
        character, or headers other than the prototype's."""
        if any(compose.has_control(f) for f in fills):
            raise ValueError("a recipient's text holds a control character")
        raw, own = self._assemble(headers, fills)
        values = [(name, own[name.lower()] if value is None else value)
                  for name, value in self.values]  # fmt: skip
        return AssembledMessage(raw, values)
