"""What the board runs a shift with: notes at any time, giving an alarm to another patrol
member, the next escalation's due time, people named in the timeline, the raiser's phone for
staff, and the closed alarms' history searched by date, type, group, grid, outcome and text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from groups.models import Staff
from server.alarms.models import AlertDeadline
from server.settings import Settings
from tests.actors import Person, resident
from tests.harness import Seed, rows, running, seed, stream
from tests.server.board_support import SECOND_MEMBER, add_patrol_member, raised_at


async def test_a_note_is_kept_with_its_text_and_its_author_named_open_or_closed(
    sqlite_url: str, seeded: Seed
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        raiser = resident(base, seeded, "B11-1-101")
        alarm = await raiser.raise_alarm("medical")
        leader = Person(base, seeded.staff["patrol_leader"])
        noted = await leader.call(
            "POST", f"/api/alerts/{alarm}/notes", json={"text": "门锁着，等钥匙"}
        )
        assert noted.status_code == 200, noted.text
        assert noted.json()["outcome"] == "noted"
        assert (await leader.resolve(alarm, "handled")).status_code == 200
        later = await leader.call("POST", f"/api/alerts/{alarm}/notes", json={"text": "已送医"})
        assert later.status_code == 200, later.text
        assert (
            await raiser.call("POST", f"/api/alerts/{alarm}/notes", json={"text": "x"})
        ).status_code == 403
        blank = await leader.call("POST", f"/api/alerts/{alarm}/notes", json={"text": "   "})
        assert blank.status_code == 422

        steps = await leader.timeline(alarm)
        notes = [e for e in steps if e["type"] == "alert.note"]
        assert [n["data"]["note"] for n in notes] == ["门锁着，等钥匙", "已送医"]
        assert {(n["actor_name"], n["actor_role"]) for n in notes} == {
            ("巡逻队长 刘强", "patrol_leader")
        }
        raised = steps[0]
        assert (raised["actor_name"], raised["actor_role"], raised["actor_household"]) == (
            (await raiser.me())["name"],
            "resident",
            "B11-1-101",
        )
        assert all(e["type"] != "alert.note" for e in await raiser.timeline(alarm))


async def test_an_alarm_is_reassigned_to_another_patrol_member_and_the_board_hears_it(
    sqlite_url: str, seeded: Seed
) -> None:
    member_id, member_token = await add_patrol_member(sqlite_url, seeded.community_id)
    async with running(Settings(database_url=sqlite_url, ws_heartbeat_seconds=5)) as base:
        leader = Person(base, seeded.staff["patrol_leader"])
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm()
        untaken = await resident(base, seeded, "B12-1-101").raise_alarm()
        assert (await leader.take(alarm)).status_code == 200
        async with stream(base, seeded.staff["patrol_member"]) as board:
            moved = await leader.call(
                "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": member_id}
            )
            assert moved.status_code == 200, moved.text
            assert moved.json()["alert"]["taken_by"] == SECOND_MEMBER
            heard = await board.events_until(
                lambda ev: any(e["alert_id"] == alarm and e["data"].get("reassigned") for e in ev)
            )
        event = next(e for e in heard if e["data"].get("reassigned"))
        assert (event["data"]["from"], event["data"]["taken_by"]) == (
            "巡逻队长 刘强",
            SECOND_MEMBER,
        )
        assert (await Person(base, member_token).look_at(alarm))["taken_by"] == SECOND_MEMBER

        # An alarm nobody had taken is taken for the member it goes to.
        given = await leader.call(
            "POST", f"/api/alerts/{untaken}/reassign", json={"staff_id": member_id}
        )
        assert given.json()["alert"]["status"] == "acknowledged"
        assert given.json()["alert"]["next_escalation_at"] is None

        police_id = (await rows(sqlite_url, select(Staff.id).where(Staff.role == "police_office")))[
            0
        ][0]
        for staff_id in (police_id, 999_999):  # not a patrol member; nobody
            refused = await leader.call(
                "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": staff_id}
            )
            assert refused.status_code == 422, refused.text
        as_resident = await resident(base, seeded, "B11-1-102").call(
            "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": member_id}
        )
        assert as_resident.status_code == 403
        again = await leader.call(
            "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": member_id}
        )
        assert again.status_code == 409
        assert (await leader.resolve(alarm, "handled")).status_code == 200
        closed = await leader.call(
            "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": member_id}
        )
        assert closed.status_code == 409
        patrol = (await leader.call("GET", "/api/patrol")).json()
        assert {p["name"] for p in patrol} == {"巡逻队长 刘强", "巡逻队员 陈军", SECOND_MEMBER}


async def test_another_communitys_staff_can_neither_reassign_nor_be_given_an_alarm(
    sqlite_url: str, seeded: Seed
) -> None:
    other = await seed(sqlite_url, community="另一个社区")
    foreign_id, foreign_token = await add_patrol_member(
        sqlite_url, other.community_id, name="外社区队员"
    )
    async with running(Settings(database_url=sqlite_url)) as base:
        leader = Person(base, seeded.staff["patrol_leader"])
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm()
        given = await leader.call(
            "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": foreign_id}
        )
        assert given.status_code == 422
        stranger = Person(base, foreign_token)
        member_id = (
            await rows(
                sqlite_url,
                select(Staff.id).where(
                    Staff.community_id == seeded.community_id, Staff.role == "patrol_member"
                ),
            )
        )[0][0]
        taken = await stranger.call(
            "POST", f"/api/alerts/{alarm}/reassign", json={"staff_id": member_id}
        )
        assert taken.status_code == 404


async def test_the_board_shows_the_stored_next_escalation_and_staff_alone_the_raisers_phone(
    sqlite_url: str, seeded: Seed
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        raiser = resident(base, seeded, "B11-1-101")
        alarm = await raiser.raise_alarm()
        stored = (
            await rows(
                sqlite_url,
                select(func.min(AlertDeadline.due_at)).where(
                    AlertDeadline.alert_id == alarm, AlertDeadline.done_at.is_(None)
                ),
            )
        )[0][0]
        leader = Person(base, seeded.staff["patrol_leader"])
        listed = next(a for a in await leader.alarms() if a["id"] == alarm)
        due = datetime.fromisoformat(listed["next_escalation_at"].replace("Z", "+00:00"))
        assert due == stored.replace(tzinfo=due.tzinfo or UTC)
        looked = await leader.look_at(alarm)
        assert looked["raiser_phone"].startswith("+86138")
        assert looked["grid"] == "网格1"
        neighbour = await resident(base, seeded, "B11-1-102").look_at(alarm)
        assert neighbour["raiser_phone"] is None
        assert neighbour["next_escalation_at"] is None


async def test_history_finds_the_closed_alarms_by_date_type_group_grid_outcome_and_text(
    sqlite_url: str, seeded: Seed
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        leader = Person(base, seeded.staff["patrol_leader"])
        made: dict[str, int] = {}
        plan = [
            ("B11-1-101", "medical", "medical"),
            ("B11-2-101", "fire", "handled"),
            ("B12-1-101", "help", "false_alarm"),
            ("B12-2-101", "medical", "handled"),
        ]
        for address, kind, outcome in plan:
            made[address] = await resident(base, seeded, address).raise_alarm(kind)
            assert (await leader.resolve(made[address], outcome)).status_code == 200
        still_open = await resident(base, seeded, "B11-1-201").raise_alarm("medical")
        old = datetime.now(UTC) - timedelta(days=40)
        await raised_at(sqlite_url, made["B12-2-101"], old)

        async def found(**query: object) -> list[str]:
            answer = await leader.call("GET", "/api/alerts/history", params=query)
            assert answer.status_code == 200, answer.text
            return [a["household"] for a in answer.json()]

        assert await found() == ["B12-2-101", "B12-1-101", "B11-2-101", "B11-1-101"]
        assert still_open not in made.values()
        assert await found(type="medical") == ["B12-2-101", "B11-1-101"]
        assert await found(outcome="handled") == ["B12-2-101", "B11-2-101"]
        week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        assert await found(type="medical", since=week_ago) == ["B11-1-101"]
        assert await found(until=week_ago) == ["B12-2-101"]
        assert await found(group_id=seeded.groups["B11-2-101"]) == ["B11-2-101"]
        assert await found(q="B12-1") == ["B12-1-101"]
        b11 = (await leader.look_at(made["B11-1-101"]))["grid_id"]
        assert await found(grid_id=b11) == ["B11-2-101", "B11-1-101"]
        page = await leader.call("GET", "/api/alerts/history", params={"limit": 3})
        assert len(page.json()) == 3
        assert 'rel="next"' in page.headers["Link"]
        rest = await leader.call(
            "GET", "/api/alerts/history", params={"limit": 3, "before_id": page.json()[-1]["id"]}
        )
        assert [a["household"] for a in rest.json()] == ["B11-1-101"]

        manager = Person(base, seeded.staff["grid_manager"])  # 网格1: building B11
        mine = (await manager.call("GET", "/api/alerts/history")).json()
        assert [a["household"] for a in mine] == ["B11-2-101", "B11-1-101"]
        asked_other = await manager.call("GET", "/api/alerts/history", params={"q": "B12"})
        assert asked_other.json() == []
        neighbour = resident(base, seeded, "B11-1-102")
        theirs = (await neighbour.call("GET", "/api/alerts/history")).json()
        assert [a["household"] for a in theirs] == ["B11-1-101"]
