"""Ten-household groups, decided without a database: who groups with whom, who leads.

Households are ordered by (building in natural order, unit, floor, room), so that neighbours
in that order live on the same stairwell and on neighbouring floors. A group is a contiguous
run of that order. `partition` makes the first grouping of a whole set; after that, `place`
puts one newcomer into a group without moving anyone else (except, when the group it belongs
to is full, one household handed to the group beside it, or that group and its neighbours
regrouped together, so that groups stay within LOW..HIGH where the numbers allow).
"""

import sys
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from groups.address import Address

LOW, HIGH, TARGET = 8, 12, 10
UNIT_CROSSING = 5  # cost of a group spanning two units of one building
BUILDING_CROSSING = 10  # cost of a group spanning two buildings

K = TypeVar("K", bound=Hashable)


def partition(
    addresses: Sequence[Address], *, low: int = LOW, high: int = HIGH, target: int = TARGET
) -> list[list[int]]:
    """Split households into contiguous runs of low..high; indices into `addresses`, in order.

    No run is larger than high. Dynamic programming over the sorted order minimises, first,
    how far group sizes fall below low (unavoidable only when high < n < 2 × low, i.e.
    13..15), then
    the sum of |size - target| and of the unit and building crossings inside each group.
    """
    order = sorted(range(len(addresses)), key=lambda i: addresses[i].sort_key)
    n = len(order)
    if n == 0:
        return []
    if n < low:
        return [order]
    # crossings[k]: the cost of the boundaries between sorted positions 0..k.
    crossings = [0] * n
    for k in range(1, n):
        a, b = addresses[order[k - 1]], addresses[order[k]]
        crossings[k] = crossings[k - 1] + _crossing(a, b)

    # best[end]: the cheapest (households out of range, cost) for the first `end` households.
    best: list[tuple[int, int]] = [(0, 0)] + [(sys.maxsize, 0)] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for size in range(1, min(end, high) + 1):
            start = end - size
            outside = max(low - size, 0)
            cost = abs(size - target) + crossings[end - 1] - crossings[start]
            before = best[start]
            candidate = (before[0] + outside, before[1] + cost)
            if candidate < best[end]:
                best[end], cut[end] = candidate, start
    runs: list[list[int]] = []
    end = n
    while end > 0:
        runs.append(order[cut[end] : end])
        end = cut[end]
    return runs[::-1]


def _crossing(a: Address, b: Address) -> int:
    if a.building != b.building:
        return BUILDING_CROSSING
    return UNIT_CROSSING if a.unit != b.unit else 0


@dataclass(frozen=True)
class Join(Generic[K]):
    """The newcomer joins `group`; nobody else moves."""

    group: K


@dataclass(frozen=True)
class Rearrange(Generic[K]):
    """The newcomer's group was full: `groups` gives each changed group its new members (the
    newcomer among them), and `new` the members of each group to create. Only the full group and
    the groups right beside it in the sorted order of groups change, whatever buildings they
    span."""

    group: K  # the full group
    groups: tuple[tuple[K, tuple[Address, ...]], ...]
    new: tuple[tuple[Address, ...], ...] = ()


@dataclass(frozen=True)
class NewGroup:
    """No group near the newcomer has room: it starts one."""


Placement = Join[K] | Rearrange[K] | NewGroup


def place(
    new: Address,
    groups: Mapping[K, Sequence[Address]],
    *,
    low: int = LOW,
    high: int = HIGH,
) -> Placement[K]:
    """Decide which group a new household joins, moving as few others as it can.

    It joins the group of its nearest neighbour in the sorted order within its building (same
    unit, nearest floor first); if that group is full, the group of its neighbour on the other
    side when that one has room. When both are full, the full group takes the newcomer and
    hands its household at the far end to the group beside it there, if that group has room
    (one household moves, every group stays within low..high); failing that, the full group
    and the full groups beside it are regrouped together, so that no group ends below low
    where the numbers allow it (13 households of a lone building cannot make two groups of 8).
    "Beside" is right before or after in the sorted order of groups, whatever buildings they
    span; a group beside it in the same building takes the household first.
    The first household of a building joins the nearest group of the next building in the
    sorted order while that group has room, rather than starting a group of one; when it falls
    inside a group that spans the buildings around it, that group is its group (full, it is
    regrouped as above), so that every group stays a contiguous run of the sorted order.
    """
    everyone = sorted(
        ((address, key) for key, addresses in groups.items() for address in addresses),
        key=lambda pair: pair[0].sort_key,
    )
    if any(address == new for address, _ in everyone):
        raise ValueError(f"{new} is already in a group")
    members = [(address, key) for address, key in everyone if address.building == new.building]
    if not members:
        return _nearest_building(new, groups, everyone, low=low, high=high)
    at = bisect_left([address.sort_key for address, _ in members], new.sort_key)
    sides = [members[j] for j in (at - 1, at) if 0 <= j < len(members)]
    sides.sort(key=lambda pair: _distance(new, pair[0]))
    nearest = sides[0][1]
    others = [key for _, key in sides[1:]]
    for key in [nearest, *others]:
        if len(groups[key]) < high:
            return Join(key)
    return _rebalance(new, nearest, groups, everyone, low=low, high=high)


def _nearest_building(
    new: Address,
    groups: Mapping[K, Sequence[Address]],
    everyone: Sequence[tuple[Address, K]],
    *,
    low: int,
    high: int,
) -> Placement[K]:
    at = bisect_left([address.sort_key for address, _ in everyone], new.sort_key)
    sides = [everyone[j][1] for j in (at - 1, at) if 0 <= j < len(everyone)]
    if len(sides) == 2 and sides[0] == sides[1]:
        # It falls inside a group that spans the buildings around it: that group is its
        # group (a group of its own there would split that group in two).
        if len(groups[sides[0]]) < high:
            return Join(sides[0])
        return _rebalance(new, sides[0], groups, everyone, low=low, high=high)
    roomy = [key for key in sides if len(groups[key]) < high]
    if not roomy:
        return NewGroup()
    return Join(min(roomy, key=lambda key: len(groups[key])))


def _rebalance(
    new: Address,
    full: K,
    groups: Mapping[K, Sequence[Address]],
    everyone: Sequence[tuple[Address, K]],
    *,
    low: int,
    high: int,
) -> Rearrange[K]:
    together = sorted([*groups[full], new], key=lambda a: a.sort_key)
    order = [key for _, key in everyone]
    positions = [i for i, key in enumerate(order) if key == full]
    before = order[positions[0] - 1] if positions[0] > 0 else None
    after = order[positions[-1] + 1] if positions[-1] + 1 < len(order) else None
    beside = [(key, side) for key, side in ((before, 0), (after, -1)) if key is not None]

    def crossing(key: K, side: int) -> bool:
        """Whether the household handed over there would join a group of another building."""
        edge = (max if side == 0 else min)(groups[key], key=lambda a: a.sort_key)
        return together[side].building != edge.building

    # A group beside it in its own building first, then the smaller one.
    roomy = sorted(
        ((key, side) for key, side in beside if len(groups[key]) < high),
        key=lambda pair: (crossing(*pair), len(groups[pair[0]])),
    )
    if roomy:
        key, side = roomy[0]
        moved = together.pop(side)
        taker = sorted([*groups[key], moved], key=lambda a: a.sort_key)
        return Rearrange(full, groups=((full, tuple(together)), (key, tuple(taker))))
    block_keys = [k for k in (before, full, after) if k is not None]
    block_keys = list(dict.fromkeys(block_keys))
    block = sorted([a for k in block_keys for a in groups[k]] + [new], key=lambda a: a.sort_key)
    runs = [tuple(block[i] for i in run) for run in partition(block, low=low, high=high)]
    keys = sorted(block_keys, key=lambda k: min(a.sort_key for a in groups[k]))
    return Rearrange(
        full, groups=tuple(zip(keys, runs[: len(keys)], strict=True)), new=tuple(runs[len(keys) :])
    )


def _distance(a: Address, b: Address) -> tuple[bool, bool, int, int]:
    return a.building != b.building, a.unit != b.unit, abs(a.floor - b.floor), abs(a.room - b.room)


@dataclass(frozen=True)
class Candidate(Generic[K]):
    """A household as a possible group leader."""

    household: K
    stairwell_leader: bool
    registered: tuple[datetime, int]  # (registered at, id): the first registered sorts first


def choose_leader(candidates: Iterable[Candidate[K]]) -> K | None:
    """The stairwell leader if one is in the group, else the first registered household."""
    ranked = sorted(candidates, key=lambda c: (not c.stairwell_leader, c.registered))
    return ranked[0].household if ranked else None
