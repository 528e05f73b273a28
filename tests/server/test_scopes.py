"""Finer scope than the role table: a grid manager hears, reads and acts on their own grid's
alarms only; a building leader reads their building's; nobody sees another community's."""

from __future__ import annotations

from server.settings import Settings
from tests.actors import Person, resident
from tests.harness import Seed, running, seed, stream

# The demo's grid manager (网格员 赵敏) looks after 网格1: building B11; B12 is 网格2.
IN_GRID, OUT_OF_GRID = "B11-1-101", "B12-1-101"


async def test_a_grid_manager_hears_reads_and_takes_only_their_grids_alarms(
    sqlite_url: str,
) -> None:
    seeded: Seed = await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url, ws_heartbeat_seconds=5)
    async with running(settings) as base:
        manager = Person(base, seeded.staff["grid_manager"])
        assert (await manager.me())["channel"].startswith("grid:")
        async with stream(base, manager.token) as board:
            theirs = await resident(base, seeded, IN_GRID).raise_alarm()
            other = await resident(base, seeded, OUT_OF_GRID).raise_alarm()
            heard = await board.events_until(lambda ev: any(e["alert_id"] == theirs for e in ev))
            assert await board.silent(0.5)
        alarms = {e["alert_id"] for e in heard + board.events}
        assert alarms == {theirs}
        assert {a["id"] for a in await manager.alarms()} == {theirs}
        assert (await manager.take(other)).status_code == 404
        assert (await manager.call("GET", f"/api/alerts/{other}")).status_code == 404
        assert (await manager.take(theirs)).status_code == 200
        patrol = Person(base, seeded.staff["patrol_leader"])
        assert {a["id"] for a in await patrol.alarms()} == {theirs, other}
        async with stream(base, manager.token, last_event_id=0) as replayed:
            got = await replayed.events_until(lambda ev: len(ev) >= replayed.hello["replayed"])
        assert {e["alert_id"] for e in got} == {theirs}


async def test_a_building_leader_reads_their_buildings_alarms_a_neighbour_only_their_groups(
    sqlite_url: str,
) -> None:
    seeded = await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url)
    async with running(settings) as base:
        other_unit = await resident(base, seeded, "B11-2-101").raise_alarm()
        other_building = await resident(base, seeded, "B12-2-101").raise_alarm()
        leader = resident(base, seeded, "B11-1-502")  # the demo's building leader of B11
        plain = resident(base, seeded, "B11-1-102")
        seen = {a["id"] for a in await leader.alarms()}
        assert other_unit in seen
        assert other_building not in seen
        assert {a["id"] for a in await plain.alarms()} == set()
        assert (await leader.answer(other_unit, "coming")).status_code == 404  # reads, no more
