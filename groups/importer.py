"""Registering a community from a CSV file (登记造册): all rows are checked before any is written.

Columns: address,name,phone,grid,roles — one row per person — and, if present, language (zh or
en: the household's, or the staff member's). Rows sharing an address are one household. A row
with no address is a staff member and needs one staff role. Roles are
separated by ';'. Resident phones may be empty (not everybody has one); staff phones may not.

Importing into a community that already has households adds to it: an address or staff phone
that is already registered is a row error (so importing the same file twice writes nothing),
and new households are grouped by `regroup` — units nobody was grouped in get fresh groups,
late arrivals join their neighbours' groups; existing groups keep their members.

The file is UTF-8 (a byte-order mark is fine). Anything else — UTF-16, another encoding, a
binary file, a cell too long for a register — is refused with one sentence (`Unreadable`)
before a row is read. `export_csv` writes the register back in the same format, so an export
imports again as the same register.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from groups.address import Address, parse_address
from groups.directory import (
    NewResident,
    address_of,
    check_name,
    get_or_create_community,
    get_or_create_grid,
    new_household,
    parse_phone,
    regroup,
    small_groups,
)
from groups.models import (
    LANGUAGES,
    RESIDENT_ROLES,
    STAFF_ROLES,
    Community,
    Grid,
    Household,
    Staff,
)
from storage.db import AsyncSession

COLUMNS = ("address", "name", "phone", "grid", "roles")
OPTIONAL = ("language",)
MAX_BYTES = 20 * 1024 * 1024  # 3,753 households are about 200 KiB
SAVE_AS = "save it from the spreadsheet as “CSV UTF-8” and import it again"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row; row numbers are as a spreadsheet shows them (header = 1)."""

    row: int
    reason: str


class ImportFailed(Exception):
    """The file had bad rows; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(f"row {e.row}: {e.reason}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} bad row(s), nothing imported: {shown}{more}")


class Unreadable(ValueError):
    """The file is not CSV text in UTF-8; str() is the sentence that says why."""


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote, and the groups it left below the policy's size."""

    households: int
    residents: int
    staff: int
    groups: int
    small_groups: tuple[str, ...] = ()


@dataclass
class _Home:
    address: Address
    grid: str | None
    row: int
    residents: list[NewResident] = field(default_factory=list)
    rows: int = 0
    language: str | None = None


@dataclass(frozen=True)
class _StaffRow:
    name: str
    phone: str
    role: str
    grid: str | None
    language: str | None = None


async def import_csv(
    session: AsyncSession,
    *,
    source: str | PathLike[str] | TextIO | bytes,
    community: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then register households, residents and staff and group the households."""
    rows = read_rows(source)
    homes, staff = _read(rows)  # raises ImportFailed on bad rows
    existing = await session.scalar(select(Community).where(Community.name == community))
    if existing is not None:
        await _refuse_known(session, existing.id, homes, staff)
    owner = existing or await get_or_create_community(session, name=community)
    total = len(rows) - 1
    done = 0
    grids: dict[str, int] = {}
    for name in sorted(
        {h.grid for h in homes.values() if h.grid} | {s.grid for s in staff.values() if s.grid}
    ):
        grids[name] = (await get_or_create_grid(session, community_id=owner.id, name=name)).id
    added = []
    for home in homes.values():
        grid_id = grids[home.grid] if home.grid else None
        household = new_household(
            community_id=owner.id, address=home.address, residents=home.residents, grid_id=grid_id
        )
        household.language = home.language or "zh"
        added.append(household)
        session.add(household)
        done += home.rows
        if progress:
            progress(done, total)
    for person in staff.values():
        grid_id = grids[person.grid] if person.grid else None
        session.add(
            Staff(
                community_id=owner.id,
                name=person.name,
                phone=person.phone,
                role=person.role,
                grid_id=grid_id,
                language=person.language or "zh",
            )
        )
        done += 1
        if progress:
            progress(done, total)
    await session.flush()
    created = await regroup(session, community_id=owner.id)
    if progress:
        progress(total, total)  # blank rows count as done too
    touched = {h.group_id for h in added if h.group_id is not None}
    return ImportReport(
        households=len(homes),
        residents=sum(len(h.residents) for h in homes.values()),
        staff=len(staff),
        groups=len(created),
        small_groups=tuple(await small_groups(session, group_ids=touched)),
    )


def decode(data: bytes) -> str:
    """The text of a CSV file's bytes: UTF-8, with or without a byte-order mark; anything else
    is `Unreadable`, with a sentence that says what the file is and what to do."""
    if len(data) > MAX_BYTES:
        raise Unreadable(f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB; split it")
    half = len(data) // 2
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        half and max(data[0::2].count(0), data[1::2].count(0)) > half // 2
    ):
        raise Unreadable(f"the file is UTF-16 text, not UTF-8: {SAVE_AS}")
    if b"\x00" in data:
        raise Unreadable(f"the file is not a CSV text file (it holds binary data): {SAVE_AS}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Unreadable(
            f"the file is not UTF-8 text (line {line} has bytes that are not UTF-8): {SAVE_AS}"
        ) from None


def read_rows(source: str | PathLike[str] | TextIO | bytes) -> list[list[str]]:
    """A CSV file's rows (a path, its bytes, or text already decoded); `Unreadable` if the
    file is not CSV text."""
    if isinstance(source, str | PathLike):
        with open(source, "rb") as raw:
            source = raw.read(MAX_BYTES + 1)
    text = io.StringIO(decode(source), newline="") if isinstance(source, bytes) else source
    reader = csv.reader(text)
    try:
        return list(reader)
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a cell is longer than {csv.field_size_limit()} characters"
        raise Unreadable(f"row {reader.line_num} cannot be read as CSV: {reason}") from None


def _read(rows: list[list[str]]) -> tuple[dict[Address, _Home], dict[int, _StaffRow]]:
    if not rows:
        raise ImportFailed(
            [RowError(1, f"the file is empty; the header should be {','.join(COLUMNS)}")]
        )
    header = [c.lstrip("\ufeff").strip().lower()[:50] for c in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportFailed([RowError(1, f"missing column(s): {', '.join(missing)}")])
    homes: dict[Address, _Home] = {}
    staff: dict[int, _StaffRow] = {}
    staff_rows: dict[str, int] = {}
    errors: list[RowError] = []
    for number, values in enumerate(rows[1:], start=2):
        cells = dict(zip(header, [v.strip() for v in values], strict=False))
        if not any(cells.values()):
            continue
        try:
            if cells.get("address"):
                _resident(cells, number, homes)
            else:
                person = _staff(cells)
                if person.phone in staff_rows:
                    raise ValueError(
                        f"phone {person.phone} is also on row {staff_rows[person.phone]}"
                    )
                staff_rows[person.phone] = number
                staff[number] = person
        except ValueError as problem:
            errors.append(RowError(number, str(problem)))
    if errors:
        raise ImportFailed(errors)
    return homes, staff


def _grid(cells: dict[str, str]) -> str | None:
    grid = cells.get("grid") or None
    if grid and len(grid) > 50:
        raise ValueError("grid name is longer than 50 characters")
    return grid


def _language(cells: dict[str, str]) -> str | None:
    language = cells.get("language", "").lower() or None
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language {language[:20]!r} should be one of {', '.join(LANGUAGES)}")
    return language


def _roles(cells: dict[str, str]) -> frozenset[str]:
    return frozenset(r.strip() for r in cells.get("roles", "").split(";") if r.strip())


def _resident(cells: dict[str, str], number: int, homes: dict[Address, _Home]) -> None:
    address = parse_address(cells["address"])
    name = check_name(cells.get("name", ""))
    phone = parse_phone(cells["phone"]) if cells.get("phone") else None
    roles = _roles(cells)
    if roles - RESIDENT_ROLES:
        wrong = ", ".join(sorted(roles - RESIDENT_ROLES))
        hint = " (a staff role: leave the address empty)" if roles & STAFF_ROLES else ""
        raise ValueError(
            f"unknown resident role {wrong}{hint}; one of {', '.join(sorted(RESIDENT_ROLES))}"
        )
    grid = _grid(cells)
    home = homes.setdefault(address, _Home(address=address, grid=grid, row=number))
    if grid and home.grid and grid != home.grid:
        raise ValueError(
            f"grid {grid!r} differs from grid {home.grid!r} on row {home.row} for {address}"
        )
    language = _language(cells)
    if language and home.language and language != home.language:
        raise ValueError(
            f"language {language!r} differs from {home.language!r} on row {home.row} for {address}"
        )
    home.grid = home.grid or grid
    home.language = home.language or language
    home.residents.append(NewResident(name=name, phone=phone, roles=roles))
    home.rows += 1


def _staff(cells: dict[str, str]) -> _StaffRow:
    name = check_name(cells.get("name", ""))
    if not cells.get("phone"):
        raise ValueError("staff (a row with no address) need a phone")
    phone = parse_phone(cells["phone"])
    roles = _roles(cells)
    if len(roles) != 1 or not roles <= STAFF_ROLES:
        given = ", ".join(sorted(roles)) or "none"
        raise ValueError(
            f"staff (a row with no address) need one role of {', '.join(sorted(STAFF_ROLES))};"
            f" got {given}"
        )
    return _StaffRow(
        name=name,
        phone=phone,
        role=next(iter(roles)),
        grid=_grid(cells),
        language=_language(cells),
    )


async def _refuse_known(
    session: AsyncSession,
    community_id: int,
    homes: dict[Address, _Home],
    staff: dict[int, _StaffRow],
) -> None:
    known = select(Household.address).where(Household.community_id == community_id)
    addresses = set(await session.scalars(known))
    phones = set(
        await session.scalars(select(Staff.phone).where(Staff.community_id == community_id))
    )
    errors = [
        RowError(h.row, f"{h.address} is already registered")
        for h in homes.values()
        if str(h.address) in addresses
    ]
    errors += [
        RowError(n, f"staff phone {s.phone} is already registered")
        for n, s in staff.items()
        if s.phone in phones
    ]
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.row))


async def export_csv(session: AsyncSession, *, community_id: int) -> str:
    """The community's register as the CSV `import_csv` reads: one row per resident (households
    in address order), then one per staff member; importing it rebuilds the same register."""

    query = select(Grid.id, Grid.name).where(Grid.community_id == community_id)
    grids: dict[int, str] = dict((await session.execute(query)).all())
    households = sorted(
        await session.scalars(
            select(Household)
            .where(Household.community_id == community_id)
            .options(selectinload(Household.residents))
        ),
        key=lambda h: address_of(h).sort_key,
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *OPTIONAL])
    for h in households:
        grid = grids.get(h.grid_id, "") if h.grid_id is not None else ""
        for r in h.residents:
            roles = ";".join(sorted(r.role_set))
            writer.writerow([h.address, r.name, r.phone or "", grid, roles, h.language])
    staff = await session.scalars(
        select(Staff).where(Staff.community_id == community_id).order_by(Staff.id)
    )
    for s in staff:
        grid = grids.get(s.grid_id, "") if s.grid_id is not None else ""
        writer.writerow(["", s.name, s.phone, grid, s.role, s.language])
    return out.getvalue()
