"""Members: adding, importing from CSV, listing and removing (deactivating)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
    try:
        addr = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError):
        raise UserError(f"not a valid email address: {value!r}") from None
    domain = addr.domain.lower()
    if not addr.username or "." not in domain or addr.addr_spec != value or " " in value:
        raise UserError(f"not a valid email address: {value!r}")
    return f"{addr.username}@{domain}"


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
    """Add a member, or re-activate a removed one; `UserError` if already active."""
    address = normalise_email(email)
    if not name.strip():
        raise UserError(f"{address}: a name is required")
    role = _check_role(role)
    member = find_member(session, address)
    if member is not None and member.active:
        raise UserError(f"{address} is already a member")
    if member is None:
        member = Member(email=address, created_at=now)
        session.add(member)
    member.name, member.organisation, member.role = name.strip(), organisation.strip(), role
    member.active = True
    session.flush()
    return member


@dataclass
class ImportReport:
    """What `import_members` did."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already members, or twice in the file


def _read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple((h or "").strip().lower() for h in reader.fieldnames or ())
    missing = [c for c in ("email", "name") if c not in header]
    if missing:
        raise UserError(f"CSV header must be {','.join(CSV_HEADER)} (missing {missing[0]})")
    unknown = [h for h in header if h not in CSV_HEADER]
    if unknown:
        raise UserError(f"CSV header: unknown column {unknown[0]!r}")
    rows = []
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if None in row:
            raise UserError(f"row {reader.line_num}: more fields than the header has")
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    return rows


def import_members(session: Session, text: str, *, now: datetime) -> ImportReport:
    """Import members from CSV text (header email,name,organisation,role): all or nothing.

    A bad row raises `UserError` naming its row number and nothing is imported; addresses
    that are already members or appear twice are reported, not doubled.
    """
    report = ImportReport()
    seen: set[str] = set()
    valid: list[tuple[int, str, dict[str, str]]] = []
    for line, row in _read_rows(text):
        try:
            address = normalise_email(row.get("email", ""))
            if not row.get("name"):
                raise UserError("a name is required")
            _check_role(row.get("role", ""))
        except UserError as exc:
            raise UserError(f"row {line}: {exc}") from None
        if address.lower() in seen:
            report.skipped.append(f"row {line}: {address} appears twice in the file")
            continue
        seen.add(address.lower())
        valid.append((line, address, row))
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
