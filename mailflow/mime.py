"""Raw inbound bytes -> ParsedMail: best text body, attachments, calendars, automatic verdict.

This module is pure: it reads only the bytes it is given. It owns everything about MIME
(structure, transfer encodings, charsets, filenames, HTML to text) so that `replies`
only ever sees plain text. Every entry point is total: malformed input is processed as
far as possible and never raises.

Decisions worth knowing:

* Body choice: in multipart/alternative the text/plain part wins unless it is blank;
  text/html is converted with `html_to_text`. Bodies of several inline text parts
  (Apple Mail splits text around an attachment) are joined in order. A message whose
  only text is inside an attached message (forward as attachment) uses that text.
* Charsets: the declared charset is tried first (us-ascii/iso-8859-1 are read as
  windows-1252, as browsers do); text declared as a Latin charset that is valid UTF-8
  is read as UTF-8; then utf-8, windows-1252 and finally latin-1, which never fails.
* Attachments: images with a Content-ID or an inline disposition are `inline` (logos,
  pasted images) and are not resources. Calendar parts (text/calendar, application/ics,
  ``*.ics``) go to `calendars`, not attachments. Signature and key parts (S/MIME, PGP)
  and report plumbing (message/delivery-status, the returned message in a report) are
  dropped: they are transport, not content.
* Automatic mail: see `automatic_reason`. Mailing-list mail (List-Id or
  List-Unsubscribe) counts as automatic: members write to their personal reply address,
  so a list copy is never a member's own reply, and answering lists makes loops.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email import policy
from email.header import decode_header
from email.headerregistry import BaseHeader
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from functools import lru_cache
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

__all__ = [
    "IMAGE_PLACEHOLDER",
    "Attachment",
    "ParsedMail",
    "automatic_reason",
    "decode_bytes",
    "html_to_text",
    "out_of_office",
    "parse_mail",
    "sanitize_filename",
]

MAX_DEPTH = 40  # MIME nesting we follow; real mail rarely goes past 6
MAX_PARTS = 400  # parts we look at in one message
MAX_HEADER = 8192  # characters of one header we decode (decoding is superlinear)


@dataclass(frozen=True)
class Attachment:
    """One file carried by a message (sanitised name, decoded bytes)."""

    filename: str
    content_type: str
    data: bytes
    inline: bool

    @property
    def size(self) -> int:
        """Size of the decoded data in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the decoded data (the content address)."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ParsedMail:
    """What we need from one inbound message, decoded and sanitised.

    `headers` maps lower-cased header names to their first decoded value (one line).
    `automatic` is a short reason (see `automatic_reason`) or None. `calendars` holds
    the text of every text/calendar part and .ics file, which are not attachments.
    """

    message_id: str
    in_reply_to: str
    subject: str
    from_address: str
    from_name: str
    automatic: str | None
    text: str
    attachments: tuple[Attachment, ...]
    calendars: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping proxy cannot be pickled; a message read in a child process (see
        # `reading.BoundedReader`) travels back with plain-dict headers, wrapped again here.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["headers"] = dict(self.headers)
        return (_unpickle_parsed_mail, (values,))


def _unpickle_parsed_mail(values: dict[str, Any]) -> ParsedMail:
    return ParsedMail(**{**values, "headers": MappingProxyType(values["headers"])})


# --------------------------------------------------------------------------- policy

MAX_CACHED_HEADER = 1000  # longer header values are parsed each time, not kept


class _ParseOncePolicy(policy.EmailPolicy):
    """`policy.default`, except that a header value is parsed once, not at every access:
    `email` reads Content-Type a dozen times per part (type, charset, format, filename)
    and its header parser is most of the cost of parsing a message."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        """The parsed header, from a small cache of header objects (they are immutable)."""
        if isinstance(value, BaseHeader) or len(value) > MAX_CACHED_HEADER:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


@lru_cache(maxsize=512)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


POLICY = _ParseOncePolicy(header_factory=policy.default.header_factory)


# Where a plain-text part had an inline image: "[cid:image001.png@01DA...]" (Outlook),
# "[image: logo.png]" (Gmail). A plain part of nothing but these is no text at all.
IMAGE_PLACEHOLDER = re.compile(r"\[(cid|image):[^\]]*\]", re.IGNORECASE)

# --------------------------------------------------------------------------- charsets

_LATIN_LABELS = {"us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1"}
_LATIN_LABELS |= {"windows-1252", "cp1252", "iso_8859-1", "ansi_x3.4-1968", "us", "cp819"}


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode `data` declared as `charset`, falling back instead of failing.

    Order: the declared charset (Latin labels read as windows-1252; Latin-declared text
    that is valid UTF-8 read as UTF-8; a UTF-16/32 label is believed only with a byte
    order mark or NUL bytes, as real wide text has, and then read even if damaged), then
    utf-8, windows-1252 and latin-1.
    """
    label = (charset or "").strip().strip("\"'").lower()
    candidates: list[str] = []
    if label in _LATIN_LABELS:
        candidates = ["utf-8", "windows-1252"] if _has_high_bytes(data) else ["ascii"]
    elif label.startswith(("utf-16", "utf16", "utf-32", "utf32")):
        # wide text damaged in transport (CRs added to an 8-bit body) is still read as
        # wide text, with replacement characters, rather than as Latin-1 noise
        candidates = [label, f"{label}:replace"] if _looks_wide(data) else []
    elif label:
        candidates = [label]
    candidates += ["utf-8", "windows-1252", "latin-1"]
    for candidate in candidates:
        name, _, errors = candidate.partition(":")
        try:
            return data.decode(name, errors or "strict")
        except Exception:  # unknown, lying or non-text codecs: try the next
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 always succeeds above


def _has_high_bytes(data: bytes) -> bool:
    return any(b > 0x7F for b in data)


def _looks_wide(data: bytes) -> bool:
    """Whether `data` can be UTF-16/32 text: a byte order mark, or the NULs that wide
    text of any Latin script is full of."""
    return data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit header bytes arrive surrogate-escaped; read them as UTF-8."""
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return decode_bytes(raw, "utf-8")


def decode_header_value(raw: str) -> str:
    """Decode RFC 2047 encoded words in a raw header value; unfold; never raise."""
    raw = _fix_surrogates(raw[:MAX_HEADER])
    try:
        chunks = decode_header(raw)
    except Exception:
        chunks = [(raw, None)]
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            out.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            out.append(decode_bytes(chunk, charset))
    return _one_line("".join(out))


def _one_line(text: str) -> str:
    """Remove CR/LF and control characters; collapse whitespace."""
    if not text.isprintable():  # printable text has no control characters
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())


# --------------------------------------------------------------------------- headers


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    try:
        return [(str(k), str(v)) for k, v in msg.raw_items()]
    except Exception:
        return []


def _first(headers: list[tuple[str, str]], name: str) -> str:
    """The first raw value of header `name` (case-insensitive), or ""."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def _header_map(headers: list[tuple[str, str]]) -> Mapping[str, str]:
    """Lower-cased header names -> first decoded value."""
    out: dict[str, str] = {}
    for key, value in headers[:200]:
        out.setdefault(key.lower(), decode_header_value(value))
    return MappingProxyType(out)


_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def parse_from(raw: str) -> tuple[str, str]:
    """(addr-spec with lower-cased domain, display name) of a raw From value.

    Strict on purpose: the angle-addr is the address, whatever the display name looks
    like, so ``"evil@x.com" <real@y.org>`` and ``evil@x.com <real@y.org>`` both give
    real@y.org. Several addresses, or none that is valid, give ("", name); a single
    angle-addr after an unquoted comma (``Smith, Jane <j@x.org>``) is accepted.
    """
    raw = _fix_surrogates(raw[:MAX_HEADER]).replace("\r", " ").replace("\n", " ")
    outside, angles, comments = _split_address(raw)
    if len(angles) > 1 or (not angles and "," in _unquoted(raw)):
        return "", decode_header_value(outside)
    if angles:
        candidate, name = angles[0], outside
    else:
        candidate, name = outside.strip(), " ".join(comments)
    candidate = candidate.strip().split(":")[-1].strip()  # drop an obsolete source route
    if not _ADDR_SPEC.match(candidate):
        return "", decode_header_value(name)
    local, domain = candidate.rsplit("@", 1)
    return f"{local}@{domain.lower()}", decode_header_value(name).strip(" \"'")


def _unquoted(raw: str) -> str:
    """`raw` without quoted strings and comments (to count top-level commas)."""
    raw = re.sub(r'"(?:[^"\\]|\\.)*"', "", raw)
    return re.sub(r"\([^()]*\)", "", raw)


_QUOTED_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_COMMENT = re.compile(r"\(([^()]*)\)")
_ANGLE = re.compile(r"<([^<>]*)>")


def _split_address(raw: str) -> tuple[str, list[str], list[str]]:
    """Split a From value into text outside <...>, the <...> contents, and comments.

    Quoted strings are masked first, so ``"a <b@c>" <d@e>`` has one angle-addr.
    """
    quoted: list[str] = []

    def mask(match: re.Match[str]) -> str:
        quoted.append(re.sub(r"\\(.)", r"\1", match.group(1)))
        return f"\x00{len(quoted) - 1}\x00"

    masked = _QUOTED_STRING.sub(mask, raw.replace("\x00", ""))
    comments = _COMMENT.findall(masked)
    masked = _COMMENT.sub(" ", masked)
    angles = _ANGLE.findall(masked)
    outside = _ANGLE.sub(" ", masked)
    outside = re.sub(r"\x00(\d+)\x00", lambda m: quoted[int(m.group(1))], outside)
    return " ".join(outside.split()), angles, comments


# --------------------------------------------------------------------------- automatic

_AUTO_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-autogenerated",
    "x-autoresponse",
    "x-mail-autoreply",
    "x-autoreply-from",
)
_DAEMONS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|mail-?daemon|"
    r"noreply[-+.].*|.*[-+.]noreply|auto-?reply|autoresponder)$",
    re.IGNORECASE,
)
_AUTO_SUBJECTS = [
    ("out of office", r"out of (the )?office"),
    (
        "out of office",
        r"(i am|i'm|i will be|i'll be) (currently )?(out of (the )?office|away|on leave)",
    ),
    ("automatic reply", r"(automatic|auto)[- ]?(reply|response)|autoreply|autoresponse"),
    ("automatic reply", r"abwesenheitsnotiz|automatische antwort|automatisch antwoord"),
    ("automatic reply", r"r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica"),
    ("automatic reply", r"risposta automatica|ateb awtomatig|allan o'?r swyddfa"),
    ("automatic reply", r"fuera de la oficina|afwezigheidsbericht|ik ben afwezig"),
    ("automatic reply", r"odpowied[źz] automatyczna|automatyczna odpowied[źz]"),
    ("automatic reply", r"resposta autom[áa]tica|automatiskt svar|automatisk svar|autosvar"),
    ("automatic reply", r"automaattinen vastaus|automatick[áa] odpov[ěe][ďd]|otomatik yan[ıi]t"),
    ("undeliverable", r"undeliverable|undelivered mail|delivery status notification"),
    ("undeliverable", r"mail delivery (failed|failure|system)|delivery (failure|has failed)"),
    ("undeliverable", r"returned mail|failure notice|non[- ]?remis|unzustellbar"),
    ("undeliverable", r"no se puede entregar|onbestelbaar|message not delivered"),
    ("undeliverable", r"delivery delayed|delayed mail|warning: could not send"),
    ("automatic reply", r"auto:|away from (the )?office"),
    ("read receipt", r"read:|not read:|lu :|gelesen:|le[íi]do:"),
    ("message recall", r"recall:|rappel :|rückruf:"),
]
_AUTO_SUBJECT_PATTERNS = [
    (reason, re.compile(rf"\W*({pattern})(?!\w)")) for reason, pattern in _AUTO_SUBJECTS
]
# bounce wording found anywhere in the subject ("Mail System Error - Returned Mail")
_BOUNCE_ANYWHERE = re.compile(
    r"returned mail|undeliver(able|ed) mail|delivery (status notification|failure|has failed)|"
    r"mail delivery failed|failure notice",
    re.I,
)
_SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|r|rif|ynt|fw|fwd|tr|wg)\s*:\s*)*", re.I)


def automatic_reason(msg: EmailMessage, envelope_from: str | None) -> str | None:
    """Why `msg` is automatic mail (short reason text), or None for a human message.

    Signals, first match wins: empty envelope sender; multipart/report (DSN, read
    receipt) or message/delivery-status; RFC 3834 Auto-Submitted other than "no";
    X-Autoreply-style headers; Precedence bulk/junk/list/auto_reply; a daemon or
    no-reply sender; an auto-reply, bounce, read-receipt or Outlook recall subject;
    List-Id / List-Unsubscribe.
    X-Auto-Response-Suppress alone is not a signal: Outlook sets it on ordinary mail.
    """
    headers = _raw_headers(msg)
    if envelope_from is not None and envelope_from.strip() in {"", "<>"}:
        return "bounce: empty envelope sender"
    for check in (_report_reason, _header_reason, _sender_reason, _subject_reason):
        reason = check(msg, headers)
        if reason:
            return reason
    return _list_reason(headers)


def _report_reason(msg: Message, headers: list[tuple[str, str]]) -> str | None:
    ctype = _content_type(msg)
    if ctype == "multipart/report":
        kind = str(msg.get_param("report-type", "", header="content-type") or "").lower()
        if kind == "disposition-notification":
            return "read receipt: multipart/report"
        return "bounce: multipart/report"
    if ctype in {"message/delivery-status", "message/disposition-notification"}:
        return f"bounce: {ctype}"
    if _first(headers, "return-path").strip() == "<>":
        return "bounce: empty return-path"
    return None


def _header_reason(msg: Message, headers: list[tuple[str, str]]) -> str | None:
    auto = _token(_first(headers, "auto-submitted"))
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    for name in _AUTO_HEADERS:
        value = _first(headers, name)
        if value:
            return f"{name}: {_token(value) or 'yes'}"
    for name in ("precedence", "x-precedence"):
        value = _token(_first(headers, name))
        if value in {"bulk", "junk", "list", "auto_reply", "auto-reply"}:
            return f"precedence: {value}"
    return None


def _sender_reason(msg: Message, headers: list[tuple[str, str]]) -> str | None:
    for name in ("from", "sender"):
        address, _ = parse_from(_first(headers, name))
        local = address.rsplit("@", 1)[0]
        if local and _DAEMONS.match(local):
            return f"{name}: {local.lower()}"
    return None


def _subject_reason(msg: Message, headers: list[tuple[str, str]]) -> str | None:
    subject = decode_header_value(_first(headers, "subject")).lower()
    subject = _SUBJECT_PREFIX.sub("", subject)
    for reason, pattern in _AUTO_SUBJECT_PATTERNS:
        if pattern.match(subject):
            return f"subject: {reason}"
    if _BOUNCE_ANYWHERE.search(subject):
        return "subject: undeliverable"
    return None


# Out-of-office text sent without any header or subject saying so (school servers'
# own autoresponders). Both a first-person absence and an "urgent matters / no access
# to email / on my return" line are needed, so a member's "Apologies, I am on leave
# that week" is never taken for one.
_OOO_ABSENT = re.compile(
    r"\b(i am|i'm|i will be|i'll be)( currently)? (out of (the )?office|away from (the|my) "
    r"(office|desk)|on (annual |maternity |paternity |sick |study )?leave|absent|away until|"
    r"out until)|je (suis|serai) (actuellement )?(absente?|en cong[ée])|"
    r"ich bin (bis [^\n]{0,30}?)?(nicht im b[üu]ro|abwesend|im urlaub|au(ß|ss)er haus)|"
    r"estoy (fuera de la oficina|ausente|de vacaciones)|estar[ée] (fuera|ausente)|"
    r"estou (ausente|de f[ée]rias|fora do escrit[óo]rio)|estarei ausente|"
    r"sono (fuori (sede|ufficio)|assente|in ferie)|sar[òo] assente|"
    r"ik ben (afwezig|niet aanwezig|met vakantie|niet op kantoor)|"
    r"jestem (poza biurem|nieobecn[ay]|na urlopie)|"
    r"(rydw i|rwyf i?|dwi) (allan o'?r swyddfa|i ffwrdd)",
    re.IGNORECASE,
)
_OOO_HANDLING = re.compile(
    r"(no|limited|intermittent|without) access to (my )?e-?mails?|"
    r"(will not|won't|not) be\s+(checking|monitoring|reading)\s+(my |this )?e-?mails?|"
    r"please contact\s|"
    r"(respond|reply|get back to you)[^.]{0,40}\b(on|upon|when i|after) (my )?return|"
    r"(for|with) (any )?urgent (matters|enquiries|queries|issues)|if (it is|your [a-z]+ is) "
    r"urgent|"
    r"pour toute urgence|en cas d'urgence|acc[èe]s [àa] (ma|mes) (messagerie|e-?mails?)|"
    r"[àa] mon retour|in dringenden f[äa]llen|keinen zugriff auf|nach meiner r[üu]ckkehr|"
    r"asuntos urgentes|en caso de urgencia|a mi regreso|sin acceso al correo|"
    r"assuntos urgentes|sem acesso ao (correio|e-?mail)|no meu regresso|"
    r"questioni urgenti|per urgenze|accesso limitato alla posta|al mio rientro|"
    r"dringende zaken|dringende gevallen|na mijn terugkomst|geen toegang tot|"
    r"w pilnych sprawach|bez dost[ęe]pu do poczty|po moim powrocie|"
    r"mewn achos brys|heb fynediad i e-?bost",
    re.IGNORECASE,
)
# What a person answering our mail writes, and an autoresponder does not.
_OOO_HUMAN = re.compile(
    r"\?|apolog|\b(the|this|our|next|that) meeting\b|^[^\S\n]*+(q|question|item|agenda)\s*+:",
    re.IGNORECASE | re.MULTILINE,
)


def out_of_office(text: str) -> str | None:
    """The reason "body: out of office" if `text` starts as an out-of-office notice."""
    head = text.replace("\u2019", "'").strip()[:1200]
    head = re.split(r"^[^\S\n]*+>|^-{2,}+\s*+\w", head, maxsplit=1, flags=re.MULTILINE)[0]
    if not head or _OOO_HUMAN.search(head):
        return None
    if _OOO_ABSENT.search(head) and _OOO_HANDLING.search(head):
        return "body: out of office"
    return None


def _list_reason(headers: list[tuple[str, str]]) -> str | None:
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if _first(headers, name).strip():
            return f"list: {name}"
    return None


def _token(value: str) -> str:
    """The first token of a header value, lower-cased (``auto-replied; x=1`` -> ...)."""
    value = decode_header_value(value).split(";")[0].strip().lower()
    return value.split()[0] if value else ""


# --------------------------------------------------------------------------- filenames

_RESERVED = {"con", "prn", "aux", "nul", "clock$"} | {f"com{i}" for i in range(10)}
_RESERVED |= {f"lpt{i}" for i in range(10)} | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³"}
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/rtf": ".rtf",
    "application/zip": ".zip",
    "application/ics": ".ics",
    "message/rfc822": ".eml",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/calendar": ".ics",
}
_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
MAX_FILENAME = 200
MAX_FILENAME_BYTES = 255


def sanitize_filename(name: str, content_type: str = "application/octet-stream") -> str:
    """A filename safe to store and to offer for download on any OS.

    Keeps the last path component only, removes control/format characters and
    Windows-illegal characters, collapses dot runs (no ``..``), strips leading and
    trailing dots and spaces, prefixes Windows device names (``CON.txt`` ->
    ``_CON.txt``) and caps the length at 200 characters (255 UTF-8 bytes) keeping the
    extension. An empty result becomes ``attachment`` + an extension for the type.
    """
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\.{2,}", ".", " ".join(name.split()))
    name = name.strip(" ._") if set(name) <= {".", "_", " "} else name.strip(" .")
    if not name:
        ext = _EXTENSIONS.get(content_type.lower().split(";")[0].strip(), ".bin")
        return "attachment" + ext
    if name.split(".")[0].strip().lower() in _RESERVED:
        name = "_" + name
    return _truncate(name)


def _truncate(name: str) -> str:
    """Cap `name` at MAX_FILENAME characters / MAX_FILENAME_BYTES, keeping the extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16 or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    while len(stem + ext) > MAX_FILENAME or len((stem + ext).encode()) > MAX_FILENAME_BYTES:
        stem = stem[: max(1, min(len(stem) - 1, MAX_FILENAME - len(ext)))]
        if len(stem) <= 1:
            break
    return (stem.rstrip(" .") or "attachment") + ext


# --------------------------------------------------------------------------- HTML to text

_BLOCK = {
    "address", "article", "aside", "center", "dd", "div", "dl", "dt", "fieldset",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "main",
    "nav", "ol", "section", "table", "tbody", "thead", "tfoot", "ul", "pre", "caption",
}  # fmt: skip
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "object", "xml"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "param", "source", "track", "wbr",
}  # fmt: skip
_REPLY_HEADER_STYLE = re.compile(
    r"border-top:\s*solid\s+#(e1e1e1|b5c4df)|border-top:\s*1(\.0)?pt\s+solid\s+rgb\(225,\s*225,\s*225\)",
    re.IGNORECASE,
)
_REPLY_HEADER_IDS = ("divrplyfwdmsg", "appendonsend")
OUTLOOK_SEPARATOR = "_" * 32
MAX_HTML_DEPTH = 256


@dataclass
class _Open:
    """An open HTML element and what it means for the text inside it."""

    tag: str
    quote: bool = False
    skip: bool = False
    pre: bool = False
    mso: bool = False
    list_kind: str = ""
    counter: int = 0


class _TextExtractor(HTMLParser):
    """Collect lines of text, each with its blockquote depth, from an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.stack: list[_Open] = []
        self.counts = {"quote": 0, "skip": 0, "pre": 0}  # open elements of each sort

    def depth(self) -> int:
        return self.counts["quote"]

    def skipping(self) -> bool:
        return self.counts["skip"] > 0

    def push(self, el: _Open) -> None:
        if len(self.stack) >= MAX_HTML_DEPTH:  # absurd nesting: treat deeper tags as inline
            return
        self.stack.append(el)
        self._count(el, 1)

    def pop(self) -> _Open:
        el = self.stack.pop()
        self._count(el, -1)
        return el

    def _count(self, el: _Open, step: int) -> None:
        for name, flag in (("quote", el.quote), ("skip", el.skip), ("pre", el.pre)):
            if flag:
                self.counts[name] += step

    def flush(self, *, force: bool = False) -> None:
        text = "".join(self.current).strip()
        if text or force:
            self.lines.append((self.depth(), text))
        self.current = []

    def blank(self) -> None:
        self.flush()
        self.lines.append((self.depth(), ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k.lower(): (v or "") for k, v in attrs}
        if tag in _VOID:
            if not self.skipping() and tag in {"br", "hr"}:
                self.flush(force=tag == "br")
            return
        classes = attr.get("class", "").lower()
        style = attr.get("style", "").lower().replace(" ", "")
        el = _Open(tag, pre=tag == "pre", mso=classes.startswith("mso"))
        el.skip = tag in _SKIP or "display:none" in style
        if not self.skipping() and self._reply_header(attr):
            self.flush()
            self.lines.append((self.depth(), OUTLOOK_SEPARATOR))
        self._open_block(el, classes)
        self.push(el)

    def _reply_header(self, attr: dict[str, str]) -> bool:
        ident = attr.get("id", "").lower()
        return ident.startswith(_REPLY_HEADER_IDS) or bool(
            _REPLY_HEADER_STYLE.search(attr.get("style", ""))
        )

    def _open_block(self, el: _Open, classes: str) -> None:
        tag = el.tag
        if tag == "blockquote" or "yahoo_quoted" in classes:
            self.flush()
            el.quote = True
        elif (tag in _PARAGRAPH or tag in _BLOCK) and self._bullet_waiting():
            pass  # "<li><div>text": the text goes on the bullet's line
        elif tag in _PARAGRAPH:
            self.flush() if el.mso else self.blank()
        elif tag in _BLOCK or tag == "tr":
            self.flush()
        elif tag == "li":
            self.flush()
            self.current.append(self._bullet())
        elif tag in {"td", "th"} and not self._line_blank():
            self.current.append(" ")
        if tag in {"ul", "ol"}:
            el.list_kind = tag

    def _bullet_waiting(self) -> bool:
        """Whether the line so far is only a list bullet, waiting for its text."""
        return bool(re.fullmatch(r"\s*(?:-|\d+\.) ", "".join(self.current)))

    def _bullet(self) -> str:
        lists = [el for el in self.stack if el.list_kind]
        if not lists:
            return "- "
        indent = "  " * (len(lists) - 1)
        if lists[-1].list_kind == "ol":
            lists[-1].counter += 1
            return f"{indent}{lists[-1].counter}. "
        return indent + "- "

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(el.tag == tag for el in self.stack):
            return
        while self.stack:
            el = self.stack[-1]
            if el.tag in _PARAGRAPH:
                self.flush(force=True) if el.mso else self.blank()
            elif el.tag in _BLOCK or el.tag in {"li", "tr", "blockquote"} or el.quote:
                self.flush()
            self.pop()
            if el.tag == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.skipping():
            return
        if self.counts["pre"]:
            parts = data.replace("\r\n", "\n").split("\n")
            for part in parts[:-1]:
                self.current.append(part)
                self.flush(force=True)
            self.current.append(parts[-1])
            return
        text = re.sub(r"[ \t\r\n\f\v]+", " ", data.replace("\xa0", " "))
        if self._line_blank():
            text = text.lstrip(" ")
        if text:  # no empty parts, so that _line_blank stops at the first part
            self.current.append(text)

    def _line_blank(self) -> bool:
        """Whether the line so far has no text (without joining it: a line of many
        short tags would make that quadratic)."""
        return not any(part.strip() for part in self.current)


# A "<" with another "<" after it before any ">" opens no tag: it is text. The standard
# parser reads such a tag name to the end of the text each time ("<a<a<a...": 100 KB
# took 8 s), so it is escaped first.
_UNCLOSED_TAG = re.compile(r"<(?=[^<>]*+<)")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML mail body.

    Keeps paragraphs, line breaks and list items (``- `` / ``1. ``), drops
    script/style/head and hidden elements, decodes entities, prefixes blockquote
    content (and Yahoo's quoted div) with ``> `` per level, and marks Outlook's reply
    header (divRplyFwdMsg / ``border-top:solid #E1E1E1``) with an underscore separator
    line, so quote stripping treats what follows as the original message.
    """
    parser = _TextExtractor()
    try:
        parser.feed(_UNCLOSED_TAG.sub("&lt;", html))
        parser.close()
    except Exception:  # keep whatever was collected before the fault
        pass
    parser.flush()
    return _render_lines(parser.lines)


def _render_lines(lines: list[tuple[int, str]]) -> str:
    """Join (depth, text) lines, collapsing runs of blank lines."""
    out: list[str] = []
    for depth, text in lines:
        line = ("> " * depth + text).rstrip()
        if not line.strip("> ") and out and not out[-1].strip("> "):
            continue
        out.append(line)
    while out and not out[0].strip("> "):
        out.pop(0)
    while out and not out[-1].strip("> "):
        out.pop()
    return "\n".join(out)


# --------------------------------------------------------------------------- structure


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return _fix_surrogates(str(name)) if name else ""


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name, "", header="content-type")
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


def _children(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)][:MAX_PARTS]
    return []


def _payload(part: Message) -> bytes:
    """Decoded transfer encoding of a leaf part; raw bytes if decoding fails."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


_PLUMBING = {
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
    "text/rfc822-headers",
    "text/vcard",  # a contact card (Thunderbird's "attach my vCard"): not a resource
    "text/x-vcard",
    "text/directory",
    "text/x-amp-html",
    "application/ms-tnef",  # winmail.dat: Outlook's rich-text copy of the body
}


_ITIP_ANSWER = re.compile(rb"^METHOD[ \t]*:[ \t]*(REPLY|COUNTER|REFRESH)\b", re.M | re.I)


def _other_event(data: bytes) -> bool:
    """Whether an attached calendar file is a calendar that answers nothing of ours (an
    event to share); anything else is left to the RSVP reader, which says what is wrong."""
    return b"BEGIN:VCALENDAR" in data.upper() and not _ITIP_ANSWER.search(data)


def _kind(part: Message) -> str:
    """Classify a leaf: text, html, calendar, attachment or skip."""
    ctype = _content_type(part)
    name = _filename(part)
    lowered = name.lower()
    signature = lowered.endswith((".p7s", ".asc", ".sig", ".vcf"))
    if ctype in _PLUMBING or signature or lowered == "winmail.dat":  # TNEF as octet-stream
        return "skip"
    attached = _disposition(part) == "attachment"
    if ctype in {"text/calendar", "application/ics"} or lowered.endswith(".ics"):
        # an attached calendar file that answers nothing (another event, PUBLISH) is a
        # resource; replies, counters and inline calendars are for the RSVP reader
        return "attachment" if attached and _other_event(_payload(part)) else "calendar"
    is_file = bool(name) or attached
    if ctype == "text/plain" and not is_file:
        return "text"
    if ctype == "text/html" and not is_file:
        return "html"
    return "attachment"


def _part_text(part: Message) -> str:
    """The decoded text of a text/plain or text/html leaf (format=flowed undone)."""
    text = decode_bytes(_payload(part), _param(part, "charset") or None).lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _content_type(part) == "text/html":
        return html_to_text(text)
    if _param(part, "format").lower() == "flowed":
        return unflow(text, delsp=_param(part, "delsp").lower() == "yes")
    return text


def unflow(text: str, *, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth."""
    out: list[str] = []
    buf: str | None = None
    buf_depth = 0
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        depth = len(line) - len(stripped)
        content = stripped[1:] if stripped.startswith(" ") else stripped
        soft = content.endswith(" ") and content.rstrip() != "--"
        if soft and delsp:
            content = content[:-1]
        if buf is not None and depth == buf_depth:
            buf += content
        else:
            if buf is not None:
                out.append(_quoted(buf_depth, buf))
            buf, buf_depth = content, depth
        if not soft:
            out.append(_quoted(buf_depth, buf))
            buf = None
    if buf is not None:
        out.append(_quoted(buf_depth, buf))
    return "\n".join(out)


def _quoted(depth: int, text: str) -> str:
    return (">" * depth + " " + text) if depth else text


# --------------------------------------------------------------------------- the walk


@dataclass
class _Collected:
    """Everything gathered while walking the MIME tree."""

    attachments: list[Attachment] = field(default_factory=list)
    calendars: list[str] = field(default_factory=list)
    nested_text: list[str] = field(default_factory=list)
    parts_seen: int = 0


def _body(part: Message, got: _Collected, depth: int = 0) -> tuple[str, bool]:
    """(text, has_plain) of `part`; attachments and calendars go into `got`."""
    got.parts_seen += 1
    if depth > MAX_DEPTH or got.parts_seen > MAX_PARTS:
        return "", False
    ctype = _content_type(part)
    if ctype == "message/rfc822" and _disposition(part) == "attachment":
        got.attachments.append(_attached_message(part))  # forwarded as an attachment
        return "", False
    if ctype.startswith("multipart/") or ctype == "message/rfc822":
        return _container(part, ctype, got, depth)
    kind = _kind(part)
    if kind in {"text", "html"}:
        return _part_text(part), kind == "text"
    if kind == "calendar":
        got.calendars.append(_calendar_text(part))
    elif kind == "attachment":
        got.attachments.append(_attachment(part))
    return "", False


def _container(part: Message, ctype: str, got: _Collected, depth: int) -> tuple[str, bool]:
    children = _children(part) or _reparse_without_boundary(part, ctype)
    if ctype == "message/rfc822":
        inner = [_body(child, got, depth + 1)[0] for child in children]
        got.nested_text.extend(t for t in inner if t.strip())
        return "", False
    if ctype == "multipart/report":
        children = [c for c in children if not _content_type(c).startswith("message/")]
    if ctype == "multipart/alternative":
        return _alternative(children, got, depth)
    results = [_body(child, got, depth + 1) for child in children]
    texts = [text.strip("\n") for text, _ in results if text.strip()]
    return "\n\n".join(texts), any(plain for _, plain in results)


def _alternative(children: list[Message], got: _Collected, depth: int) -> tuple[str, bool]:
    """The text of a multipart/alternative: its first plain text with words in it, else
    its last part with any text. An HTML part after such a plain text is not converted
    (the slowest step of reading a message); parts inside a container still are, for
    the files they may hold."""
    results: list[tuple[str, bool]] = []
    for child in children:
        if _has_text(results) and _kind(child) == "html" and not _is_container(child):
            got.parts_seen += 1
            continue
        results.append(_body(child, got, depth + 1))
    for text, plain in results:
        if plain and IMAGE_PLACEHOLDER.sub("", text).strip():
            return text, True
    return next(((t, p) for t, p in reversed(results) if t.strip()), ("", False))


def _has_text(results: list[tuple[str, bool]]) -> bool:
    return any(plain and IMAGE_PLACEHOLDER.sub("", text).strip() for text, plain in results)


def _is_container(part: Message) -> bool:
    ctype = _content_type(part)
    return ctype.startswith("multipart/") or ctype == "message/rfc822"


def _reparse_without_boundary(part: Message, ctype: str) -> list[Message]:
    """Children of a multipart whose boundary parameter is missing or wrong.

    The boundary is guessed from the first ``--token`` line of the body and the part is
    parsed again with it; if that finds nothing, the body is read as one text part.
    """
    if not ctype.startswith("multipart/"):
        return []
    body = _payload(part)
    match = re.search(rb"^--([^\s-][^\s]{0,69}?)\s*$", body, re.MULTILINE)
    if match:
        boundary = match.group(1).decode("ascii", "replace").replace('"', "")
        head = f'Content-Type: {ctype}; boundary="{boundary}"\n\n'.encode()
        reparsed = BytesParser(policy=POLICY).parsebytes(head + body)
        children = _children(reparsed)
        if children:
            return children
    fallback = EmailMessage()
    fallback.set_content(decode_bytes(body))
    return [fallback]


def _calendar_text(part: Message) -> str:
    data = _payload(part)
    charset = _param(part, "charset") or "utf-8"
    text = decode_bytes(data, charset) if charset else decode_bytes(data)
    return text.lstrip("\ufeff")


def _attached_message(part: Message) -> Attachment:
    """A message/rfc822 attachment, kept whole as an .eml file."""
    try:
        inner = part.get_payload(0)
        data = inner.as_bytes() if isinstance(inner, Message) else _payload(part)
    except Exception:
        data = _payload(part)
    name = _filename(part) or "forwarded message.eml"
    return Attachment(filename=sanitize_filename(name, "message/rfc822"),
                      content_type="message/rfc822", data=data, inline=False)  # fmt: skip


def _attachment(part: Message) -> Attachment:
    ctype = _content_type(part)
    disposition = _disposition(part)
    try:
        has_cid = bool(part.get("content-id"))
    except Exception:
        has_cid = False
    data = _payload(part)
    name = _filename(part)
    inline = ctype.startswith("image/") and disposition != "attachment"
    inline = inline and (has_cid or disposition == "inline") and not _photo(name, len(data))
    return Attachment(
        filename=sanitize_filename(name, ctype),
        content_type=ctype,
        data=data,
        inline=inline,
    )


PHOTO_BYTES = 100_000  # inline images this large with a real name are photos, not logos
# Names mail clients give embedded images, and what signature images are called.
_DECORATION = re.compile(
    r"^(image\d{0,3}|att\d+|pastedgraphic-?\d*|pasted ?image( \d+)?|outlook-[\w-]{0,12}|"
    r"~wrd\d+|graycol|ecblank)\.\w+$|"
    r"logo|signature|banner|icon|badge|facebook|twitter|linkedin|instagram|youtube|tiktok",
    re.IGNORECASE,
)


def _photo(name: str, size: int) -> bool:
    """True for an inline image that is content: large and named like a file the
    member chose (Apple Mail sends attached photos inline, ``IMG_4821.jpeg``)."""
    name = name.strip()
    if size < PHOTO_BYTES or not name:
        return False
    return not _DECORATION.search(name)


# --------------------------------------------------------------------------- entry points


def parse_mail(raw: bytes, *, envelope_from: str | None = None) -> ParsedMail:
    """Parse raw message bytes into a ParsedMail. Never raises.

    `envelope_from` is the SMTP MAIL FROM: None when unknown (a file), "" for the null
    reverse-path ``<>`` (a bounce).
    """
    try:
        msg = BytesParser(policy=POLICY).parsebytes(bytes(raw))
        assert isinstance(msg, EmailMessage)
        return _parse(msg, envelope_from)
    except Exception:
        return _fallback(bytes(raw) if isinstance(raw, bytes | bytearray) else b"", envelope_from)


def _parse(msg: EmailMessage, envelope_from: str | None) -> ParsedMail:
    headers = _raw_headers(msg)
    got = _Collected()
    text, _ = _body(msg, got)
    if not text.strip() and got.nested_text:
        text = "\n\n".join(got.nested_text)
    address, name = parse_from(_first(headers, "from"))
    return ParsedMail(
        message_id=_one_line(_first(headers, "message-id")),
        in_reply_to=_one_line(_first(headers, "in-reply-to")),
        subject=decode_header_value(_first(headers, "subject")),
        from_address=address,
        from_name=name,
        automatic=_safe_reason(msg, envelope_from) or out_of_office(text),
        text=text.strip("\n"),
        attachments=tuple(got.attachments),
        calendars=tuple(got.calendars),
        headers=_header_map(headers),
    )


def _safe_reason(msg: EmailMessage, envelope_from: str | None) -> str | None:
    try:
        return automatic_reason(msg, envelope_from)
    except Exception:
        return "unreadable: automatic check failed"


def _fallback(raw: bytes, envelope_from: str | None) -> ParsedMail:
    """Headers only plus the undecoded body, for messages the full parser gives up on."""
    try:
        msg = BytesHeaderParser(policy=POLICY).parsebytes(raw)
        headers = _raw_headers(msg)
    except Exception:
        headers = []
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    address, name = parse_from(_first(headers, "from"))
    empty_sender = envelope_from is not None and envelope_from.strip() in {"", "<>"}
    return ParsedMail(
        message_id=_one_line(_first(headers, "message-id")),
        in_reply_to=_one_line(_first(headers, "in-reply-to")),
        subject=decode_header_value(_first(headers, "subject")),
        from_address=address,
        from_name=name,
        automatic="bounce: empty envelope sender" if empty_sender else None,
        text=decode_bytes(body if head else raw).strip("\n"),
        attachments=(),
        calendars=(),
        headers=_header_map(headers),
    )
