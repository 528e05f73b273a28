"""The alarm's life through the API and the stream: answers, take, on scene, resolve, cancel,
duress, merging, confirmed incidents, idempotent retries, drills, the all-clear."""

from __future__ import annotations

import asyncio

from tests.harness import at_least, poll_until, running, stream
from tests.server.world import POLICE, RAISER, World, all_sent, set_pins, texts_to


async def test_neighbours_answer_and_the_raiser_and_the_board_see_who_is_coming(
    world: World,
) -> None:
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(RAISER)) as raisers_app,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        raiser = world.resident(base)
        first, second, third = (world.resident(base, a) for a in world.neighbours()[:3])
        raised = (await raiser.press()).json()
        alarm = raised["alert"]["id"]
        assert raised["alert"]["neighbours"] == 9
        for who, answer in ((first, "coming"), (second, "coming"), (third, "cant")):
            reply = await who.answer(alarm, answer)
            assert reply.status_code == 200, reply.text
        heard = await raisers_app.events_until(
            lambda ev: sum(e["type"] == "alert.response" for e in ev) == 3
        )
        answers = [e["data"] for e in heard if e["type"] == "alert.response"]
        assert [(a["responder"], a["answer"], a["coming"]) for a in answers] == [
            (first.address, "coming", 1),
            (second.address, "coming", 2),
            (third.address, "cant", 2),
        ]
        assert all(a["neighbours"] == 9 for a in answers)
        await board.events_until(lambda ev: sum(e["type"] == "alert.response" for e in ev) == 3)

        changed = await second.answer(alarm, "cant")
        assert changed.json()["alert"]["coming"] == 1
        detail = await raiser.look_at(alarm)
        assert (detail["coming"], detail["neighbours"]) == (1, 9)
        assert {(r["household"], r["answer"]) for r in detail["responses"]} == {
            (first.address, "coming"),
            (second.address, "cant"),
            (third.address, "cant"),
        }
        assert all(r["name"] for r in detail["responses"])

        own = await raiser.answer(alarm, "coming")
        assert own.status_code == 403
        stranger = await world.resident(base, "B12-1-101").answer(alarm, "coming")
        assert stranger.status_code == 404
        nonsense = await first.answer(alarm, "maybe")
        assert nonsense.status_code == 422


async def test_the_patrol_takes_goes_on_scene_and_resolves_and_everyone_alerted_hears_all_clear(
    world: World,
) -> None:
    address = world.neighbours()[0]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(address)) as sock,
        stream(base, world.seed.staff["police_office"]) as board,
    ):
        patrol, neighbour = world.staff(base, "patrol_member"), world.resident(base, address)
        alarm = await world.resident(base).raise_alarm()
        await poll_until(lambda: all_sent(world, alarm))
        alarm_phones = {to for to, _, _ in await texts_to(world, alarm)}
        assert len(alarm_phones) == 9

        took = await patrol.take(alarm)
        arrived = await patrol.on_scene(alarm)
        resolved = await patrol.resolve(alarm, "handled", note="老人摔倒，已送回家")
        for done, status in ((took, "acknowledged"), (arrived, "on_scene"), (resolved, "resolved")):
            assert done.status_code == 200, done.text
            assert done.json()["alert"]["status"] == status
        wanted = ["alert.raised", "alert.acknowledged", "alert.on_scene", "alert.resolved"]
        for listener, expected in ((sock, wanted), (board, [*wanted, "alert.note"])):
            heard = await listener.events_until(at_least(len(expected)))
            assert [e["type"] for e in heard] == expected
            assert heard[3]["data"]["outcome"] == "handled"
            assert "note" not in heard[3]["data"]
            assert heard[1]["data"]["taken_by"] == "巡逻队员 陈军"
        assert board.events[-1]["data"]["note"] == "老人摔倒，已送回家"
        assert await sock.silent()
        seen_by = {
            "resident": (await neighbour.look_at(alarm))["note"],
            "patrol": (await patrol.look_at(alarm))["note"],
        }
        assert seen_by == {"resident": None, "patrol": "老人摔倒，已送回家"}
        closed = await neighbour.alarms(closed=True)
        assert [(a["id"], a["status"]) for a in closed] == [(alarm, "resolved")]
        assert await neighbour.alarms() == []

        await poll_until(lambda: all_sent(world, alarm))
        texts = await texts_to(world, alarm)
        all_clear = {to for to, body, _ in texts if "已解除" in body or "All clear" in body}
        assert all_clear == alarm_phones

        again = await patrol.take(alarm)
        assert again.status_code == 409
        assert "resolved" in again.json()["detail"]
        twice = await patrol.resolve(alarm, "other")
        assert twice.status_code == 409
        by_resident = await neighbour.take(alarm)
        assert by_resident.status_code == 403

        timeline = await patrol.timeline(alarm)
        assert [e["type"] for e in timeline] == [*wanted, "alert.note"]
        assert [e["actor"].split(":")[0] for e in timeline] == [
            "resident",
            "staff",
            "staff",
            "staff",
            "staff",
        ]


async def test_a_group_leader_is_told_so_and_others_are_not(world: World) -> None:
    async with running(world.settings, clock=world.clock) as base:
        leader = await world.resident(base).me()
        other = await world.resident(base, world.neighbours()[0]).me()
        assert (leader["group_leader"], other["group_leader"]) == (True, False)
        assert leader["group"] == other["group"]


async def test_two_patrol_members_take_at_once_one_wins_the_other_is_told_who(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        leader, member = world.staff(base, "patrol_leader"), world.staff(base, "patrol_member")
        alarm = await world.resident(base).raise_alarm()
        answers = await asyncio.gather(leader.take(alarm), member.take(alarm))
        assert sorted(a.status_code for a in answers) == [200, 409]
        winner = next(a for a in answers if a.status_code == 200).json()["alert"]["taken_by"]
        loser = next(a for a in answers if a.status_code == 409).json()["detail"]
        assert loser == f"alarm {alarm} was already taken by {winner}"


async def test_the_raiser_cancels_with_the_pin_within_the_window_only(world: World) -> None:
    other = world.neighbours()[0]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(other)) as sock,
    ):
        raiser, neighbour = world.resident(base), world.resident(base, other)
        patrol = world.staff(base, "patrol_member")
        alarm = await raiser.raise_alarm()
        unset = await raiser.cancel(alarm, pin="1234")
        assert unset.status_code == 409
        assert "no PIN" in unset.json()["detail"]
        await set_pins(raiser)
        wrong = await raiser.cancel(alarm, pin="0000")
        assert wrong.status_code == 403
        by_neighbour = await neighbour.cancel(alarm, pin="1234")
        assert by_neighbour.status_code == 403

        done = await raiser.cancel(alarm, pin="1234")
        assert done.status_code == 200
        assert (done.json()["status"], done.json()["outcome"]) == ("cancelled", "false_alarm")
        heard = await sock.events_until(lambda ev: len(ev) >= 2)
        assert [e["type"] for e in heard] == ["alert.raised", "alert.cancelled"]

        guessed = await raiser.raise_alarm("fire")
        for attempt in range(5):
            wrong = await raiser.cancel(guessed, pin=f"000{attempt}")
            assert (wrong.status_code, wrong.json()["detail"]) == (403, "wrong PIN")
        locked_out = await raiser.cancel(guessed, pin="1234")
        assert (locked_out.status_code, locked_out.json()["detail"]) == (
            409,
            "too many wrong PINs for this alarm; the patrol will close it",
        )
        timeline = await patrol.timeline(guessed)
        assert [e["data"]["failures"] for e in timeline if e["type"] == "alert.pin_failed"] == [
            1,
            2,
            3,
            4,
            5,
        ]
        group_view = await raiser.timeline(guessed)
        assert "alert.pin_failed" not in {e["type"] for e in group_view}
        await patrol.resolve(guessed, "false_alarm")

        late = await raiser.raise_alarm("fire")
        world.clock.advance(121)
        too_late = await raiser.cancel(late, pin="1234")
        assert too_late.status_code == 409
        assert "cancel window (120 s) has closed" in too_late.json()["detail"]


async def test_the_duress_pin_shows_cancelled_to_the_group_and_duress_to_board_and_police(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        raiser, patrol = world.resident(base), world.staff(base, "patrol_leader")
        await set_pins(raiser)
        async with stream(base, raiser.token) as raisers_app, stream(base, patrol.token) as board:
            alarm = await raiser.raise_alarm("intrusion")
            shown = await raiser.cancel(alarm, pin="9999")
            assert shown.status_code == 200
            assert (shown.json()["status"], shown.json()["duress"]) == ("cancelled", False)

            heard = await raisers_app.events_until(lambda ev: len(ev) >= 2)
            assert [e["type"] for e in heard] == ["alert.raised", "alert.cancelled"]
            assert heard[1]["data"]["status"] == "cancelled"
            seen = await board.events_until(lambda ev: len(ev) >= 3)
            assert [e["type"] for e in seen] == ["alert.raised", "alert.duress", "alert.escalated"]
            assert seen[2]["data"]["duress"] is True
            assert seen[2]["data"]["reason"] == "duress"

            # The patrol takes it: the board hears it, the raiser's group does not.
            took = await patrol.take(alarm)
            assert took.status_code == 200
            await board.events_until(lambda ev: ev[-1]["type"] == "alert.acknowledged")
            assert await raisers_app.silent()

        mine = await raiser.look_at(alarm)
        assert (mine["status"], mine["duress"], mine["taken_by"]) == ("cancelled", False, None)
        board_view = await patrol.look_at(alarm)
        assert (board_view["status"], board_view["duress"]) == ("acknowledged", True)
        group_timeline = await raiser.timeline(alarm)
        assert [e["type"] for e in group_timeline] == ["alert.raised", "alert.cancelled"]
        answer = await world.resident(base, world.neighbours()[0]).answer(alarm, "coming")
        assert answer.status_code == 409
        assert "cancelled" in answer.json()["detail"]
        police = [body for to, body, _ in await texts_to(world, alarm) if to == POLICE]
        assert len(police) == 1
        assert "胁迫" in police[0]


async def test_a_duress_pin_after_the_window_answers_like_a_late_pin_and_still_calls_the_police(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        raiser, forced = world.resident(base), world.resident(base, "B12-1-101")
        patrol = world.staff(base, "patrol_leader")
        await set_pins(raiser)
        real_id = await raiser.raise_alarm()
        forced_id = await forced.raise_alarm()
        await set_pins(forced)
        world.clock.advance(121)
        late_real = await raiser.cancel(real_id, pin="1234")
        late_forced = await forced.cancel(forced_id, pin="9999")
        assert (late_forced.status_code, late_forced.json()) == (
            late_real.status_code,
            late_real.json(),
        )
        assert late_real.status_code == 409

        def shown(alert: dict[str, object]) -> tuple[object, ...]:
            return (alert["status"], alert["duress"], alert["outcome"])

        as_raiser = await forced.look_at(forced_id)
        as_other = await raiser.look_at(real_id)
        assert shown(as_raiser) == shown(as_other) == ("open", False, None)
        as_board = await patrol.look_at(forced_id)
        assert (as_board["status"], as_board["duress"]) == ("open", True)
        police = [body for to, body, _ in await texts_to(world, forced_id) if to == POLICE]
        assert any("胁迫" in body for body in police)


async def test_repeated_presses_merge_and_a_second_household_confirms_the_incident(
    world: World,
) -> None:
    second, late = world.neighbours()[0], world.neighbours()[1]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        raiser = world.resident(base)
        first = await raiser.press()
        assert first.status_code == 201
        alert_id = first.json()["alert"]["id"]
        for count in (2, 3):
            again = await raiser.press("fire")
            assert again.status_code == 200
            assert (again.json()["alert"]["id"], again.json()["outcome"]) == (alert_id, "merged")
            assert again.json()["alert"]["presses"] == count
            assert again.json()["texts"] == 0

        other = await world.resident(base, second).press()
        assert other.status_code == 201
        confirmed = other.json()["alert"]
        assert confirmed["confirmed"] is True
        assert confirmed["linked_alert_id"] == alert_id
        heard = await board.events_until(
            lambda ev: bool(ev) and ev[-1]["type"] == "alert.escalated"
        )
        assert [e["type"] for e in heard] == [
            "alert.raised",
            "alert.pressed",
            "alert.pressed",
            "alert.raised",
            "alert.confirmed",
            "alert.escalated",
        ]
        assert heard[4]["alert_id"] == alert_id
        assert heard[5]["data"]["reason"] == "confirmed"
        original = await raiser.look_at(alert_id)
        assert (original["confirmed"], original["presses"]) == (True, 3)
        police = [to for to, _, _ in await texts_to(world, confirmed["id"]) if to == POLICE]
        assert police == [POLICE]

        world.clock.advance(121)
        after_window = (await world.resident(base, late).press()).json()["alert"]
        assert (after_window["confirmed"], after_window["linked_alert_id"]) == (False, None)


async def test_a_retried_press_with_the_same_idempotency_key_gets_the_same_alarm(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        raiser = world.resident(base)
        first = await raiser.press(key="press-7f3a")
        retry = await raiser.press(key="press-7f3a")
        assert (first.status_code, retry.status_code) == (201, 200)
        assert retry.json()["alert"]["id"] == first.json()["alert"]["id"]
        assert retry.json()["outcome"] == "repeated"
        assert retry.json()["alert"]["presses"] == 1
        assert (retry.json()["event_id"], retry.json()["texts"]) == (None, 0)
        alert_id = first.json()["alert"]["id"]
        taken = await world.staff(base, "patrol_member").take(alert_id)
        assert taken.status_code == 200
        # a press with an empty body: the type defaults
        other = await raiser.call(
            "POST", "/api/alerts", json={}, headers={"Idempotency-Key": "press-2"}
        )
        assert other.json()["outcome"] == "merged"
        shown = await raiser.look_at(alert_id)
        detail_only = ("responses", "responder", "raiser_phone")
        assert other.json()["alert"] == {k: v for k, v in shown.items() if k not in detail_only}
        assert other.json()["alert"]["taken_by"] is not None
        assert other.json()["alert"]["group"] is not None
        timeline = await raiser.timeline(alert_id)
        assert [e["type"] for e in timeline] == [
            "alert.raised",
            "alert.acknowledged",
            "alert.pressed",
        ]


async def test_the_patrol_can_go_on_scene_or_resolve_straight_from_open(world: World) -> None:
    async with running(world.settings, clock=world.clock) as base:
        patrol = world.staff(base, "patrol_member")
        first = await world.resident(base).raise_alarm()
        second = await world.resident(base, "B12-1-101").raise_alarm()
        arrived = await patrol.on_scene(first)
        assert arrived.json()["alert"]["status"] == "on_scene"
        assert arrived.json()["alert"]["taken_by"] == "巡逻队员 陈军"
        assert (await patrol.take(first)).status_code == 409
        again = await patrol.on_scene(first)
        assert (again.status_code, again.json()["detail"]) == (
            409,
            f"alarm {first} is already on scene",
        )
        closed = await patrol.resolve(second, "false_alarm")
        assert closed.json()["alert"]["status"] == "resolved"
        assert closed.json()["alert"]["taken_by"] == "巡逻队员 陈军"
        late = await patrol.on_scene(second)
        assert (late.status_code, late.json()["detail"]) == (
            409,
            f"alarm {second} is resolved; it can't be marked on scene",
        )
        bad = await patrol.resolve(first, "lost")
        assert bad.status_code == 422


async def test_the_patrol_calls_in_the_police_office_but_never_for_a_drill(world: World) -> None:
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(world.neighbours()[0])) as sock,
    ):
        patrol, raiser = world.staff(base, "patrol_member"), world.resident(base)
        alarm = await raiser.raise_alarm("intrusion")
        assert (await patrol.take(alarm)).status_code == 200
        called = await patrol.escalate(alarm)
        assert called.status_code == 200, called.text
        heard = await sock.events_until(lambda ev: bool(ev) and ev[-1]["type"] == "alert.escalated")
        assert (heard[-1]["data"]["level"], heard[-1]["data"]["by"]) == ("police", "巡逻队员 陈军")
        police = [body for to, body, _ in await texts_to(world, alarm) if to == POLICE]
        assert len(police) == 1
        assert "请求警务室支援" in police[0]
        by_resident = await raiser.escalate(alarm)
        assert by_resident.status_code == 403

        drill = await world.resident(base, "B12-1-301").start_drill("演练")
        assert drill.status_code == 201, drill.text
        drill_id = drill.json()["alert"]["id"]
        refused = await patrol.escalate(drill_id)
        assert (refused.status_code, refused.json()["detail"]) == (
            409,
            f"alarm {drill_id} is a drill; a drill never reaches the police office",
        )
