"""Presence across processes: a resident's socket held by one process shows the household
connected to a reader on another, and not once it closes; a routine test started on one
process reaches the household's socket on the other, which records the app check."""

from __future__ import annotations

from typing import Any

from tests.e2e.processes import service
from tests.harness import call, poll_until, seed, stream

HOME = "B11-1-301"


async def _reach(base: str, token: str) -> dict[str, Any]:
    answer = await call(base, token, "GET", "/api/community/reachability")
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json() if r["address"] == HOME)


async def test_a_socket_on_one_process_shows_connected_on_another_and_its_test_reaches_it(
    db_url: str, redis_url: str
) -> None:
    seeded = await seed(db_url)
    admin, mine = seeded.staff["admin"], seeded.households[HOME]
    with (
        service(database_url=db_url, redis_url=redis_url) as first,
        service(database_url=db_url, redis_url=redis_url) as second,
    ):
        assert (await _reach(second, admin))["connected"] is False
        async with stream(first, mine) as app:

            async def connected() -> bool:
                return bool((await _reach(second, admin))["connected"])

            await poll_until(connected)
            started = await call(second, mine, "POST", "/api/me/test")
            assert started.status_code == 201, started.text
            heard = await app.next_event()
            assert (heard["type"], heard["test_id"]) == ("test", started.json()["id"])

            async def app_ok() -> bool:
                found = await call(
                    first, admin, "GET", f"/api/households/{started.json()['household_id']}/tests"
                )
                return bool(found.json()[0]["summary"]["app"] == "ok")

            await poll_until(app_ok)

        async def gone() -> bool:
            return (await _reach(second, admin))["connected"] is False

        await poll_until(gone)
