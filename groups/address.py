"""Household addresses like B11-1-301: building B11, unit 1, room 301 (floor 3)."""

import re
import unicodedata
from dataclasses import dataclass

_BUILDING = re.compile(r"([A-Z]+)(\d+)")
_EXAMPLE = "like B11-1-301 (building-unit-room)"


@dataclass(frozen=True)
class Address:
    """A home's place: building (letters then digits), unit, room; the floor is room // 100."""

    building: str
    unit: int
    room: int

    @property
    def floor(self) -> int:
        """The floor the room is on: room 301 is on floor 3."""
        return self.room // 100

    @property
    def sort_key(self) -> tuple[str, int, int, int, int]:
        """Natural order: B2 before B11, then unit, floor, room."""
        letters, digits = building_key(self.building)
        return letters, digits, self.unit, self.floor, self.room

    def __str__(self) -> str:
        return f"{self.building}-{self.unit}-{self.room}"


def building_key(building: str) -> tuple[str, int]:
    """A building's natural sort key: ("B", 11) for B11."""
    match = _BUILDING.fullmatch(building)
    if match is None:
        return building, 0
    return match[1], int(match[2])


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_address(text: str) -> Address:
    """Read an address like B11-1-301; a ValueError says what is wrong in plain words."""
    # NFKC turns full-width input (Ｂ１１－１－３０１) into ASCII.
    cleaned = unicodedata.normalize("NFKC", text).strip().upper()
    if not cleaned:
        raise ValueError(f"address is empty; write it {_EXAMPLE}")
    parts = [p.strip() for p in cleaned.split("-")]
    if len(parts) != 3:
        raise ValueError(f"address {text!r} should have three parts, {_EXAMPLE}")
    building, unit, room = parts
    if not _BUILDING.fullmatch(building) or len(building) > 20:
        raise ValueError(
            f"building {building!r} in {text!r} should be letters then digits, like B11"
        )
    if not _is_number(unit) or int(unit) < 1 or len(unit) > 3:
        raise ValueError(f"unit {unit!r} in {text!r} should be a whole number from 1, like 1")
    if not _is_number(room) or len(room) > 4 or int(room) < 101 or int(room) % 100 == 0:
        raise ValueError(
            f"room {room!r} in {text!r} should be the floor then a door number,"
            " like 301 (floor 3, door 01)"
        )
    return Address(building=building, unit=int(unit), room=int(room))
