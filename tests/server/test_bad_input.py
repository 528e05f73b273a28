"""Bad input gets a clear error and changes nothing; every scope is checked on the server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.settings import Settings
from tests.harness import Seed, press, running, seed, stream


@pytest.fixture
def embedded(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url)


async def get(base: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base) as client:
        return await client.get(path, headers=headers)


async def open_alerts(base: str, token: str) -> list[dict[str, Any]]:
    response = await get(base, "/api/alerts", token)
    assert response.status_code == 200
    alerts: list[dict[str, Any]] = response.json()
    return alerts


async def refused(url: str, token: str | None = None) -> tuple[int, str]:
    """Open a socket (with token in its header) that the server should close; the close code
    and reason."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(url, open_timeout=5, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_an_unknown_alert_type_is_refused_and_nothing_is_stored(
    embedded: Settings, seeded: Seed
) -> None:
    token = seeded.households["B11-1-101"]
    async with running(embedded) as base:
        response = await press(base, token, "zombies")
        assert response.status_code == 422
        assert "type" in response.text
        assert "medical" in response.text
        assert await open_alerts(base, token) == []


async def test_a_resident_can_raise_an_alarm_only_for_their_own_household(
    embedded: Settings, seeded: Seed
) -> None:
    token = seeded.households["B11-1-101"]
    async with running(embedded) as base:
        response = await press(base, token, household="B11-1-102")
        assert response.status_code == 403
        assert "own household" in response.json()["detail"]
        assert (await press(base, token, household="B11-1-101")).status_code == 201


async def test_a_patrol_member_cannot_press_a_household_button(
    embedded: Settings, seeded: Seed
) -> None:
    async with running(embedded) as base:
        response = await press(base, seeded.staff["patrol_member"])
    assert response.status_code == 403


@pytest.mark.parametrize("token", [None, "tw_not-a-real-token", "garbage"])
async def test_a_press_without_a_valid_credential_is_refused(
    embedded: Settings, seeded: Seed, token: str | None
) -> None:
    async with running(embedded) as base, httpx.AsyncClient(base_url=base) as client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await client.post("/api/alerts", json={"type": "help"}, headers=headers)
    assert response.status_code == 401
    assert "credential" in response.json()["detail"]


async def test_a_credential_of_another_community_sees_nothing_of_this_one(
    embedded: Settings, seeded: Seed, sqlite_url: str
) -> None:
    other = await seed(sqlite_url, community="另一个社区")
    async with running(embedded) as base:
        async with stream(base, other.staff["patrol_leader"]) as foreign_board:
            raised = (await press(base, seeded.households["B11-1-101"])).json()
            assert await foreign_board.silent()
        alert_path = f"/api/alerts/{raised['alert']['id']}"
        assert (await get(base, alert_path, other.staff["patrol_leader"])).status_code == 404
        assert (await get(base, alert_path, other.households["B11-1-102"])).status_code == 404
        assert await open_alerts(base, other.staff["patrol_leader"]) == []
        assert (await get(base, alert_path, seeded.staff["patrol_leader"])).status_code == 200


async def test_a_neighbour_of_another_group_cannot_read_the_alarm(
    embedded: Settings, seeded: Seed
) -> None:
    stranger = next(a for a in seeded.households if a not in seeded.group_of("B11-1-101"))
    async with running(embedded) as base:
        raised = (await press(base, seeded.households["B11-1-101"])).json()
        response = await get(
            base, f"/api/alerts/{raised['alert']['id']}", seeded.households[stranger]
        )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "token", "reason"),
    [
        ("", None, "sign in"),
        ("", "tw_nope", "sign in"),
        ("?token={token}", None, "sign in"),  # a token in the URL is never read
        ("?ticket=twt_nope", None, "ticket"),
        ("?last_event_id=999", "{token}", "unknown last_event_id 999"),
        ("?last_event_id=-1", "{token}", "non-negative integer"),
        ("?last_event_id=abc", "{token}", "non-negative integer"),
        ("?last_event_id=%C2%B2", "{token}", "non-negative integer"),  # "²" is a digit to isdigit
    ],
)
async def test_a_socket_with_a_bad_credential_or_resume_id_is_closed_with_policy_violation(
    embedded: Settings, seeded: Seed, query: str, token: str | None, reason: str
) -> None:
    own = seeded.households["B11-1-101"]
    async with running(embedded) as base:
        url = base.replace("http", "ws") + "/ws" + query.format(token=own)
        code, why = await refused(url, token and token.format(token=own))
    assert code == 1008
    assert reason in why
