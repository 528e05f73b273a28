"""What leaders and admins do: drills kept apart from real alarms, the policy, reports."""

from __future__ import annotations

from typing import Any

from tests.harness import call, running, stream
from tests.server.world import POLICE, RAISER, World, texts_to

DRILL = "十一月消防演练"


async def test_a_drill_says_drill_everywhere_never_reaches_the_police_and_is_counted_apart(
    world: World,
) -> None:
    address = world.neighbours()[0]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(address)) as sock,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        leader = world.resident(base)  # B11-1-301 is the stairwell leader, so the group's leader
        neighbour, patrol = world.resident(base, address), world.staff(base, "patrol_member")
        admin = world.staff(base, "admin")
        started = await leader.start_drill(DRILL)
        assert started.status_code == 201, started.text
        drill = started.json()["alert"]
        assert (drill["drill"], drill["drill_label"], drill["household"]) == (True, DRILL, RAISER)
        for listener in (sock, board):
            event = await listener.next_event()
            assert (event["data"]["drill"], event["data"]["drill_label"]) == (True, DRILL)
        bodies = [body for _, body, _ in await texts_to(world, drill["id"])]
        assert len(bodies) == 9
        assert all("演练 DRILL" in body for body in bodies)

        real = await leader.press()
        assert real.status_code == 201
        assert real.json()["alert"]["drill"] is False

        world.clock.advance(91)

        def patrol_round(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in events
                    if e["type"] == "alert.escalated"
                    and e["alert_id"] == drill["id"]
                    and e["data"]["level"] == "patrol"
                ),
                None,
            )

        drill_escalation = patrol_round(
            await board.events_until(lambda ev: patrol_round(ev) is not None)
        )
        assert drill_escalation is not None
        assert drill_escalation["data"]["police"] is False
        assert POLICE not in {to for to, _, _ in await texts_to(world, drill["id"])}
        assert POLICE in {to for to, _, _ in await texts_to(world, real.json()["alert"]["id"])}

        by_neighbour = await neighbour.start_drill(DRILL)
        assert by_neighbour.status_code == 403
        by_patrol = await patrol.start_drill(DRILL)
        assert by_patrol.status_code == 403
        nowhere = await admin.start_drill(DRILL)
        assert nowhere.status_code == 422
        by_admin = await admin.start_drill(DRILL, household="B12-1-101")
        assert by_admin.status_code == 201
        assert by_admin.json()["alert"]["household"] == "B12-1-101"

        report = (await admin.report()).json()
        assert (report["real"]["total"], report["drills"]["total"]) == (1, 2)
        assert report["real"]["escalated"] == 1
        forbidden = await neighbour.report()
        assert forbidden.status_code == 403


async def test_an_admin_edits_the_escalation_policy_and_others_may_only_read_it(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        patrol, admin = world.staff(base, "patrol_member"), world.staff(base, "admin")
        defaults = (await patrol.policy()).json()
        assert (defaults["quorum"], defaults["quorum_seconds"], defaults["patrol_seconds"]) == (
            2,
            45,
            90,
        )
        denied = await patrol.set_policy(quorum=3)
        assert denied.status_code == 403
        bad = await admin.set_policy(quorum_seconds=0)
        assert bad.status_code == 422
        unknown = await admin.set_policy(speed=1)
        assert unknown.status_code == 422
        changed = await admin.set_policy(quorum=3)
        assert changed.json()["quorum"] == 3
        assert (await patrol.policy()).json() == changed.json()
        resident = await world.resident(base).policy()
        assert resident.status_code == 403


async def test_pins_and_the_roster_refuse_bad_input_with_a_reason(world: World) -> None:
    token, admin = world.token(RAISER), world.seed.staff["admin"]
    async with running(world.settings, clock=world.clock) as base:

        async def put_pin(body: dict[str, str]) -> tuple[int, str]:
            answer = await call(base, token, "PUT", "/api/household/pin", json=body)
            return answer.status_code, answer.text

        assert (await put_pin({"pin": "1234", "duress_pin": "1234"}))[0] == 422
        assert (await put_pin({"pin": "12", "duress_pin": "5678"}))[0] == 422
        assert (await put_pin({"pin": "1234", "duress_pin": "5678"}))[0] == 204
        status, reason = await put_pin({"pin": "4321", "duress_pin": "8765"})
        assert (status, "current PIN" in reason) == (403, True)
        assert (await put_pin({"pin": "4321", "duress_pin": "8765", "current": "1234"}))[0] == 204
        by_staff = await world.staff(base, "admin").set_pins("1111", "2222")
        assert by_staff.status_code == 403

        async def shift(body: dict[str, str], who: str = admin) -> tuple[int, str]:
            answer = await call(base, who, "POST", "/api/duty/shifts", json=body)
            return answer.status_code, answer.json()["detail"] if answer.status_code >= 400 else ""

        good = {"phone": "+8613900000002", "days": "mon-fri", "starts": "08:00", "ends": "20:00"}
        assert (await shift(good))[0] == 201
        assert await shift({**good, "days": "someday"}) == (
            422,
            "'someday' is not a weekday like mon or mon-fri",
        )
        assert await shift({**good, "starts": "25:00"}) == (422, "'25:00' is not a time like 08:00")
        assert await shift({**good, "phone": "+8600000000000"}) == (
            404,
            "no staff member with phone +8600000000000",
        )
        assert (await shift(good, who=world.seed.staff["patrol_member"]))[0] == 403

        async def override(starts_at: str, ends_at: str) -> tuple[int, str]:
            body = {"phone": "+8613900000002", "starts_at": starts_at, "ends_at": ends_at}
            answer = await call(base, admin, "POST", "/api/duty/overrides", json=body)
            return answer.status_code, answer.json()["detail"]

        assert await override("2026-12-01T10:00:00+08:00", "2026-12-01T09:00:00+08:00") == (
            422,
            "an override ends after it starts",
        )
        assert (await override("2026-12-01T10:00:00", "2026-12-01T11:00:00"))[0] == 422
