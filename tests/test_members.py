"""`mailflow members`: add, import (all or nothing), list, remove."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from mailflow.cli.base import new_table
from tests.conftest import Cli


def members(cli: Cli) -> list[dict[str, object]]:
    result = cli("members", "list", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_add_normalises_and_lists(cli: Cli) -> None:
    result = cli("members", "add", "  Jane.Smith@Hamble.HANTS.sch.uk ", "--name", "Jane Smith",
                 "--org", "Hamble Primary")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert members(cli) == [
        {"email": "Jane.Smith@hamble.hants.sch.uk", "name": "Jane Smith",
         "organisation": "Hamble Primary", "role": "member", "active": True, "bounces": 0}
    ]  # fmt: skip


def test_add_twice_is_an_error(cli: Cli) -> None:
    assert cli("members", "add", "a@school.org", "--name", "A").exit_code == 0
    again = cli("members", "add", "A@SCHOOL.ORG", "--name", "A")
    assert again.exit_code == 1
    assert again.stderr.strip() == "mailflow: A@school.org is already a member"


def test_bad_address_and_role(cli: Cli) -> None:
    bad = cli("members", "add", "not-an-address", "--name", "X")
    assert bad.exit_code == 1 and "not a valid email address" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    role = cli("members", "add", "x@school.org", "--name", "X", "--role", "boss")
    assert role.exit_code == 1 and "unknown role" in role.stderr


def test_import_reports_duplicates(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "members.csv"
    csv.write_text(
        "email,name,organisation,role\n"
        "jane@hamble.sch.uk,Jane Smith,Hamble Primary,member\n"
        "sam@west.sch.uk,Sam Patel,West End Primary,coordinator\n"
        "JANE@hamble.sch.uk,Jane again,Hamble Primary,member\n",
        encoding="utf-8",
    )
    result = cli("members", "import", str(csv))
    assert result.exit_code == 0, result.stderr
    assert "row 4: JANE@hamble.sch.uk appears twice" in result.stdout
    assert [m["email"] for m in members(cli)] == ["jane@hamble.sch.uk", "sam@west.sch.uk"]
    again = cli("members", "import", str(csv))
    assert "imported 0 member(s)" in again.stdout


def test_import_with_a_bad_row_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "members.csv"
    csv.write_text(
        "email,name,organisation,role\n"
        "jane@hamble.sch.uk,Jane Smith,Hamble Primary,member\n"
        "sam at west,Sam Patel,West End Primary,member\n",
        encoding="utf-8",
    )
    result = cli("members", "import", str(csv))
    assert result.exit_code == 1
    assert result.stderr.startswith("mailflow: row 3: not a valid email address")
    assert members(cli) == []


def test_import_bad_header(cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "members.csv"
    csv.write_text("mail,fullname\nx@y.org,X\n", encoding="utf-8")
    result = cli("members", "import", str(csv))
    assert result.exit_code == 1 and "CSV header" in result.stderr


def test_remove_deactivates(cli: Cli) -> None:
    cli("members", "add", "a@school.org", "--name", "A")
    assert cli("members", "remove", "a@school.org").exit_code == 0
    assert members(cli)[0]["active"] is False
    assert cli("members", "remove", "a@school.org").exit_code == 1
    assert cli("members", "add", "a@school.org", "--name", "A").exit_code == 0
    assert members(cli)[0]["active"] is True


def test_import_reads_excel_windows_csv_and_utf8_with_bom(cli: Cli, tmp_path: Path) -> None:
    windows = tmp_path / "windows.csv"  # Excel on Windows, "CSV (Comma delimited)"
    windows.write_bytes("email,name,organisation,role\r\nzoe@hamble.sch.uk,Zoë Brontë,"
                        "École Hamble,member\r\n".encode("cp1252"))  # fmt: skip
    result = cli("members", "import", str(windows))
    assert result.exit_code == 0, result.stderr
    assert "read it as Windows-1252" in result.stdout
    bom = tmp_path / "bom.csv"  # Excel's "CSV UTF-8"
    bom.write_bytes(b"\xef\xbb\xbf" + "email,name\r\nrene@dijon.example,René Ça\r\n".encode())
    assert cli("members", "import", str(bom)).exit_code == 0
    assert sorted((m["name"], m["organisation"]) for m in members(cli)) == [
        ("René Ça", ""),
        ("Zoë Brontë", "École Hamble"),
    ]


def test_members_list_keeps_long_addresses_whole_when_piped(cli: Cli) -> None:
    address = "deputy.headteacher.designated.safeguarding@st-bartholomews-primary.hants.sch.uk"
    school = "St Bartholomew's Church of England Primary School"
    name = "Alexandra Fitzwilliam-Montgomery"
    assert cli("members", "add", address, "--name", name, "--org", school).exit_code == 0
    listed = cli("members", "list").stdout
    assert address in listed and school in listed and name in listed


def test_import_reads_semicolons_and_names_every_bad_row(cli: Cli, tmp_path: Path) -> None:
    """European Excel: Windows-1252 and semicolons; two bad rows are both named."""
    csv = tmp_path / "members.csv"
    csv.write_bytes(
        "email;name;organisation;role\r\n"
        "zoe@hamble.sch.uk;Zoë Brontë;École Hamble;member\r\n"
        "not-an-address;Sam Patel;West End;member\r\n"
        "ruth@bursledon.sch.uk;;Bursledon;member\r\n".encode("cp1252")
    )
    result = cli("members", "import", str(csv))
    assert result.exit_code == 1
    assert "row 3: not a valid email address" in result.stderr
    assert "row 4: a name is required" in result.stderr
    assert members(cli) == []
    csv.write_bytes("email;name;organisation\r\nzoe@hamble.sch.uk;Zoë Brontë;École\r\n"
                    .encode("cp1252"))  # fmt: skip
    assert cli("members", "import", str(csv), "--quiet").exit_code == 0
    assert [(m["name"], m["organisation"]) for m in members(cli)] == [("Zoë Brontë", "École")]


def test_a_narrow_terminal_folds_addresses_rather_than_cut_them() -> None:
    address = "deputy.headteacher.designated.safeguarding@st-bartholomews-primary.hants.sch.uk"
    grid = new_table("email", "name", "organisation")
    grid.add_row(address, "Alexandra Fitzwilliam-Montgomery", "St Bartholomew's C of E Primary")
    narrow = Console(width=60, file=io.StringIO())
    narrow.print(grid)
    rows = [line.split("│") for line in narrow.file.getvalue().splitlines() if "│" in line]
    assert "".join(cells[1].strip() for cells in rows) == address
    assert "…" not in narrow.file.getvalue()
