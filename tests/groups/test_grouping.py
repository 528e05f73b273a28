"""Grouping households in tens: the first grouping, newcomers, and leaders."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from groups.address import Address
from groups.grouping import (
    HIGH,
    LOW,
    Candidate,
    Join,
    NewGroup,
    Placement,
    Split,
    choose_leader,
    partition,
    place,
)

addresses = st.builds(
    Address,
    building=st.sampled_from(["B2", "B3", "B11"]),
    unit=st.integers(1, 3),
    room=st.builds(lambda floor, door: floor * 100 + door, st.integers(1, 18), st.integers(1, 4)),
)
communities = st.lists(addresses, unique=True, max_size=120)


def sorted_positions(community: list[Address]) -> dict[Address, int]:
    ordered = sorted(community, key=lambda a: a.sort_key)
    return {a: i for i, a in enumerate(ordered)}


@given(communities)
def test_every_household_is_in_exactly_one_group(community: list[Address]) -> None:
    runs = partition(community)
    assert sorted(i for run in runs for i in run) == list(range(len(community)))


@given(communities)
def test_groups_are_contiguous_runs_of_neighbours(community: list[Address]) -> None:
    position = sorted_positions(community)
    flat = [position[community[i]] for run in partition(community) for i in run]
    assert flat == list(range(len(community)))


@given(communities)
def test_groups_have_8_to_12_households_whenever_there_are_16_or_more(
    community: list[Address],
) -> None:
    runs = partition(community)
    if len(community) >= 2 * LOW:
        assert all(LOW <= len(run) <= HIGH for run in runs)
    if 0 < len(community) < LOW:
        assert len(runs) == 1


def whole_units(sizes: list[int]) -> list[Address]:
    community = []
    for n, size in enumerate(sizes):
        building, unit = f"B{n // 3 + 1}", n % 3 + 1
        community += [Address(building, unit, 100 * (k // 2 + 1) + k % 2 + 1) for k in range(size)]
    return community


@given(st.lists(st.integers(LOW, HIGH), min_size=1, max_size=10).map(lambda s: [10, *s]))
def test_a_stairwell_of_8_to_12_households_like_a_unit_of_10_is_one_group(
    sizes: list[int],
) -> None:
    community = whole_units(sizes)
    groups = [
        {(community[i].building, community[i].unit) for i in run} for run in partition(community)
    ]
    assert all(len(units) == 1 for units in groups)
    assert len(groups) == len(sizes)


def test_13_to_15_households_are_grouped_as_well_as_possible() -> None:
    for n in (13, 14, 15):
        runs = partition(whole_units([n]))
        assert sorted(i for run in runs for i in run) == list(range(n))
        assert len(runs) == 2
        assert all(len(run) <= HIGH for run in runs)


def apply(placement: Placement[int], new: Address, groups: dict[int, list[Address]]) -> None:
    match placement:
        case Join(group):
            groups[group].append(new)
        case Split(group, stay, leave):
            groups[group] = list(stay)
            groups[max(groups) + 1] = list(leave)
        case NewGroup():
            groups[max(groups, default=0) + 1] = [new]


@given(communities, st.lists(addresses, max_size=30))
def test_a_newcomer_moves_nobody_outside_one_full_group(
    community: list[Address], newcomers: list[Address]
) -> None:
    groups = {n: [community[i] for i in run] for n, run in enumerate(partition(community))}
    for new in newcomers:
        if any(new in members for members in groups.values()):
            continue
        before = {k: list(v) for k, v in groups.items()}
        placement = place(new, groups)
        apply(placement, new, groups)
        changed = {k for k in before if groups[k] != before[k]}
        if isinstance(placement, Split):
            assert changed <= {placement.group}
            assert len(before[placement.group]) == HIGH
        else:
            assert changed <= ({placement.group} if isinstance(placement, Join) else set())
        assert all(len(v) <= HIGH for v in groups.values())
        everyone = [a for v in groups.values() for a in v]
        assert sorted(everyone, key=lambda a: a.sort_key) == sorted(
            [*(a for v in before.values() for a in v), new], key=lambda a: a.sort_key
        )


def test_a_newcomer_joins_the_group_of_the_neighbour_on_its_stairwell() -> None:
    groups = {
        1: [Address("B11", 1, r) for r in (101, 102, 201, 202, 301)],
        2: [Address("B11", 2, r) for r in (101, 102, 201, 202, 301)],
    }
    assert place(Address("B11", 2, 302), groups) == Join(2)
    assert place(Address("B11", 1, 302), groups) == Join(1)


def test_a_newcomer_beside_a_full_group_splits_only_that_group() -> None:
    full = [Address("B11", 1, f * 100 + d) for f in range(1, 7) for d in (1, 3)]
    placement = place(Address("B11", 1, 302), {7: full})
    assert isinstance(placement, Split)
    assert placement.group == 7
    assert len(placement.stay) == 7
    assert len(placement.leave) == 6
    assert Address("B11", 1, 302) in placement.stay


def test_the_first_household_of_a_building_starts_a_group() -> None:
    assert place(Address("B2", 1, 101), {}) == NewGroup()
    assert place(Address("B2", 1, 101), {1: [Address("B11", 1, 101)]}) == NewGroup()


def test_the_stairwell_leader_leads_the_group_else_the_first_registered_household() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 2, 1, tzinfo=UTC)
    first, leader, other = (
        Candidate(household=1, stairwell_leader=False, registered=(day, 1)),
        Candidate(household=2, stairwell_leader=True, registered=(later, 2)),
        Candidate(household=3, stairwell_leader=False, registered=(day, 3)),
    )
    assert choose_leader([other, first, leader]) == 2
    assert choose_leader([other, first]) == 1
    assert choose_leader([]) is None
