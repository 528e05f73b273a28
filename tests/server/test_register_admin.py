"""The admin keeps staff, alarm numbers, the roster and the policy from the register; each
change is in the audit log; consent is asked in the person's language; bad input is a 4xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.harness import Seed, call, running


@pytest.fixture
def embedded(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url)


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_the_admin_adds_edits_and_removes_staff_and_their_shifts(
    embedded: Settings, seeded: Seed
) -> None:
    admin = seeded.staff["admin"]
    async with running(embedded) as base:
        made = await ok(
            await call(
                base,
                admin,
                "POST",
                "/api/register/staff",
                json={
                    "name": "Tom",
                    "phone": "+8613900000077",
                    "role": "patrol_member",
                    "language": "en",
                },
            ),
            201,
        )
        sid = made["id"]
        await ok(
            await call(base, admin, "PATCH", f"/api/register/staff/{sid}", json={"grid": "网格1"})
        )
        shift = await ok(
            await call(
                base,
                admin,
                "POST",
                "/api/register/roster/shifts",
                json={"staff_id": sid, "days": "mon-fri", "starts": "08:00", "ends": "20:00"},
            ),
            201,
        )
        roster = await ok(await call(base, admin, "GET", "/api/register/roster"))
        mine = [s for s in roster["shifts"] if s["staff_id"] == sid]
        assert [s["day"] for s in mine] == ["mon", "tue", "wed", "thu", "fri"]
        await ok(await call(base, admin, "DELETE", f"/api/register/roster/shifts/{shift['id']}"))
        roster = await ok(await call(base, admin, "GET", "/api/register/roster"))
        assert len([s for s in roster["shifts"] if s["staff_id"] == sid]) == 4
        staff = await ok(await call(base, admin, "GET", "/api/register/staff"))
        [tom] = [s for s in staff if s["id"] == sid]
        assert (tom["grid"], tom["language"]) == ("网格1", "en")
        taken = await call(
            base, admin, "PATCH", f"/api/register/staff/{sid}", json={"phone": "+8613900000001"}
        )
        assert taken.status_code == 422
        assert "already registered" in taken.json()["detail"]
        await ok(await call(base, admin, "DELETE", f"/api/register/staff/{sid}"))
        log = await ok(await call(base, admin, "GET", "/api/register/audit?subject=Tom"))
        assert [e["action"] for e in log["entries"]] == [
            "remove_staff",
            "delete_shift",
            "add_shift",
            "edit_staff",
            "add_staff",
        ]
        assert log["entries"][3]["before"]["grid"] is None
        assert log["entries"][3]["after"]["grid"] == "网格1"


async def test_the_admin_adds_and_removes_an_alarm_number_and_changes_the_policy(
    embedded: Settings, seeded: Seed
) -> None:
    admin = seeded.staff["admin"]
    group = seeded.groups["B11-1-301"]
    async with running(embedded) as base:
        made = await ok(
            await call(
                base,
                admin,
                "POST",
                "/api/register/alarm-numbers",
                json={"number": "+8675500001111", "group_id": group},
            ),
            201,
        )
        numbers = await ok(await call(base, admin, "GET", "/api/register/alarm-numbers"))
        assert [(n["number"], n["group_id"]) for n in numbers] == [("+8675500001111", group)]
        twice = await call(
            base, admin, "POST", "/api/register/alarm-numbers", json={"number": "+8675500001111"}
        )
        assert twice.status_code == 422
        await ok(await call(base, admin, "DELETE", f"/api/register/alarm-numbers/{made['id']}"))
        assert await ok(await call(base, admin, "GET", "/api/register/alarm-numbers")) == []
        policy = await ok(await call(base, admin, "PUT", "/api/policy", json={"quorum": 3}))
        assert policy["quorum"] == 3
        log = await ok(await call(base, admin, "GET", "/api/register/audit?subject=policy"))
        assert log["entries"][0]["after"] == {"quorum": 3}
        csv = await call(base, admin, "GET", "/api/register/audit.csv")
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("at,actor,actor_kind,actor_id,action,subject,before,after")
        assert len(lines) == 4  # add, remove, policy
        assert any("remove_alarm_number" in line for line in lines)


async def test_the_audit_log_pages_and_filters_by_day(embedded: Settings, seeded: Seed) -> None:
    admin = seeded.staff["admin"]
    async with running(embedded) as base:
        for n in range(5):
            await ok(await call(base, admin, "PUT", "/api/policy", json={"quorum": n + 1}))
        first = await ok(await call(base, admin, "GET", "/api/register/audit?limit=2"))
        second = await ok(await call(base, admin, "GET", "/api/register/audit?limit=2&offset=2"))
        assert first["total"] == second["total"] == 5
        assert [e["after"]["quorum"] for e in first["entries"] + second["entries"]] == [5, 4, 3, 2]
        before = await ok(await call(base, admin, "GET", "/api/register/audit?until=2000-01-01"))
        assert before["total"] == 0
        wrong = await call(
            base, admin, "GET", "/api/register/audit?since=2030-01-02&until=2030-01-01"
        )
        assert wrong.status_code == 422


async def test_consent_is_asked_in_the_persons_language_and_recorded_once(
    embedded: Settings, seeded: Seed
) -> None:
    resident = seeded.households["B11-1-301"]
    async with running(embedded) as base:
        notice = await ok(await call(base, resident, "GET", "/api/me/consent"))
        assert notice["language"] == "zh"
        assert notice["consented_at"] is None
        assert "手机号" in "".join(notice["paragraphs"])
        await ok(await call(base, resident, "PUT", "/api/me/language", json={"language": "en"}))
        notice = await ok(await call(base, resident, "GET", "/api/me/consent"))
        assert notice["language"] == "en"
        assert "phone" in "".join(notice["paragraphs"])
        given = await ok(await call(base, resident, "POST", "/api/me/consent"))
        assert given["consented_at"] is not None
        again = await ok(await call(base, resident, "POST", "/api/me/consent"))
        assert again["consented_at"] == given["consented_at"]
        staff = seeded.staff["patrol_member"]
        assert (await ok(await call(base, staff, "POST", "/api/me/consent")))["consented_at"]
        log = await ok(await call(base, seeded.staff["admin"], "GET", "/api/register/audit"))
        assert [e["action"] for e in log["entries"]] == ["consent"] * 3


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/register/households/{2**63}", None),
        ("GET", f"/api/register/households/{2**31}", None),
        ("GET", "/api/register/households/0", None),
        ("GET", "/api/register/households?limit=100000", None),
        ("GET", "/api/register/households?q=" + "x" * 101, None),
        ("POST", "/api/register/households", {"address": "B11-1-301", "residents": []}),
        ("POST", "/api/register/households", {"address": "x" * 41, "residents": [{"name": "a"}]}),
        (
            "POST",
            "/api/register/households",
            {"address": "B11-1-3O1", "residents": [{"name": "a"}]},
        ),
        (
            "POST",
            "/api/register/households",
            {"address": "B11-1-301", "residents": [{"name": "a"}]},
        ),
        ("POST", "/api/register/staff", {"name": "a", "phone": "+8613900000001", "role": "mayor"}),
        ("POST", "/api/register/staff", {"name": "a", "phone": "138", "role": "admin"}),
        (
            "POST",
            "/api/register/roster/shifts",
            {"staff_id": 1, "days": "someday", "starts": "08:00", "ends": "09:00"},
        ),
        (
            "POST",
            "/api/register/roster/shifts",
            {"staff_id": 1, "days": "mon", "starts": "29:00", "ends": "09:00"},
        ),
        ("PATCH", "/api/register/households/1", {"language": "fr"}),
        ("PATCH", "/api/register/households/1", {"care_note": "x" * 501}),
        ("PUT", "/api/policy", {"quorum": -1}),
        ("GET", "/api/register/audit?since=yesterday", None),
    ],
)
async def test_bad_input_to_the_register_is_a_clear_4xx_and_changes_nothing(
    embedded: Settings, seeded: Seed, method: str, path: str, body: dict[str, Any] | None
) -> None:
    admin = seeded.staff["admin"]
    async with running(embedded) as base:
        answer = await call(base, admin, method, path, json=body)
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.json()["detail"]
        log = await ok(await call(base, admin, "GET", "/api/register/audit"))
        assert log["total"] == 0


async def test_the_roster_changed_through_the_duty_routes_is_audited_too(
    embedded: Settings, seeded: Seed
) -> None:
    admin = seeded.staff["admin"]
    async with running(embedded) as base:
        shift = {"phone": "+8613900000002", "days": "mon-fri", "starts": "08:00", "ends": "20:00"}
        await ok(await call(base, admin, "POST", "/api/duty/shifts", json=shift), 201)
        leader = seeded.staff["patrol_leader"]
        off = {
            "phone": "+8613900000002",
            "starts_at": "2026-12-24T08:00:00+08:00",
            "ends_at": "2026-12-24T20:00:00+08:00",
            "on_duty": False,
        }
        await ok(await call(base, leader, "POST", "/api/duty/overrides", json=off), 201)
        log = await ok(await call(base, admin, "GET", "/api/register/audit"))
    actions = [(e["action"], e["actor"]) for e in log["entries"]]
    assert [a for a, _ in actions[:2]] == ["add_override", "add_shift"]
    assert "巡逻队长" in actions[0][1]
