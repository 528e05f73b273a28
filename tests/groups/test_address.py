"""Reading addresses the way residents and admins write them."""

import pytest

from groups.address import Address, parse_address


def test_an_admin_writing_b11_1_301_means_building_b11_unit_1_room_301_on_floor_3() -> None:
    address = parse_address("B11-1-301")
    assert address == Address(building="B11", unit=1, room=301)
    assert address.floor == 3
    assert str(address) == "B11-1-301"


def test_full_width_and_lower_case_input_is_understood() -> None:
    assert str(parse_address(" ｂ１１－１－３０１ ")) == "B11-1-301"
    assert str(parse_address("b2-01-1203")) == "B2-1-1203"


def test_building_b2_sorts_before_building_b11() -> None:
    written = ["B11-1-301", "B2-2-101", "B2-1-1201", "A3-1-101", "B2-1-302"]
    ordered = sorted((parse_address(a) for a in written), key=lambda a: a.sort_key)
    assert [str(a) for a in ordered] == [
        "A3-1-101",
        "B2-1-302",
        "B2-1-1201",
        "B2-2-101",
        "B11-1-301",
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("B11-301", "three parts"),
        ("11-1-301", "building '11'"),
        ("B11-0-301", "unit '0'"),
        ("B11-x-301", "unit 'X'"),
        ("B11-1-99", "room '99'"),
        ("B11-1-300", "room '300'"),
        ("B11-1-3a1", "room '3A1'"),
    ],
)
def test_a_mistyped_address_is_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_address(text)
