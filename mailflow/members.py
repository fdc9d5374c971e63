"""Members: adding, importing from CSV, editing, listing and removing (deactivating).

Names, organisations and addresses end up in the headers of the mail we send, so they
are refused when they hold a control character (CR, LF, NUL, ...), whether raw or
inside an RFC 2047 encoded word, which mail software decodes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow import compose
from mailflow.errors import UserError
from mailflow.models import Member

ROLES = ("member", "coordinator")
CSV_HEADER = ("email", "name", "organisation", "role")
BOUNCE_WARNING = 3  # bounces after which `members list` flags an address


def normalise_email(text: str) -> str:
    """Validate an address and normalise it: spaces trimmed, domain lower-cased.

    Raises `UserError` for anything that is not a plain ``local@domain`` address.
    """
    value = text.strip()
    if compose.has_control(value) or "=?" in value:  # no header can carry it safely
        raise UserError(f"not a valid email address: {value!r}")
    try:
        addr = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError):
        raise UserError(f"not a valid email address: {value!r}") from None
    domain = addr.domain.lower()
    if not addr.username or "." not in domain or addr.addr_spec != value or " " in value:
        raise UserError(f"not a valid email address: {value!r}")
    return f"{addr.username}@{domain}"


def check_text(label: str, value: str) -> str:
    """`value`, if it holds no control character, raw or inside an encoded word.

    Raises `UserError` naming `label` otherwise, or if an encoded word cannot be decoded.
    """
    if compose.has_control(value):
        raise UserError(f"{label} contains a line break or control character: {value!r}")
    if "=?" not in value:
        return value
    try:
        decoded = str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, HeaderParseError):
        raise UserError(f"{label} has an undecodable encoded word: {value!r}") from None
    if compose.has_control(decoded):
        raise UserError(f"{label} encodes a line break or control character: {value!r}")
    return value


def find_member(session: Session, email: str) -> Member | None:
    """The member with this address (case-insensitive), active or not."""
    return session.scalar(select(Member).where(func.lower(Member.email) == email.strip().lower()))


def _check_role(role: str) -> str:
    role = role.strip().lower() or "member"
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (expected member or coordinator)")
    return role


def add_member(
    session: Session, *, email: str, name: str, organisation: str = "", role: str = "member",
    now: datetime,
) -> Member:  # fmt: skip
    """Add a member, or re-activate a removed one.

    Raises `UserError` if already active, or for a bad address, name, organisation or role.
    """
    address = normalise_email(email)
    name, organisation = name.strip(), organisation.strip()
    if not name:
        raise UserError(f"{address}: a name is required")
    try:
        check_text("name", name)
        check_text("organisation", organisation)
    except UserError as exc:
        raise UserError(f"{address}: {exc}") from None
    role = _check_role(role)
    member = find_member(session, address)
    if member is not None and member.active:
        raise UserError(f"{address} is already a member")
    if member is None:
        member = Member(email=address, created_at=now)
        session.add(member)
    member.name, member.organisation, member.role = name, organisation, role
    member.active, member.left_at = True, None
    session.flush()
    return member


def edit_member(
    session: Session, email: str, *, name: str | None = None, organisation: str | None = None,
    role: str | None = None, new_email: str | None = None,
) -> Member:  # fmt: skip
    """Change a member's details in place: their id, and with it their items, votes and
    attendance, stays the same. Only the given fields change.

    Raises `UserError` for an unknown member, a bad value, or a new address that is
    already someone else's.
    """
    member = find_member(session, normalise_email(email))
    if member is None:
        raise UserError(f"{email.strip()} is not a member")
    if name is not None:
        if not name.strip():
            raise UserError("a name is required")
        member.name = check_text("name", name.strip())
    if organisation is not None:
        member.organisation = check_text("organisation", organisation.strip())
    if role is not None:
        member.role = _check_role(role)
    if new_email is not None:
        address = normalise_email(new_email)
        other = find_member(session, address)
        if other is not None and other.id != member.id:
            raise UserError(f"{address} is already the address of {other.name}")
        member.email = address
    session.flush()
    return member


@dataclass
class ImportReport:
    """What `import_members` did."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already members, or twice in the file


def _read_rows(text: str) -> list[tuple[int, dict[str, str] | str]]:
    """The non-empty rows, each with the line it starts on, as fields or as an error.

    Fields are separated by commas, or by semicolons when the header line has a semicolon
    and no comma (Excel writes those where the decimal separator is a comma)."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("email", "name") if c not in header]
    if missing:
        raise UserError(f"CSV header must be {','.join(CSV_HEADER)} (missing {missing[0]})")
    unknown = [h for h in header if h not in CSV_HEADER]
    if unknown:
        raise UserError(f"CSV header: unknown column {unknown[0]!r}")
    rows: list[tuple[int, dict[str, str] | str]] = []
    start = reader.line_num + 1
    for fields in reader:
        if len(fields) > len(header):
            rows.append((start, "more fields than the header has"))
        elif any(f.strip() for f in fields):
            rows.append((start, {h: f.strip() for h, f in zip(header, fields, strict=False)}))
        start = reader.line_num + 1  # a quoted field may span several lines
    return rows


def _check_row(row: dict[str, str]) -> str:
    """The row's normalised address; `UserError` for anything `add_member` would refuse."""
    address = normalise_email(row.get("email", ""))
    if not row.get("name"):
        raise UserError("a name is required")
    check_text("name", row["name"])
    check_text("organisation", row.get("organisation", ""))
    _check_role(row.get("role", ""))
    return address


def import_members(session: Session, text: str, *, now: datetime) -> ImportReport:
    """Import members from CSV text (header email,name,organisation,role): all or nothing.

    Bad rows raise one `UserError` naming every one of them with its row number (the
    line it starts on), and nothing is imported; addresses that are already members or
    appear twice are reported, not doubled.
    """
    report = ImportReport()
    seen: set[str] = set()
    valid: list[tuple[int, str, dict[str, str]]] = []
    errors: list[str] = []
    for line, row in _read_rows(text):
        try:
            if isinstance(row, str):
                raise UserError(row)
            address = _check_row(row)
        except UserError as exc:
            errors.append(f"row {line}: {exc}")
            continue
        if address.lower() in seen:
            report.skipped.append(f"row {line}: {address} appears twice in the file")
            continue
        seen.add(address.lower())
        valid.append((line, address, row))
    if errors:
        raise UserError(f"{'; '.join(errors)} (nothing imported)")
    for line, address, row in valid:
        existing = find_member(session, address)
        if existing is not None and existing.active:
            report.skipped.append(f"row {line}: {address} is already a member")
            continue
        add_member(
            session, email=address, name=row["name"], organisation=row.get("organisation", ""),
            role=row.get("role", "") or "member", now=now,
        )  # fmt: skip
        report.added.append(address)
    return report


def list_members(session: Session, *, include_inactive: bool = True) -> Sequence[Member]:
    """Members ordered by name."""
    query = select(Member).order_by(Member.name, Member.email)
    if not include_inactive:
        query = query.where(Member.active.is_(True))
    return session.scalars(query).all()


def active_members(session: Session) -> Sequence[Member]:
    """Members who receive mail, ordered by name."""
    return list_members(session, include_inactive=False)


def remove_member(session: Session, email: str) -> Member:
    """Deactivate a member; their items and attendance stay."""
    member = find_member(session, normalise_email(email))
    if member is None or not member.active:
        raise UserError(f"{email.strip()} is not an active member")
    member.active = False
    return member


def member_json(member: Member) -> dict[str, Any]:
    """A member in the DESIGN.md JSON shape (plus bounce counts)."""
    return {
        "email": member.email,
        "name": member.name,
        "organisation": member.organisation,
        "role": member.role,
        "active": member.active,
        "bounces": member.bounces,
    }
