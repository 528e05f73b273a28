"""Web Push on PostgreSQL: a press pushes to a neighbour's device, its button answers once, the
all clear replaces it."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_push import FakePush
from tests.harness import call, press, running, seed
from tests.server.test_push import (
    RAISER,
    group_of,
    push_settings,
    subscribe,
    until_received,
)

pytestmark = pytest.mark.postgres


async def test_on_postgres_a_press_pushes_its_button_answers_once_the_all_clear_follows(
    postgres_url: str,
) -> None:
    seeded = await seed(postgres_url)
    neighbour = group_of(seeded, RAISER)[0]
    with FakePush() as fake:
        async with running(push_settings(postgres_url)) as base:
            device = await subscribe(base, seeded.households[neighbour], fake)
            alarm = (await press(base, seeded.households[RAISER])).json()["alert"]["id"]
            (pushed,) = await until_received(fake, 1)
            assert pushed.endpoint == device["endpoint"]
            token = pushed.payload["answer_token"]
            async with httpx.AsyncClient(base_url=base) as client:
                answered = await client.post(
                    "/api/push/answer", json={"token": token, "answer": "coming"}
                )
                replay = await client.post(
                    "/api/push/answer", json={"token": token, "answer": "coming"}
                )
            assert answered.status_code == 200, answered.text
            assert answered.json()["coming"] == 1
            assert replay.status_code == 403
            resolved = await call(
                base,
                seeded.staff["patrol_member"],
                "POST",
                f"/api/alerts/{alarm}/resolve",
                json={"outcome": "handled"},
            )
            assert resolved.status_code == 200, resolved.text
            _, clear = await until_received(fake, 2)
    assert clear.payload["type"] == "all_clear"
    assert clear.endpoint == pushed.endpoint
    assert fake.refused == []
