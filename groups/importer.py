"""Registering a community from a CSV file (登记造册): all rows are checked before any is written.

Columns: address,name,phone,grid,roles — one row per person. Rows sharing an address are one
household. A row with no address is a staff member and needs one staff role. Roles are
separated by ';'. Resident phones may be empty (not everybody has one); staff phones may not.

Importing into a community that already has households adds to it: an address or staff phone
that is already registered is a row error (so importing the same file twice writes nothing),
and new households are grouped by `regroup` — units nobody was grouped in get fresh groups,
late arrivals join their neighbours' groups; existing groups keep their members.
"""

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from typing import TextIO

from sqlalchemy import select

from groups.address import Address, parse_address
from groups.directory import (
    NewResident,
    check_name,
    get_or_create_community,
    get_or_create_grid,
    new_household,
    parse_phone,
    regroup,
)
from groups.models import RESIDENT_ROLES, STAFF_ROLES, Community, Household, Staff
from storage.db import AsyncSession

COLUMNS = ("address", "name", "phone", "grid", "roles")
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


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote."""

    households: int
    residents: int
    staff: int
    groups: int


@dataclass
class _Home:
    address: Address
    grid: str | None
    row: int
    residents: list[NewResident] = field(default_factory=list)
    rows: int = 0


@dataclass(frozen=True)
class _StaffRow:
    name: str
    phone: str
    role: str
    grid: str | None


async def import_csv(
    session: AsyncSession,
    *,
    source: str | PathLike[str] | TextIO,
    community: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then register households, residents and staff and group the households."""
    with _open(source) as handle:
        rows = list(csv.reader(handle))
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
    for home in homes.values():
        grid_id = grids[home.grid] if home.grid else None
        session.add(
            new_household(
                community_id=owner.id,
                address=home.address,
                residents=home.residents,
                grid_id=grid_id,
            )
        )
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
            )
        )
        done += 1
        if progress:
            progress(done, total)
    await session.flush()
    created = await regroup(session, community_id=owner.id)
    if progress:
        progress(total, total)  # blank rows count as done too
    return ImportReport(
        households=len(homes),
        residents=sum(len(h.residents) for h in homes.values()),
        staff=len(staff),
        groups=len(created),
    )


@contextmanager
def _open(source: str | PathLike[str] | TextIO) -> Iterator[TextIO]:
    if isinstance(source, str | PathLike):
        with open(source, encoding="utf-8-sig", newline="") as handle:
            yield handle
    else:
        yield source


def _read(rows: list[list[str]]) -> tuple[dict[Address, _Home], dict[int, _StaffRow]]:
    if not rows:
        raise ImportFailed(
            [RowError(1, f"the file is empty; the header should be {','.join(COLUMNS)}")]
        )
    header = [c.lstrip("\ufeff").strip().lower() for c in rows[0]]
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
    home.grid = home.grid or grid
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
    return _StaffRow(name=name, phone=phone, role=next(iter(roles)), grid=_grid(cells))


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
