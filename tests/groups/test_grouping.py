"""Grouping households in tens: the first grouping, newcomers, and leaders."""

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from groups.address import Address, parse_address
from groups.grouping import (
    HIGH,
    LOW,
    Candidate,
    Join,
    NewGroup,
    Placement,
    Rearrange,
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
        case Rearrange(_, changed, new_groups):
            for group, members in changed:
                groups[group] = list(members)
            for members in new_groups:
                groups[max(groups) + 1] = list(members)
        case NewGroup():
            groups[max(groups, default=0) + 1] = [new]


def groups_in_order(groups: dict[int, list[Address]]) -> list[int]:
    """The community's groups in sorted order, each once; every group must be a contiguous run
    of the sorted households (whatever buildings it spans), or there is no such order."""
    keys = [k for _, k in sorted(((a, k) for k, v in groups.items() for a in v), key=sort_key)]
    runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(runs) == len(set(runs)), f"a group is not a contiguous run: {runs}"
    return runs


def sort_key(pair: tuple[Address, int]) -> tuple[str, int, int, int, int]:
    return pair[0].sort_key


def beside(groups: dict[int, list[Address]], key: int) -> set[int]:
    """The group and the groups right before and after it in the community's sorted order of
    groups, whatever buildings they span."""
    order = groups_in_order(groups)
    at = order.index(key)
    return {order[i] for i in (at - 1, at, at + 1) if 0 <= i < len(order)}


def at(*texts: str) -> list[Address]:
    return [parse_address(text) for text in texts]


B2_ROOMS = [f * 100 + d for f in range(1, 19) for d in (2, 3)]


@given(communities, st.lists(addresses, max_size=30))
# The run reported: B2 unit 1 from room 102 on, then a B3 household that joins B2's last group.
@example([Address("B2", 1, r) for r in B2_ROOMS[:11]], at("B2-1-101", "B2-1-201", "B3-1-101"))
@example([Address("B2", 1, r) for r in B2_ROOMS[:23]], at("B2-1-101", "B2-1-201", "B3-1-101"))
# Groups spanning B2-B3 and B3-B11: a B3 newcomer in the full first one hands B3-1-201 to the
# second, right beside it in the sorted order though its first member is not in B2.
@example(
    [],
    at(
        *("B2-1-102", "B2-1-104", "B2-1-203", "B2-1-301", "B3-1-102", "B3-1-201", "B3-3-101"),
        *("B3-3-102", "B3-3-201", "B11-1-101", "B11-1-102", "B11-1-201", "B11-2-101"),
        *("B2-1-101", "B2-1-103", "B2-1-201", "B2-1-202", "B2-2-101", "B2-2-102", "B3-1-101"),
    ),
)
# A full group of B2 and B11-1-101: the first B3 household falls inside it and must not start a
# group of its own there, which would split that group in two.
@example(
    [],
    at(
        *("B2-1-101", "B2-1-102", "B2-1-103", "B2-1-201", "B2-1-202", "B2-1-203", "B2-1-301"),
        *("B2-1-302", "B2-2-101", "B2-2-102", "B2-2-103", "B11-1-101", "B3-1-101"),
    ),
)
def test_a_newcomer_moves_nobody_outside_a_full_group_and_the_groups_beside_it(
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
        if isinstance(placement, Rearrange):
            full = placement.group
            assert len(before[full]) == HIGH
            assert changed <= beside(before, full)
            sizes = [len(m) for _, m in placement.groups] + [len(m) for m in placement.new]
            if sum(sizes) >= 2 * LOW:  # no group is made smaller than LOW when it can be helped
                shrunk = [len(m) for k, m in placement.groups if len(m) < len(before[k])]
                assert all(size >= LOW for size in [*shrunk, *map(len, placement.new)]), sizes
        else:
            assert changed <= ({placement.group} if isinstance(placement, Join) else set())
        assert all(len(v) <= HIGH for v in groups.values())
        everyone = [a for v in groups.values() for a in v]
        assert sorted(everyone, key=lambda a: a.sort_key) == sorted(
            [*(a for v in before.values() for a in v), new], key=lambda a: a.sort_key
        )
        groups_in_order(groups)  # every group is still a contiguous run of the sorted order


def test_a_newcomer_joins_the_group_of_the_neighbour_on_its_stairwell() -> None:
    groups = {
        1: [Address("B11", 1, r) for r in (101, 102, 201, 202, 301)],
        2: [Address("B11", 2, r) for r in (101, 102, 201, 202, 301)],
    }
    assert place(Address("B11", 2, 302), groups) == Join(2)
    assert place(Address("B11", 1, 302), groups) == Join(1)


def floors(unit: int, first: int, last: int) -> list[Address]:
    return [Address("B11", unit, f * 100 + d) for f in range(first, last + 1) for d in (1, 3)]


def test_a_newcomer_in_a_full_group_hands_its_far_end_household_to_the_group_beside_it() -> None:
    full, beside = floors(1, 1, 6), floors(1, 7, 10)  # 12 and 8 households
    placement = place(Address("B11", 1, 302), {7: full, 8: beside})
    assert isinstance(placement, Rearrange)
    changed = dict(placement.groups)
    assert len(changed[7]) == 12
    assert Address("B11", 1, 302) in changed[7]
    assert changed[8] == (Address("B11", 1, 603), *beside)
    assert placement.new == ()


def test_a_full_group_between_full_groups_is_regrouped_with_them_into_groups_of_8_or_more() -> None:
    groups = {1: floors(1, 1, 6), 2: floors(1, 7, 12), 3: floors(1, 13, 18)}
    placement = place(Address("B11", 1, 702), groups)
    assert isinstance(placement, Rearrange)
    sizes = [len(m) for _, m in placement.groups] + [len(m) for m in placement.new]
    assert sum(sizes) == 37
    assert all(LOW <= size <= HIGH for size in sizes)


def test_a_lone_full_group_splits_in_two_as_evenly_as_the_stairwell_allows() -> None:
    placement = place(Address("B11", 1, 302), {7: floors(1, 1, 6)})
    assert isinstance(placement, Rearrange)
    sizes = sorted([len(m) for _, m in placement.groups] + [len(m) for m in placement.new])
    assert sum(sizes) == 13
    assert max(sizes) <= HIGH
    assert min(sizes) < LOW  # 13 cannot make two groups of 8: the register says so


def test_the_first_household_of_a_building_joins_the_nearest_group_with_room() -> None:
    assert place(Address("B2", 1, 101), {}) == NewGroup()
    assert place(Address("B12", 1, 101), {1: [Address("B11", 1, 101)]}) == Join(1)
    full = {1: [Address("B11", 1, r) for r in range(101, 113)]}
    assert place(Address("B12", 1, 101), full) == NewGroup()


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


def test_the_first_household_of_a_building_inside_a_group_spanning_buildings_joins_it() -> None:
    spanning = [*(Address("B2", 1, r) for r in range(101, 112)), Address("B11", 1, 101)]
    assert place(Address("B3", 1, 101), {1: spanning[:-2] + spanning[-1:]}) == Join(1)
    placement = place(Address("B3", 1, 101), {1: spanning})
    assert isinstance(placement, Rearrange)  # never a group of one between B2 and B11
    assert placement.group == 1


def test_a_full_group_hands_a_household_to_the_group_beside_it_in_another_building() -> None:
    full = [*(Address("B2", 1, r) for r in range(101, 111)), *at("B3-1-101", "B3-1-102")]
    beside = [Address("B3", 1, r) for r in range(201, 209)]
    placement = place(Address("B2", 1, 111), {1: full, 2: beside})
    assert isinstance(placement, Rearrange)  # not 13 split into groups of 7 and 6
    changed = dict(placement.groups)
    assert len(changed[1]) == 12
    assert Address("B2", 1, 111) in changed[1]
    assert changed[2] == (Address("B3", 1, 102), *beside)
    assert placement.new == ()


def test_a_full_group_hands_over_within_its_building_before_to_a_smaller_group_elsewhere() -> None:
    before = [Address("B2", 1, r) for r in range(101, 109)]  # 8, in another building
    full = [Address("B3", 1, r) for r in range(101, 114) if r != 107]
    after = [Address("B3", 2, r) for r in range(101, 111)]  # 10, in the same building
    placement = place(Address("B3", 1, 107), {1: before, 2: full, 3: after})
    assert isinstance(placement, Rearrange)
    changed = dict(placement.groups)
    assert set(changed) == {2, 3}
    assert changed[3] == (Address("B3", 1, 113), *after)
