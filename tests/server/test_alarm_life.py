"""The alarm's life through the API and the stream: answers, take, on scene, resolve, cancel,
duress, merging, confirmed incidents, idempotent retries, drills, the all-clear."""

from __future__ import annotations

import asyncio

from tests.harness import at_least, call, poll_until, press, running, stream
from tests.server.world import POLICE, RAISER, World, all_sent, set_pins, texts_to


async def test_neighbours_answer_and_the_raiser_and_the_board_see_who_is_coming(
    world: World,
) -> None:
    first, second, third = world.neighbours()[:3]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(RAISER)) as raiser,
        stream(base, world.seed.staff["patrol_member"]) as board,
    ):
        raised = (await press(base, world.token(RAISER))).json()
        alert_id = raised["alert"]["id"]
        assert raised["alert"]["neighbours"] == 9
        path = f"/api/alerts/{alert_id}/responses"
        for who, answer in ((first, "coming"), (second, "coming"), (third, "cant")):
            reply = await call(base, world.token(who), "POST", path, json={"answer": answer})
            assert reply.status_code == 200, reply.text
        heard = await raiser.events_until(
            lambda ev: sum(e["type"] == "alert.response" for e in ev) == 3
        )
        answers = [e["data"] for e in heard if e["type"] == "alert.response"]
        assert [(a["responder"], a["answer"], a["coming"]) for a in answers] == [
            (first, "coming", 1),
            (second, "coming", 2),
            (third, "cant", 2),
        ]
        assert all(a["neighbours"] == 9 for a in answers)
        await board.events_until(lambda ev: sum(e["type"] == "alert.response" for e in ev) == 3)

        changed = await call(base, world.token(second), "POST", path, json={"answer": "cant"})
        assert changed.json()["alert"]["coming"] == 1
        detail = (await call(base, world.token(RAISER), "GET", f"/api/alerts/{alert_id}")).json()
        assert (detail["coming"], detail["neighbours"]) == (1, 9)
        assert {(r["household"], r["answer"]) for r in detail["responses"]} == {
            (first, "coming"),
            (second, "cant"),
            (third, "cant"),
        }
        assert all(r["name"] for r in detail["responses"])

        own = await call(base, world.token(RAISER), "POST", path, json={"answer": "coming"})
        assert own.status_code == 403
        stranger = await call(
            base, world.token("B12-1-101"), "POST", path, json={"answer": "coming"}
        )
        assert stranger.status_code == 404
        nonsense = await call(base, world.token(first), "POST", path, json={"answer": "maybe"})
        assert nonsense.status_code == 422


async def test_the_patrol_takes_goes_on_scene_and_resolves_and_everyone_alerted_hears_all_clear(
    world: World,
) -> None:
    patrol = world.seed.staff["patrol_member"]
    neighbour = world.neighbours()[0]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(neighbour)) as sock,
        stream(base, world.seed.staff["police_office"]) as board,
    ):
        alert_id = (await press(base, world.token(RAISER))).json()["alert"]["id"]
        await poll_until(lambda: all_sent(world, alert_id))
        alarm_phones = {to for to, _, _ in await texts_to(world, alert_id)}
        assert len(alarm_phones) == 9

        steps = [
            ("take", None, "acknowledged"),
            ("on-scene", None, "on_scene"),
            ("resolve", {"outcome": "handled", "note": "老人摔倒，已送回家"}, "resolved"),
        ]
        for action, body, status in steps:
            done = await call(base, patrol, "POST", f"/api/alerts/{alert_id}/{action}", json=body)
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
            who: (await call(base, token, "GET", f"/api/alerts/{alert_id}")).json()["note"]
            for who, token in (("resident", world.token(neighbour)), ("patrol", patrol))
        }
        assert seen_by == {"resident": None, "patrol": "老人摔倒，已送回家"}
        closed = (await call(base, world.token(neighbour), "GET", "/api/alerts?closed=true")).json()
        assert [(a["id"], a["status"]) for a in closed] == [(alert_id, "resolved")]
        assert (await call(base, world.token(neighbour), "GET", "/api/alerts")).json() == []

        await poll_until(lambda: all_sent(world, alert_id))
        texts = await texts_to(world, alert_id)
        all_clear = {to for to, body, _ in texts if "已解除" in body or "All clear" in body}
        assert all_clear == alarm_phones

        again = await call(base, patrol, "POST", f"/api/alerts/{alert_id}/take")
        assert again.status_code == 409
        assert "resolved" in again.json()["detail"]
        twice = await call(
            base, patrol, "POST", f"/api/alerts/{alert_id}/resolve", json={"outcome": "other"}
        )
        assert twice.status_code == 409
        by_resident = await call(
            base, world.token(neighbour), "POST", f"/api/alerts/{alert_id}/take"
        )
        assert by_resident.status_code == 403

        timeline = (await call(base, patrol, "GET", f"/api/alerts/{alert_id}/timeline")).json()
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
        leader = (await call(base, world.token(RAISER), "GET", "/api/me")).json()
        other = (await call(base, world.token(world.neighbours()[0]), "GET", "/api/me")).json()
        assert (leader["group_leader"], other["group_leader"]) == (True, False)
        assert leader["group"] == other["group"]


async def test_two_patrol_members_take_at_once_one_wins_the_other_is_told_who(
    world: World,
) -> None:
    leader, member = world.seed.staff["patrol_leader"], world.seed.staff["patrol_member"]
    async with running(world.settings, clock=world.clock) as base:
        alert_id = (await press(base, world.token(RAISER))).json()["alert"]["id"]
        path = f"/api/alerts/{alert_id}/take"
        answers = await asyncio.gather(
            call(base, leader, "POST", path), call(base, member, "POST", path)
        )
        assert sorted(a.status_code for a in answers) == [200, 409]
        winner = next(a for a in answers if a.status_code == 200).json()["alert"]["taken_by"]
        loser = next(a for a in answers if a.status_code == 409).json()["detail"]
        assert loser == f"alarm {alert_id} was already taken by {winner}"


async def test_the_raiser_cancels_with_the_pin_within_the_window_only(world: World) -> None:
    other = world.neighbours()[0]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(other)) as sock,
    ):
        token = world.token(RAISER)
        alert_id = (await press(base, token)).json()["alert"]["id"]
        cancel = f"/api/alerts/{alert_id}/cancel"
        unset = await call(base, token, "POST", cancel, json={"pin": "1234"})
        assert unset.status_code == 409
        assert "no PIN" in unset.json()["detail"]
        await set_pins(base, token)
        wrong = await call(base, token, "POST", cancel, json={"pin": "0000"})
        assert wrong.status_code == 403
        by_neighbour = await call(base, world.token(other), "POST", cancel, json={"pin": "1234"})
        assert by_neighbour.status_code == 403

        done = await call(base, token, "POST", cancel, json={"pin": "1234"})
        assert done.status_code == 200
        assert (done.json()["status"], done.json()["outcome"]) == ("cancelled", "false_alarm")
        heard = await sock.events_until(lambda ev: len(ev) >= 2)
        assert [e["type"] for e in heard] == ["alert.raised", "alert.cancelled"]

        guessed_id = (await press(base, token, "fire")).json()["alert"]["id"]
        guess = f"/api/alerts/{guessed_id}/cancel"
        for attempt in range(5):
            wrong = await call(base, token, "POST", guess, json={"pin": f"000{attempt}"})
            assert (wrong.status_code, wrong.json()["detail"]) == (403, "wrong PIN")
        locked_out = await call(base, token, "POST", guess, json={"pin": "1234"})
        assert (locked_out.status_code, locked_out.json()["detail"]) == (
            409,
            "too many wrong PINs for this alarm; the patrol will close it",
        )
        timeline = (
            await call(base, world.seed.staff["patrol_member"], "GET", f"{guess[:-7]}/timeline")
        ).json()
        assert [e["data"]["failures"] for e in timeline if e["type"] == "alert.pin_failed"] == [
            1,
            2,
            3,
            4,
            5,
        ]
        group_view = (await call(base, token, "GET", f"{guess[:-7]}/timeline")).json()
        assert "alert.pin_failed" not in {e["type"] for e in group_view}
        await call(
            base,
            world.seed.staff["patrol_member"],
            "POST",
            f"{guess[:-7]}/resolve",
            json={"outcome": "false_alarm"},
        )

        late_id = (await press(base, token, "fire")).json()["alert"]["id"]
        world.clock.advance(121)
        late = await call(
            base, token, "POST", f"/api/alerts/{late_id}/cancel", json={"pin": "1234"}
        )
        assert late.status_code == 409
        assert "cancel window (120 s) has closed" in late.json()["detail"]


async def test_the_duress_pin_shows_cancelled_to_the_group_and_duress_to_board_and_police(
    world: World,
) -> None:
    token = world.token(RAISER)
    neighbour = world.neighbours()[0]
    patrol = world.seed.staff["patrol_leader"]
    async with running(world.settings, clock=world.clock) as base:
        await set_pins(base, token)
        async with stream(base, token) as raiser, stream(base, patrol) as board:
            alert_id = (await press(base, token, "intrusion")).json()["alert"]["id"]
            shown = await call(
                base, token, "POST", f"/api/alerts/{alert_id}/cancel", json={"pin": "9999"}
            )
            assert shown.status_code == 200
            assert (shown.json()["status"], shown.json()["duress"]) == ("cancelled", False)

            heard = await raiser.events_until(lambda ev: len(ev) >= 2)
            assert [e["type"] for e in heard] == ["alert.raised", "alert.cancelled"]
            assert heard[1]["data"]["status"] == "cancelled"
            seen = await board.events_until(lambda ev: len(ev) >= 3)
            assert [e["type"] for e in seen] == ["alert.raised", "alert.duress", "alert.escalated"]
            assert seen[2]["data"]["duress"] is True
            assert seen[2]["data"]["reason"] == "duress"

            # The patrol takes it: the board hears it, the raiser's group does not.
            took = await call(base, patrol, "POST", f"/api/alerts/{alert_id}/take")
            assert took.status_code == 200
            await board.events_until(lambda ev: ev[-1]["type"] == "alert.acknowledged")
            assert await raiser.silent()

        mine = (await call(base, token, "GET", f"/api/alerts/{alert_id}")).json()
        assert (mine["status"], mine["duress"], mine["taken_by"]) == ("cancelled", False, None)
        board_view = (await call(base, patrol, "GET", f"/api/alerts/{alert_id}")).json()
        assert (board_view["status"], board_view["duress"]) == ("acknowledged", True)
        group_timeline = (await call(base, token, "GET", f"/api/alerts/{alert_id}/timeline")).json()
        assert [e["type"] for e in group_timeline] == ["alert.raised", "alert.cancelled"]
        answer = await call(
            base,
            world.token(neighbour),
            "POST",
            f"/api/alerts/{alert_id}/responses",
            json={"answer": "coming"},
        )
        assert answer.status_code == 409
        assert "cancelled" in answer.json()["detail"]
        police = [body for to, body, _ in await texts_to(world, alert_id) if to == POLICE]
        assert len(police) == 1
        assert "胁迫" in police[0]


async def test_a_duress_pin_after_the_window_answers_like_a_late_pin_and_still_calls_the_police(
    world: World,
) -> None:
    token = world.token(RAISER)
    patrol = world.seed.staff["patrol_leader"]
    async with running(world.settings, clock=world.clock) as base:
        await set_pins(base, token)
        real_id = (await press(base, token)).json()["alert"]["id"]
        forced_id = (await press(base, world.token("B12-1-101"))).json()["alert"]["id"]
        await set_pins(base, world.token("B12-1-101"))
        world.clock.advance(121)
        late_real = await call(
            base, token, "POST", f"/api/alerts/{real_id}/cancel", json={"pin": "1234"}
        )
        late_forced = await call(
            base,
            world.token("B12-1-101"),
            "POST",
            f"/api/alerts/{forced_id}/cancel",
            json={"pin": "9999"},
        )
        assert (late_forced.status_code, late_forced.json()) == (
            late_real.status_code,
            late_real.json(),
        )
        assert late_real.status_code == 409

        def shown(alert: dict[str, object]) -> tuple[object, ...]:
            return (alert["status"], alert["duress"], alert["outcome"])

        as_raiser = (
            await call(base, world.token("B12-1-101"), "GET", f"/api/alerts/{forced_id}")
        ).json()
        as_other = (await call(base, token, "GET", f"/api/alerts/{real_id}")).json()
        assert shown(as_raiser) == shown(as_other) == ("open", False, None)
        as_board = (await call(base, patrol, "GET", f"/api/alerts/{forced_id}")).json()
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
        token = world.token(RAISER)
        first = await press(base, token)
        assert first.status_code == 201
        alert_id = first.json()["alert"]["id"]
        for count in (2, 3):
            again = await press(base, token, "fire")
            assert again.status_code == 200
            assert (again.json()["alert"]["id"], again.json()["outcome"]) == (alert_id, "merged")
            assert again.json()["alert"]["presses"] == count
            assert again.json()["texts"] == 0

        other = await press(base, world.token(second))
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
        original = (await call(base, token, "GET", f"/api/alerts/{alert_id}")).json()
        assert (original["confirmed"], original["presses"]) == (True, 3)
        police = [to for to, _, _ in await texts_to(world, confirmed["id"]) if to == POLICE]
        assert police == [POLICE]

        world.clock.advance(121)
        after_window = (await press(base, world.token(late))).json()["alert"]
        assert (after_window["confirmed"], after_window["linked_alert_id"]) == (False, None)


async def test_a_retried_press_with_the_same_idempotency_key_gets_the_same_alarm(
    world: World,
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        token = world.token(RAISER)
        key = {"Idempotency-Key": "press-7f3a"}
        first = await call(base, token, "POST", "/api/alerts", json={"type": "help"}, headers=key)
        retry = await call(base, token, "POST", "/api/alerts", json={"type": "help"}, headers=key)
        assert (first.status_code, retry.status_code) == (201, 200)
        assert retry.json()["alert"]["id"] == first.json()["alert"]["id"]
        assert retry.json()["outcome"] == "repeated"
        assert retry.json()["alert"]["presses"] == 1
        assert (retry.json()["event_id"], retry.json()["texts"]) == (None, 0)
        alert_id = first.json()["alert"]["id"]
        taken = await call(
            base, world.seed.staff["patrol_member"], "POST", f"/api/alerts/{alert_id}/take"
        )
        assert taken.status_code == 200
        other = await call(
            base, token, "POST", "/api/alerts", json={}, headers={"Idempotency-Key": "press-2"}
        )
        assert other.json()["outcome"] == "merged"
        shown = (await call(base, token, "GET", f"/api/alerts/{alert_id}")).json()
        assert other.json()["alert"] == {k: v for k, v in shown.items() if k != "responses"}
        assert other.json()["alert"]["taken_by"] is not None
        assert other.json()["alert"]["group"] is not None
        timeline = (await call(base, token, "GET", f"/api/alerts/{alert_id}/timeline")).json()
        assert [e["type"] for e in timeline] == [
            "alert.raised",
            "alert.acknowledged",
            "alert.pressed",
        ]


async def test_the_patrol_can_go_on_scene_or_resolve_straight_from_open(world: World) -> None:
    patrol = world.seed.staff["patrol_member"]
    async with running(world.settings, clock=world.clock) as base:
        first = (await press(base, world.token(RAISER))).json()["alert"]["id"]
        second = (await press(base, world.token("B12-1-101"))).json()["alert"]["id"]
        arrived = await call(base, patrol, "POST", f"/api/alerts/{first}/on-scene")
        assert arrived.json()["alert"]["status"] == "on_scene"
        assert arrived.json()["alert"]["taken_by"] == "巡逻队员 陈军"
        assert (await call(base, patrol, "POST", f"/api/alerts/{first}/take")).status_code == 409
        again = await call(base, patrol, "POST", f"/api/alerts/{first}/on-scene")
        assert (again.status_code, again.json()["detail"]) == (
            409,
            f"alarm {first} is already on scene",
        )
        closed = await call(
            base, patrol, "POST", f"/api/alerts/{second}/resolve", json={"outcome": "false_alarm"}
        )
        assert closed.json()["alert"]["status"] == "resolved"
        assert closed.json()["alert"]["taken_by"] == "巡逻队员 陈军"
        late = await call(base, patrol, "POST", f"/api/alerts/{second}/on-scene")
        assert (late.status_code, late.json()["detail"]) == (
            409,
            f"alarm {second} is resolved; it can't be marked on scene",
        )
        bad = await call(
            base, patrol, "POST", f"/api/alerts/{first}/resolve", json={"outcome": "lost"}
        )
        assert bad.status_code == 422


async def test_the_patrol_calls_in_the_police_office_but_never_for_a_drill(world: World) -> None:
    patrol = world.seed.staff["patrol_member"]
    async with (
        running(world.settings, clock=world.clock) as base,
        stream(base, world.token(world.neighbours()[0])) as sock,
    ):
        alert_id = (await press(base, world.token(RAISER), "intrusion")).json()["alert"]["id"]
        assert (await call(base, patrol, "POST", f"/api/alerts/{alert_id}/take")).status_code == 200
        called = await call(base, patrol, "POST", f"/api/alerts/{alert_id}/escalate")
        assert called.status_code == 200, called.text
        heard = await sock.events_until(lambda ev: bool(ev) and ev[-1]["type"] == "alert.escalated")
        assert (heard[-1]["data"]["level"], heard[-1]["data"]["by"]) == ("police", "巡逻队员 陈军")
        police = [body for to, body, _ in await texts_to(world, alert_id) if to == POLICE]
        assert len(police) == 1
        assert "请求警务室支援" in police[0]
        by_resident = await call(
            base, world.token(RAISER), "POST", f"/api/alerts/{alert_id}/escalate"
        )
        assert by_resident.status_code == 403

        drill = await call(
            base, world.token("B12-1-301"), "POST", "/api/drills", json={"label": "演练"}
        )
        assert drill.status_code == 201, drill.text
        drill_id = drill.json()["alert"]["id"]
        refused = await call(base, patrol, "POST", f"/api/alerts/{drill_id}/escalate")
        assert (refused.status_code, refused.json()["detail"]) == (
            409,
            f"alarm {drill_id} is a drill; a drill never reaches the police office",
        )
