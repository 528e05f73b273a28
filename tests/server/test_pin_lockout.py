"""Someone guessing a household's PIN is locked out, for longer each time, on every process,
and staff can see it; the guesses never hold up a press."""

from __future__ import annotations

import asyncio

import httpx

from tests.actors import Person
from tests.harness import running
from tests.server.world import World, set_pins


async def change(household: Person, current: str) -> httpx.Response:
    body = {"pin": "4321", "duress_pin": "8888", "current": current}
    return await household.call("PUT", "/api/household/pin", json=body)


async def lockouts(staff: Person) -> list[str]:
    response = await staff.call("GET", "/api/household/pin-lockouts")
    assert response.status_code == 200, response.text
    return [row["household"] for row in response.json()]


async def test_five_wrong_current_pins_lock_the_household_out_for_longer_each_time(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        household, admin = world.resident(base), world.staff(base, "admin")
        await set_pins(household)
        for left in (4, 3, 2, 1):
            wrong = await change(household, "0000")
            assert wrong.status_code == 403
            assert f"{left} tries" in wrong.json()["detail"]
        fifth = await change(household, "0001")
        assert fifth.status_code == 429
        assert fifth.headers["Retry-After"] == "60"
        assert "try again after" in fifth.json()["detail"]
        assert await lockouts(admin) == [household.address]
        # Locked out, even the right PIN is not looked at.
        assert (await change(household, "1234")).status_code == 429

        world.clock.advance(61)
        assert await lockouts(admin) == []
        answers = [(await change(household, "0000")).status_code for _ in range(5)]
        assert answers == [403, 403, 403, 403, 429]
        again = await change(household, "1234")
        assert again.status_code == 429
        assert again.headers["Retry-After"] == "120"

        world.clock.advance(121)
        assert (await change(household, "1234")).status_code == 204
        fresh = await change(household, "0000")
        assert fresh.json()["detail"].endswith("(4 tries before a lockout)")


async def test_wrong_pins_sent_together_are_counted_one_by_one_while_presses_go_on(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        household = world.resident(base)
        neighbour = world.resident(base, world.neighbours()[0])
        await set_pins(household)
        guesses = [change(household, f"{n:04d}") for n in range(16)]
        pressed, *answers = await asyncio.gather(neighbour.press(), *guesses)
        assert pressed.status_code == 201, pressed.text
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [403] * 4 + [429] * 12


async def test_a_lockout_holds_on_every_process_of_the_deployment(world: World) -> None:
    async with (
        running(world.settings, clock=world.clock) as one,
        running(world.settings, clock=world.clock) as other,
    ):
        await set_pins(world.resident(one))
        for _ in range(5):
            await change(world.resident(one), "0000")
        assert (await change(world.resident(other), "1234")).status_code == 429


async def test_only_staff_read_the_lockouts(world: World) -> None:
    async with running(world.settings, clock=world.clock) as base:
        response = await world.resident(base).call("GET", "/api/household/pin-lockouts")
    assert response.status_code == 403
