"""The community admin keeps the register over the API; a group leader reads their group; no
one else, and no other community, gets in."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from groups.models import Household
from server.settings import Settings
from tests.harness import Seed, call, rows, running, seed
from tests.server.world import World


@pytest.fixture
def two(sqlite_url: str) -> tuple[Settings, Seed, Seed]:
    """The demo community and a second one, in one SQLite database."""
    first = asyncio.run(seed(sqlite_url))
    second = asyncio.run(seed(sqlite_url, community="另一个社区"))
    return Settings(database_url=sqlite_url), first, second


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def household_id(url: str, community_id: int, address: str) -> int:
    [(found,)] = await rows(
        url,
        select(Household.id).where(
            Household.community_id == community_id, Household.address == address
        ),
    )
    return int(found)


async def audit(base: str, token: str, **params: Any) -> list[dict[str, Any]]:
    page = await ok(await call(base, token, "GET", "/api/register/audit", params=params))
    entries: list[dict[str, Any]] = page["entries"]
    return entries


async def test_the_admin_moves_a_household_out_and_back_in_and_the_audit_log_has_both(
    world: World,
) -> None:
    admin = world.seed.staff["admin"]
    async with running(world.settings, clock=world.clock) as base:
        found = await ok(await call(base, admin, "GET", "/api/register/households?q=B11-1-301"))
        [household] = found["households"]
        assert "•" in household["residents"][0]["phone"]  # the list masks phones
        detail = await ok(
            await call(base, admin, "GET", f"/api/register/households/{household['id']}")
        )
        assert detail["residents"][0]["phone"].startswith("+86138")
        gone = await ok(
            await call(base, admin, "DELETE", f"/api/register/households/{household['id']}")
        )
        assert gone["notes"] == []  # 9 households are left: no note
        back = await ok(
            await call(
                base,
                admin,
                "POST",
                "/api/register/households",
                json={
                    "address": "B11-1-301",
                    "residents": [{"name": "王建国", "phone": "+8613800009999"}],
                    "language": "en",
                    "care_note": "uses a wheelchair",
                },
            ),
            201,
        )
        again = await ok(await call(base, admin, "GET", f"/api/register/households/{back['id']}"))
        assert again["group"] == household["group"]
        assert again["language"] == "en"
        assert again["care_note"] == "uses a wheelchair"
        entries = await audit(base, admin, subject="B11-1-301")
        actions = [e["action"] for e in entries]
        assert actions[:4] == ["viewed", "move_in", "move_out", "viewed"]
        move_out = entries[2]
        assert move_out["before"]["address"] == "B11-1-301"
        assert move_out["after"] is None
        assert move_out["actor_kind"] == "staff"
        assert entries[1]["after"]["residents"][0]["phone"] == "+8613800009999"


async def test_a_group_shrinking_below_8_is_done_and_said_in_the_answer_and_the_log(
    world: World,
) -> None:
    admin = world.seed.staff["admin"]
    group = world.seed.group_of("B12-2-101")
    async with running(world.settings, clock=world.clock) as base:
        notes: list[str] = []
        for address in group[:3]:
            hid = await household_id(world.url, world.seed.community_id, address)
            answer = await ok(await call(base, admin, "DELETE", f"/api/register/households/{hid}"))
            notes = answer["notes"]
        assert len(notes) == 1
        assert notes[0].endswith("now has 7 households, below 8")
        [latest] = await audit(base, admin, limit=1)
        assert latest["note"] == notes[0]


async def test_moving_in_past_12_hands_a_household_on_instead_of_splitting_7_and_6(
    world: World,
) -> None:
    admin = world.seed.staff["admin"]
    async with running(world.settings, clock=world.clock) as base:
        for room in (601, 602, 701):  # B11-1 has 10; the third newcomer would make 13
            await ok(
                await call(
                    base,
                    admin,
                    "POST",
                    "/api/register/households",
                    json={"address": f"B11-1-{room}", "residents": [{"name": f"住户{room}"}]},
                ),
                201,
            )
        groups = await ok(await call(base, admin, "GET", "/api/register/groups"))
        sizes = sorted(g["size"] for g in groups)
        assert sum(sizes) == 43
        assert all(8 <= size <= 12 for size in sizes), sizes
        assert len(groups) == 4


async def test_a_group_leader_reads_their_group_masked_and_cannot_change_anything(
    two: tuple[Settings, Seed, Seed],
) -> None:
    settings, first, _ = two
    leaders = [
        address
        for address in first.households
        if address.endswith("-301") and address.split("-")[1] == "1"
    ]
    async with running(settings) as base:
        me = None
        for address in leaders:
            me = await ok(await call(base, first.households[address], "GET", "/api/me"))
            if me["group_leader"]:
                leader = first.households[address]
                break
        assert me is not None
        assert me["group_leader"]
        page = await ok(await call(base, leader, "GET", "/api/register/households?limit=500"))
        mine = set(first.group_of(me["household"]))
        assert {h["address"] for h in page["households"]} == mine
        for h in page["households"]:
            for r in h["residents"]:
                if h["address"] != me["household"] and r["phone"]:
                    assert "•" in r["phone"]
            assert h["care_note"] is None
        other = next(a for a in first.households if a not in mine)
        other_id = await household_id(settings.database_url, first.community_id, other)
        assert (
            await call(base, leader, "GET", f"/api/register/households/{other_id}")
        ).status_code == 404
        assert (
            await call(base, leader, "DELETE", f"/api/register/households/{other_id}")
        ).status_code == 403
        own_id = await household_id(settings.database_url, first.community_id, me["household"])
        edit = await call(
            base, leader, "PATCH", f"/api/register/households/{own_id}", json={"language": "en"}
        )
        assert edit.status_code == 403
        assert (await call(base, leader, "GET", "/api/register/audit")).status_code == 403
        neighbour = first.households[next(a for a in mine if a != me["household"])]
        assert (await call(base, neighbour, "GET", "/api/register/households")).status_code == 403
        patrol = first.staff["patrol_member"]
        assert (await call(base, patrol, "GET", "/api/register/households")).status_code == 403


async def test_another_communitys_admin_gets_404_for_this_communitys_ids(
    two: tuple[Settings, Seed, Seed],
) -> None:
    settings, first, second = two
    stranger = second.staff["admin"]
    hid = await household_id(settings.database_url, first.community_id, "B11-1-301")
    group = first.groups["B11-1-301"]
    async with running(settings) as base:
        for method, path, body in [
            ("GET", f"/api/register/households/{hid}", None),
            ("DELETE", f"/api/register/households/{hid}", None),
            ("PATCH", f"/api/register/households/{hid}", {"language": "en"}),
            ("POST", f"/api/register/households/{hid}/group", {"group_id": group}),
            ("PUT", f"/api/register/groups/{group}/leader", {"household_id": hid}),
        ]:
            answer = await call(base, stranger, method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        theirs = await ok(await call(base, stranger, "GET", "/api/register/households?q=B11-1-301"))
        assert [h["id"] for h in theirs["households"]] != [hid]
        assert await audit(base, first.staff["admin"]) == []  # nothing happened here


async def test_an_import_with_a_bad_row_shows_that_row_and_writes_nothing_then_imports_fixed(
    world: World,
) -> None:
    admin = world.seed.staff["admin"]
    bad = "address,name,phone,grid,roles\nB13-1-101,甲,+8613800100001,,\nB13-1-102,乙,138001,,\n"
    async with running(world.settings, clock=world.clock) as base:
        headers = {"Content-Type": "text/csv"}
        refused = await call(
            base, admin, "POST", "/api/register/import", content=bad.encode(), headers=headers
        )
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"row": 3, "reason": refused.json()["errors"][0]["reason"]}
        ]
        assert "start with +" in refused.json()["errors"][0]["reason"]
        page = await ok(await call(base, admin, "GET", "/api/register/households?q=B13"))
        assert page["total"] == 0
        utf16 = await call(
            base,
            admin,
            "POST",
            "/api/register/import",
            content=bad.encode("utf-16"),
            headers=headers,
        )
        assert utf16.status_code == 422
        assert "UTF-16" in utf16.json()["detail"]
        fixed = bad.replace(",138001,", ",+8613800100002,")
        report = await ok(
            await call(
                base, admin, "POST", "/api/register/import", content=fixed.encode(), headers=headers
            )
        )
        assert report["households"] == 2
        assert report["notes"] == []  # B13's two households join the nearest group with room
        [entry] = await audit(base, admin, subject="register")
        assert entry["action"] == "import"


async def test_an_export_imports_into_another_community_as_the_same_register(
    two: tuple[Settings, Seed, Seed],
) -> None:
    settings, first, _ = two
    async with running(settings) as base:
        exported = await call(base, first.staff["admin"], "GET", "/api/register/export.csv")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        text = exported.content.decode("utf-8-sig")
        assert text.splitlines()[0] == "address,name,phone,grid,roles,language"
    third = await _empty_admin(settings.database_url)
    async with running(settings) as base:
        report = await ok(
            await call(base, third, "POST", "/api/register/import", content=exported.content)
        )
        assert report["households"] == 40
        again = await call(base, third, "GET", "/api/register/export.csv")
        # The new community's own admin (registered before the import) is its one extra row.
        lines = again.content.decode("utf-8-sig").splitlines()
        assert [line for line in lines if "临时" not in line] == text.splitlines()


async def _empty_admin(url: str) -> str:
    from groups.directory import add_staff, get_or_create_community
    from server import accounts
    from storage.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            community = await get_or_create_community(session, name="第三社区")
            admin = await add_staff(
                session,
                community_id=community.id,
                name="临时",
                phone="+8613999999999",
                role="admin",
            )
            token = await accounts.issue(session, community_id=community.id, staff_id=admin.id)
            await session.commit()
            return token
    finally:
        await engine.dispose()
