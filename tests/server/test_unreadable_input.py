"""Input the service can't use (ids beyond the database's integers, JSON numbers beyond floats,
text that is not Unicode) gets a clear 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import pytest

from tests.harness import running
from tests.server.world import World

TOO_BIG = 2**63  # one more than the largest id the database holds


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", f"/api/alerts/{TOO_BIG}", "patrol_member"),
        ("GET", f"/api/alerts/{TOO_BIG}/timeline", "patrol_member"),
        ("GET", f"/api/alerts?before_id={TOO_BIG}", "patrol_member"),
        ("GET", f"/api/alerts/{10**30}", "patrol_member"),
        ("POST", f"/api/alerts/{TOO_BIG}/take", "patrol_member"),
        ("POST", f"/api/alerts/{TOO_BIG}/on-scene", "patrol_member"),
        ("POST", f"/api/alerts/{TOO_BIG}/escalate", "patrol_member"),
    ],
)
async def test_an_id_beyond_the_databases_integers_is_refused_as_invalid(
    world: World, method: str, path: str, role: str
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        response = await world.staff(base, role).call(method, path)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/alerts/{alarm}/cancel", b'{"pin": 1e999}'),
        ("/api/alerts/{alarm}/cancel", b'{"pin": "\\ud800"}'),
        ("/api/alerts", b'{"type": 1e999}'),
        ("/api/alerts", b'{"type": "\\ud800"}'),
        ("/api/alerts", b'{"household": "\\udfff"}'),
        ("/api/alerts", b'{"\\ud800": 1}'),
        ("/api/household/pin", b'{"pin": "1234", "duress_pin": -1e999}'),
    ],
)
async def test_a_body_json_cannot_echo_is_refused_with_where_and_why(
    world: World, path: str, body: bytes
) -> None:
    async with running(world.settings, clock=world.clock) as base:
        household = world.resident(base)
        alarm = await household.raise_alarm()
        response = await household.call(
            "POST" if "alerts" in path else "PUT",
            path.format(alarm=alarm),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][0] == "body"
        assert (await household.look_at(alarm))["status"] == "open"
