"""An admin registering a community from a CSV file (登记造册)."""

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from groups.directory import get_or_create_community, list_groups
from groups.importer import ImportFailed, RowError, import_csv
from groups.models import Community, Grid, Household, Resident, Staff
from storage.db import AsyncSession

SAMPLE = Path(__file__).parent / "data" / "sample.csv"
HEADER = "address,name,phone,grid,roles\n"


async def count(session: AsyncSession, model: type) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_an_admin_importing_the_sample_gets_one_group_per_stairwell(
    session: AsyncSession,
) -> None:
    seen: list[tuple[int, int]] = []
    report = await import_csv(
        session, source=SAMPLE, community="丰乐社区", progress=lambda d, t: seen.append((d, t))
    )
    await session.commit()
    assert (report.households, report.residents, report.staff, report.groups) == (40, 54, 5, 4)
    community = await get_or_create_community(session, name="丰乐社区")
    rosters = await list_groups(session, community_id=community.id)
    assert [(r.group.name, len(r.members)) for r in rosters] == [
        ("B2-1 #1", 12),
        ("B2-2 #1", 8),
        ("B11-1 #1", 10),
        ("B11-2 #1", 10),
    ]
    assert seen[-1] == (59, 59)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert await count(session, Grid) == 2


async def test_the_stairwell_leader_becomes_the_group_leader(session: AsyncSession) -> None:
    await import_csv(session, source=SAMPLE, community="丰乐社区")
    community = await get_or_create_community(session, name="丰乐社区")
    leaders = {
        r.group.name: r.leader for r in await list_groups(session, community_id=community.id)
    }
    assert leaders["B11-1 #1"] is not None
    assert leaders["B11-1 #1"].address == "B11-1-301"
    assert leaders["B2-1 #1"] is not None
    assert leaders["B2-1 #1"].address == "B2-1-401"
    # No stairwell leader in B2-2: the first registered household leads.
    assert leaders["B2-2 #1"] is not None
    assert leaders["B2-2 #1"].address == "B2-2-101"


async def test_an_admin_importing_a_file_with_a_bad_phone_sees_row_7_and_nothing_is_written(
    session: AsyncSession,
) -> None:
    rows = SAMPLE.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    assert rows[6].startswith("B2-1-202,刘明,,")  # row 7 as the spreadsheet shows it
    rows[6] = "B2-1-202,刘明,13800000006,网格1,\n"
    with pytest.raises(ImportFailed) as failure:
        await import_csv(session, source=io.StringIO("".join(rows)), community="丰乐社区")
    assert [e.row for e in failure.value.errors] == [7]
    assert "start with +" in failure.value.errors[0].reason
    for model in (Community, Household, Resident, Staff, Grid):
        assert await count(session, model) == 0


async def test_every_bad_row_is_reported_with_its_number_and_reason(
    session: AsyncSession,
) -> None:
    text = (
        "\ufeff"
        + HEADER
        + "B11-1-301,王建国,+8613800000001,,\n"  # 2: fine
        + "B11-1-3O1,李秀英,+8613800000002,,\n"  # 3: letter O for zero
        + "B11-1-302,,+8613800000003,,\n"  # 4: no name
        + "B11-1-401,张桂兰,+8613800000004,,mayor\n"  # 5: unknown role
        + ",赵队长,+8613900000001,,patrol_leader\n"  # 6: fine
        + ",钱巡逻,+8613900000001,,patrol_member\n"  # 7: same phone as row 6
        + ",孙巡逻,+8613900000003,,\n"  # 8: staff without a role
        + "B11-1-501,刘志强,+8613800000005,,patrol_member\n"  # 9: staff role at an address
    )
    with pytest.raises(ImportFailed) as failure:
        await import_csv(session, source=io.StringIO(text), community="丰乐社区")
    errors = failure.value.errors
    assert [e.row for e in errors] == [3, 4, 5, 7, 8, 9]
    assert "room" in errors[0].reason
    assert errors[1] == RowError(4, "name is missing")
    assert "mayor" in errors[2].reason
    assert "row 6" in errors[3].reason
    assert "need one role" in errors[4].reason
    assert "leave the address empty" in errors[5].reason
    assert await count(session, Household) == 0


async def test_a_file_without_the_address_column_is_refused_on_row_1(
    session: AsyncSession,
) -> None:
    with pytest.raises(ImportFailed) as failure:
        await import_csv(
            session, source=io.StringIO("name,phone\n王,+8613800000001\n"), community="x"
        )
    assert failure.value.errors == [RowError(1, "missing column(s): address, grid, roles")]


async def test_importing_the_same_file_twice_writes_nothing_the_second_time(
    session: AsyncSession,
) -> None:
    await import_csv(session, source=SAMPLE, community="丰乐社区")
    await session.commit()
    with pytest.raises(ImportFailed) as failure:
        await import_csv(session, source=SAMPLE, community="丰乐社区")
    assert failure.value.errors[0] == RowError(2, "B2-1-101 is already registered")
    assert RowError(56, "staff phone +8613900000001 is already registered") in failure.value.errors
    assert len(failure.value.errors) == 45
    await session.rollback()
    assert await count(session, Household) == 40
    assert await count(session, Staff) == 5


async def test_a_second_file_groups_a_new_building_and_slots_late_arrivals_in(
    session: AsyncSession,
) -> None:
    await import_csv(session, source=SAMPLE, community="丰乐社区")
    community = await get_or_create_community(session, name="丰乐社区")
    before = {
        r.group.id: {h.address for h in r.members}
        for r in await list_groups(session, community_id=community.id)
    }
    late = "B2-2-501,吴明,+8613800000201,网格1,\n"
    new_building = "".join(
        f"B20-1-{f}0{d},新住户{f}{d},+86138002{f}{d:04d},,\n" for f in range(1, 6) for d in (1, 2)
    )
    report = await import_csv(
        session, source=io.StringIO(HEADER + late + new_building), community="丰乐社区"
    )
    assert (report.households, report.groups) == (11, 1)
    after = {r.group.name: r for r in await list_groups(session, community_id=community.id)}
    assert len(after["B20-1 #1"].members) == 10
    joined = after["B2-2 #1"]
    assert {h.address for h in joined.members} == before[joined.group.id] | {"B2-2-501"}
    untouched = {name: r for name, r in after.items() if name not in ("B20-1 #1", "B2-2 #1")}
    assert all({h.address for h in r.members} == before[r.group.id] for r in untouched.values())
