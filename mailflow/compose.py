"""Building outgoing mail: jinja2 templates rendered into `EmailMessage` objects, or, for
plain text + HTML mail sent one at a time (the acknowledgements), straight into the
bytes `to_bytes` would give (`build_wire`).

Nothing here sends or stores anything; `outbox` takes the messages. Every message gets
Message-ID, Date, From (group name + address), Reply-To (a signed address when given),
List-Id, Auto-Submitted (RFC 3834) and a text + HTML `multipart/alternative` body; mail
to a member also carries List-Unsubscribe (see `list_unsubscribe`).
Headers are made by the email package, never by joining strings of member input:
addresses are `Address` objects made by `mailbox`, and every text from stored data
(display names, subjects, file names) passes `one_line` on its way into a header;
`build_wire` writes a value as it is only when it is printable ASCII the email package
would write unchanged, and has the package fold every other.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import headerregistry, policy, utils
from email.headerregistry import Address
from email.message import EmailMessage
from functools import cache
from importlib import resources
from typing import Any, TypedDict, Unpack, cast

import jinja2
import markupsafe
import nh3
from markdown_it import MarkdownIt

from mailflow import addresses
from mailflow.config import Settings

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul", "del", "s", "sub", "sup", "span", "div",
}  # fmt: skip


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The email package's header registry, making each header's class once: the stock
    one builds a new class for every header it is asked for (once a third of composing)."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[str, type[headerregistry.BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[headerregistry.BaseHeader]:
        key = name.lower()
        if key not in self.made:
            self.made[key] = super().__getitem__(name)
        return self.made[key]


# What messages are built with: SMTP line ends, each header class made once.
POLICY = policy.SMTP.clone(header_factory=_HeaderClasses())
# Headers are folded only past 998 characters: Python folds an unbreakable-looking
# header by moving the whole value to a continuation line, which parsers (Python's own
# included) then read back with a leading space. Bodies are encoded at 78 when built.
WIRE = POLICY.clone(max_line_length=998)


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes on the wire (CRLF line ends)."""
    return msg.as_bytes(policy=WIRE)


def sanitize_html(html: str) -> str:
    """Strip scripts, event handlers, styles, remote images and unsafe links from HTML."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "td": {"align"}, "th": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def markdown_html(markdown: str) -> str:
    """Render Markdown (CommonMark + tables) to sanitised HTML."""
    return sanitize_html(MarkdownIt("commonmark").enable("table").render(markdown))


@cache
def template_environment() -> jinja2.Environment:
    """The jinja2 environment over the packaged `templates/` folder."""
    folder = resources.files("mailflow.templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # packaged files: compiled once, never looked at again
    )
    env.filters["sanitize"] = lambda html: markupsafe.Markup(sanitize_html(html))
    return env


def render(name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Render `<name>.txt.j2` and `<name>.html.j2` with `context`: (text, html)."""
    env = template_environment()
    text = env.get_template(f"{name}.txt.j2").render(**context)
    html = env.get_template(f"{name}.html.j2").render(**context)
    return text, html


@dataclass(frozen=True)
class Part:
    """An attachment or alternative part to add to a message.

    A part with `blob` set carries only a reference line (`blob_marker`) in place of
    its bytes: the outbox swaps in the stored, already base64-encoded blob at delivery,
    so a file sent to a thousand members is encoded and stored once.
    """

    data: bytes
    content_type: str
    filename: str = ""
    params: Mapping[str, str] | None = None
    blob: str | None = None


def blob_marker(sha256: str) -> bytes:
    """The line that stands for a shared blob inside a stored message."""
    return f"mailflow-blob:{sha256}".encode("ascii")


def _blob_part(part: Part) -> EmailMessage:
    assert part.blob is not None
    mime = EmailMessage(policy=POLICY)
    mime["Content-Type"] = part.content_type
    filename = one_line(part.filename)
    mime.set_param("name", filename)
    mime["Content-Disposition"] = "attachment"
    mime.set_param("filename", filename, header="Content-Disposition")
    mime["Content-Transfer-Encoding"] = "base64"
    mime.set_payload(blob_marker(part.blob).decode("ascii") + "\r\n")
    return mime


_MSG_ID = re.compile(r"<[^\s<>]{1,900}>")
# C0 and C1 controls (CR, LF, NUL, ESC, DEL, NEL, ...) and the Unicode line and
# paragraph separators: anything that can end a header line or hide in one.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control(text: str) -> bool:
    """Whether `text` holds a control character or a line break of any kind."""
    return _CONTROL.search(text) is not None


def one_line(text: str, limit: int = 200) -> str:
    """Member text made safe for a header: one line, no controls, no encoded words.

    `email` decodes ``=?...?=`` when a value is put into a header (a display name, a
    subject, a file name) and writes what it decodes to as is, so an encoded word that
    decodes to CR LF would otherwise inject headers; ``= ?`` is left as plain text.
    """
    flat = " ".join(_CONTROL.sub(" ", text).replace("=?", "= ?").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Reply and forward prefixes clients write (English, German, Nordic, Dutch, French...).
_PREFIXES = ("re", "aw", "sv", "vs", "antw", "fwd", "fw", "wg", "tr", "ref")


def reply_subject(subject: str) -> str:
    """``Re: `` and the subject without the reply and forward prefixes it already has
    (``RE: AW: Fwd: x`` becomes ``Re: x``); at most ten prefixes are taken off, so any
    input takes linear time."""
    rest = subject.strip()
    for _ in range(10):
        head, colon, tail = rest[:12].partition(":")
        word = head.strip().lower()
        if not colon or word.rstrip("[]0123456789 ").strip() not in _PREFIXES:
            break
        rest = (tail + rest[12:]).lstrip()
    return f"Re: {rest}" if rest else "Re:"


def mailbox(addr_spec: str, display_name: str = "") -> Address:
    """A header address for a stored address and name; the name is made `one_line`.

    Raises `ValueError` for an address that cannot be made safe: one without a local
    part and domain, or holding a control character or an encoded word (which the
    email package would decode into the header, as for a display name).
    """
    local, at, domain = addr_spec.strip().rpartition("@")
    if not (local and at and domain) or has_control(addr_spec) or "=?" in addr_spec:
        raise ValueError("the address is not a plain local@domain")
    return Address(display_name=one_line(display_name), username=local, domain=domain)


def _header_address(value: Address | str) -> Address:
    if isinstance(value, str):
        return mailbox(value)
    return mailbox(f"{value.username}@{value.domain}", value.display_name)


def plain_msg_id(value: str | None) -> str | None:
    """`value` if it is one plain ``<msg-id>``, else None (never echo anything else)."""
    if value and _MSG_ID.fullmatch(value) and "=?" not in value:
        return value
    return None


def group_from(settings: Settings) -> Address:
    """The From address: the group's name and address."""
    return mailbox(settings.mail.address, settings.group.name)


def list_id(settings: Settings) -> str:
    """The RFC 2919 List-Id value for the group."""
    return f"{one_line(settings.group.name)} <{settings.mail.address.replace('@', '.')}>"


def list_unsubscribe(settings: Settings, member_id: int) -> str:
    """The RFC 2369 List-Unsubscribe value for a member: their signed ``mailto:`` address
    (purpose ``u``), where any mail means "I am leaving".

    There is no ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058): that
    header promises an HTTPS endpoint taking a POST, and mailflow has none, so a client
    offering one-click unsubscribe mails this address instead.
    """
    token = addresses.ReplyToken("u", 0, member_id)
    signed = addresses.reply_address(settings.mail.address, settings.mail.secret, token)
    return f"<mailto:{mailbox(signed).addr_spec}?subject=unsubscribe>"


def addr_spec(address: Address | str | None) -> str:
    """The addr-spec of an address given as an `Address` or as text ("" for none); a
    bare address (as a signed reply address is given) is its own."""
    if not address:
        return ""
    if isinstance(address, Address):
        return address.addr_spec
    return utils.parseaddr(address)[1] if "<" in address else address


def _member_of(settings: Settings, reply_to: Address | str | None) -> int | None:
    """The member a signed reply address was issued to (None for anyone else)."""
    spec = addr_spec(reply_to)
    if not spec:
        return None
    found = addresses.classify_recipient(spec, settings.mail.address, settings.mail.secret)
    token = found.token if found else None
    return token.member_id if token and token.member_id > 0 else None


def new_message_id(settings: Settings) -> str:
    """A fresh Message-ID in the group's domain."""
    return utils.make_msgid(domain=settings.mail.domain)


class HeaderOptions(TypedDict, total=False):
    """The optional header arguments `build_message` and `build_wire` share (see
    `build_message` for what each becomes)."""

    reply_to: Address | str | None
    auto_submitted: str  # "auto-generated" when not given
    in_reply_to: str | None
    message_id: str | None
    member_id: int | None


def _headers(
    settings: Settings, *, to: Address | str, subject: str, now: datetime,
    reply_to: Address | str | None = None, auto_submitted: str = "auto-generated",
    in_reply_to: str | None = None, message_id: str | None = None,
    member_id: int | None = None,
) -> list[tuple[str, Address | str]]:  # fmt: skip
    """The top-level headers of a message, in order, before the MIME ones (see
    `build_message` for what each parameter becomes)."""
    headers: list[tuple[str, Address | str]] = [
        ("Subject", one_line(subject)),
        ("From", group_from(settings)),
        ("To", _header_address(to)),
        ("Date", utils.format_datetime(now)),
        ("Message-ID", message_id or new_message_id(settings)),
    ]
    if reply_to:
        headers.append(("Reply-To", _header_address(reply_to)))
    headers.append(("List-Id", list_id(settings)))
    member = member_id or _member_of(settings, reply_to)
    if member:
        headers.append(("List-Unsubscribe", list_unsubscribe(settings, member)))
    headers.append(("Auto-Submitted", auto_submitted))
    if reference := plain_msg_id(in_reply_to):
        headers += [("In-Reply-To", reference), ("References", reference)]
    return headers


def build_message(
    settings: Settings,
    *,
    to: Address | str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    calendar: Part | None = None,
    attachments: Sequence[Part] = (),
    **options: Unpack[HeaderOptions],
) -> EmailMessage:
    """Compose one outgoing message.

    Parameters: `to` and `reply_to` go through `mailbox` and `subject` through
    `one_line`; `auto_submitted` is the Auto-Submitted value ("auto-generated" by
    default); `in_reply_to` (a reply's Message-ID) also becomes References;
    `message_id` is a fresh one by default; `member_id` names the member it goes to,
    for List-Unsubscribe (by default the member of a signed `reply_to`, so every reply
    address a member gets brings theirs); `calendar` becomes a third alternative
    (text/calendar) beside the text and HTML, and is also attached as `invite.ics`;
    `attachments` follow the body. Returns the message, with the alternative part
    first in any multipart/mixed. Raises `ValueError` when `to` or `reply_to` is not a
    usable address.
    """
    msg = EmailMessage(policy=POLICY)
    for name, value in _headers(settings, to=to, subject=subject, now=now, **options):
        msg[name] = value
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    if calendar is not None:
        _add_calendar(msg, calendar)
    for part in attachments:
        if part.blob:
            if msg.get_content_type() != "multipart/mixed":
                msg.make_mixed()
            msg.attach(_blob_part(part))
            continue
        maintype, _, subtype = part.content_type.partition("/")
        msg.add_attachment(
            part.data, maintype=maintype, subtype=subtype or "octet-stream",
            filename=one_line(part.filename),
        )  # fmt: skip
    return msg


@dataclass(frozen=True)
class Wire:
    """A composed message as it goes on the wire, with what the outbox keeps beside it."""

    raw: bytes
    recipient: str  # the To address (addr-spec)
    subject: str  # the Subject as a reader of the header gets it
    message_id: str
    reply_address: str = ""  # the Reply-To address (addr-spec), if any


def build_wire(
    settings: Settings,
    *,
    to: Address | str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    **options: Unpack[HeaderOptions],
) -> Wire:
    """`to_bytes(build_message(...))` for a text + HTML message (no calendar, no
    attachments), written straight to bytes: the same headers (each one folded by the
    email package, once per distinct value, or written as is when it is plain ASCII
    that folding leaves alone) and the same two quoted-printable alternatives.

    Raises `ValueError` when `to` or `reply_to` is not a usable address.
    """
    lines = []
    decoded: dict[str, str] = {}
    for name, value in _headers(settings, to=to, subject=subject, now=now, **options):
        line, decoded[name] = header_line(name, value)
        lines.append(line)
    # "=_" never occurs in quoted-printable text, so no body can hold the boundary
    boundary = f"=_{secrets.token_hex(16)}".encode("ascii")
    lines.append(b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="%s"'
                 b"\r\n\r\n" % boundary)  # fmt: skip
    for subtype, content in (("plain", text), ("html", html)):
        lines.append(b"--%s\r\n" % boundary)
        lines.append(_quoted_printable_part(subtype, content))
    lines.append(b"--%s--\r\n" % boundary)
    recipient = utils.parseaddr(decoded["To"])[1]
    return Wire(b"".join(lines), recipient, decoded["Subject"], decoded["Message-ID"],
                addr_spec(options.get("reply_to")))  # fmt: skip


def _quoted_printable_part(subtype: str, text: str) -> bytes:
    """A ``text/<subtype>`` part in UTF-8, quoted-printable, as `set_content` makes it
    (lines split as `bytes.splitlines` does, one line end after the last), then CRLF."""
    lines = text.encode("utf-8").splitlines()
    body = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).replace(b"\n", b"\r\n")
    head = (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n")  # fmt: skip
    return head.encode("ascii") + body + b"\r\n"


def header_line(name: str, value: Address | str) -> tuple[bytes, str]:
    """One header as `to_bytes` writes it (name, value, CRLF) and its value as read
    back (`str(msg[name])`), the email package skipped for a plain value
    (`plain_header_value`). Raises `ValueError` for a value holding a line break."""
    plain = plain_header_value(name, value)
    if plain is not None:
        return f"{name}: {plain}\r\n".encode("ascii"), plain
    line, header = folded_header(name, value)
    return line, str(header)


_FOLDED: dict[tuple[str, bool, str], tuple[bytes, str]] = {}
_FOLDED_MAX = 4096  # distinct values kept: a group's members' addresses, a few dates


def folded_header(name: str, value: Address | str) -> tuple[bytes, str]:
    """The email package's folding of one header (CRLF) and the header as a message holds
    it (``msg[name] = value``), made once per distinct value (an address header folds
    its value's text, so every `Address` with the same text folds alike)."""
    key = (name, isinstance(value, str), str(value))
    found = _FOLDED.get(key)
    if found is None:
        header = POLICY.header_store_parse(name, value)[1]
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        found = _FOLDED[key] = (WIRE.fold_binary(name, header), header)
    return found


def _add_calendar(msg: EmailMessage, calendar: Part) -> None:
    params = dict(calendar.params or {})
    text = calendar.data.decode("utf-8")
    msg.add_alternative(text, subtype="calendar", cte="quoted-printable", params=params)
    # The invite also travels as an attachment; the alternative stays the first child.
    msg.add_attachment(
        calendar.data,
        maintype="application",
        subtype="ics",
        filename=one_line(calendar.filename) or "invite.ics",
    )


# --- the headers of one recipient, for copies assembled from a serialised message -------

# The headers `build_message` writes that differ from one recipient to the next.
RECIPIENT_HEADERS = ("To", "Message-ID", "Reply-To", "List-Unsubscribe")


def recipient_headers(
    settings: Settings, *, to: Address | str, message_id: str,
    reply_to: Address | str | None = None, member_id: int | None = None,
) -> list[tuple[str, Address | str]]:  # fmt: skip
    """The `RECIPIENT_HEADERS` that `build_message` gives a message with these arguments,
    with the same values, in the same order; `ValueError` for an unusable address."""
    headers: list[tuple[str, Address | str]] = [
        ("To", _header_address(to)), ("Message-ID", message_id)
    ]  # fmt: skip
    if reply_to:
        headers.append(("Reply-To", _header_address(reply_to)))
    member = member_id or _member_of(settings, reply_to)
    if member:
        headers.append(("List-Unsubscribe", list_unsubscribe(settings, member)))
    return headers


_ATEXT = r"[A-Za-z0-9_+-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_PLAIN_ADDR_SPEC = re.compile(rf"{_DOT_ATOM}@{_DOT_ATOM}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9'-]+(?: [A-Za-z0-9'-]+)*")  # no specials, nothing to quote
_PLAIN_MSG_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_PLAIN_TEXT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
_PLAIN_LENGTH = 900  # well under the 998 past which `WIRE` folds


def plain_header_value(name: str, value: Address | str) -> str | None:
    """`value` as `to_bytes` writes it in header `name` (``msg[name] = value``), when it
    is plain enough to know that without the email package's parser: ASCII words and
    dot-atom addresses, well under the folding length. None for any other value."""
    kind = cast(_HeaderClasses, POLICY.header_factory)[name]
    plain: str | None = None
    if isinstance(value, Address):
        spec, shown = f"{value.username}@{value.domain}", value.display_name
        if (issubclass(kind, headerregistry.AddressHeader) and _PLAIN_ADDR_SPEC.fullmatch(spec)
                and (not shown or _PLAIN_NAME.fullmatch(shown))):  # fmt: skip
            plain = f"{shown} <{spec}>" if shown else spec
    elif issubclass(kind, headerregistry.MessageIDHeader):
        plain = value if _PLAIN_MSG_ID.fullmatch(value) else None
    elif issubclass(kind, headerregistry.UnstructuredHeader) and "=?" not in value:
        plain = value if _PLAIN_TEXT.fullmatch(value) else None
    return plain if plain is not None and len(name) + len(plain) < _PLAIN_LENGTH else None
