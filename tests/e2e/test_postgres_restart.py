"""PostgreSQL restarted in the middle of a storm of presses: every press is answered in bounded
time, stored whole or refused with a sentence (503), and retried with its Idempotency-Key once
the database is back; the service recovers by itself and readiness says what was wrong."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from notifier.models import OutboxMessage
from server.alarms.models import Alert, AlertEvent, EventType, IdempotencyKey
from server.errors import PRESS_NOT_STORED
from tests.e2e.postgres import PostgresServer, private_postgres
from tests.e2e.processes import service
from tests.harness import Seed, poll_until, rows, seed

pytestmark = pytest.mark.postgres

BOUND = 20.0
"""Longer than any wait the service is set to allow (5 s for a pooled connection, 2 s to
connect); an answer later than this is a hang, and fails the test."""
PRESSERS = 8
PAUSE = 0.3
"""Each presser's pause between presses: about 25 presses a second in all."""


@dataclass
class Storm:
    """Every answer the presses and the readiness probe got, in order."""

    presses: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    readiness: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def count(self, status: int) -> int:
        """How many press answers had this status."""
        return sum(code == status for answers in self.presses.values() for code, _ in answers)


async def press(client: httpx.AsyncClient, token: str, key: str) -> tuple[int, dict[str, Any]]:
    """Press help once with an Idempotency-Key; the status and the JSON body."""
    answer = await client.post(
        "/api/alerts",
        json={"type": "help"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )
    json = answer.headers.get("content-type", "").startswith("application/json")
    return answer.status_code, answer.json() if json else {"text": answer.text}


async def migrated(pg: PostgresServer) -> str:
    """A database on the private server, migrated by `tenwatch migrate`; its URL."""
    conn = await asyncpg.connect(pg.dsn())
    try:
        await conn.execute("CREATE DATABASE tenwatch")
    finally:
        await conn.close()
    url = pg.url("tenwatch")
    migrate = [sys.executable, "-m", "server", "migrate"]
    env = {**os.environ, "TENWATCH_DATABASE_URL": url}
    await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True)
    return url


async def hold(pg: PostgresServer, community_id: int) -> asyncpg.Connection:
    """A connection in a transaction that holds the community's row lock, as a press takes it."""
    conn = await asyncpg.connect(pg.dsn("tenwatch"))
    await conn.execute("BEGIN")
    await conn.execute("SELECT id FROM communities WHERE id = $1 FOR UPDATE", community_id)
    return conn


async def waiting(pg: PostgresServer, *, at_least: int) -> bool:
    """Whether at least this many sessions wait for a lock."""
    conn = await asyncpg.connect(pg.dsn())
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
    finally:
        await conn.close()
    return bool(count >= at_least)


async def stored(url: str) -> dict[str, Any]:
    """What the database holds of the presses: the alarms (id, household, neighbours alerted),
    their raise events, the outbox rows of each event, and the idempotency keys."""
    alarms = await rows(url, select(Alert.id, Alert.household_id, Alert.neighbours))
    raises = await rows(
        url,
        select(AlertEvent.alert_id, AlertEvent.id).where(AlertEvent.type == EventType.RAISED),
    )
    outbox = await rows(
        url,
        select(OutboxMessage.alert_id, OutboxMessage.event_id, func.count()).group_by(
            OutboxMessage.alert_id, OutboxMessage.event_id
        ),
    )
    keys = await rows(url, select(IdempotencyKey.key, IdempotencyKey.alert_id))
    return {"alarms": alarms, "raises": raises, "outbox": outbox, "keys": keys}


async def test_postgres_restarted_mid_storm_every_press_is_stored_once_or_refused_and_retried() -> (
    None
):
    with private_postgres() as pg:
        url = await migrated(pg)
        seeded: list[Seed] = [await seed(url), await seed(url, community="另一个社区")]
        households = [
            (f"{n}:{address}", token)
            for n, s in enumerate(seeded)
            for address, token in s.households.items()
        ]
        storm = Storm()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for household in households:
            queue.put_nowait(household)
        settings = {
            "database_url": url,
            "database_pool_seconds": "5",
            "database_connect_seconds": "2",
            "press_wait_seconds": "2",  # a batch cut off is run again for 2 s, then 503
            # The texts of 80 alarms go at once, so that the outbox is idle (and says "ok")
            # soon after: at the default 10 a second it would drain for over a minute.
            "sms_rate_per_second": "0",
        }
        with service(**settings) as base:  # one process throughout: nothing restarts it
            async with httpx.AsyncClient(base_url=base, timeout=BOUND) as client:

                async def presser() -> None:
                    while not queue.empty():
                        who, token = queue.get_nowait()
                        storm.presses[who] = [await press(client, token, f"press-{who}")]
                        await asyncio.sleep(PAUSE)

                async def probe() -> None:
                    while True:
                        answer = await client.get("/readyz")
                        storm.readiness.append((answer.status_code, answer.json()))
                        await asyncio.sleep(0.1)

                prober = asyncio.create_task(probe())
                pressers = [asyncio.create_task(presser()) for _ in range(PRESSERS)]

                async def pressed(status: int, at_least: int) -> bool:
                    every = [a for answers in storm.presses.values() for a in answers]
                    assert all(code in (200, 201, 503) for code, _ in every), every
                    return storm.count(status) >= at_least

                await poll_until(lambda: pressed(201, 10))
                # Presses of the first community wait on its lock, inside their batch's
                # transaction (one a community), when the server goes: cut off in the middle.
                holder = await hold(pg, seeded[0].community_id)
                await poll_until(lambda: waiting(pg, at_least=1))
                await asyncio.to_thread(pg.stop, "fast")
                holder.terminate()
                stopped_at = len(storm.readiness)

                def readiness_since(index: int) -> list[tuple[int, dict[str, Any]]]:
                    if prober.done():  # the probe failed: say how
                        prober.result()
                    return storm.readiness[index:]

                async def unready() -> bool:
                    return any(code == 503 for code, _ in readiness_since(stopped_at))

                await poll_until(unready)
                await poll_until(lambda: pressed(503, PRESSERS + 5))
                await asyncio.to_thread(pg.start)
                restarted_at = len(storm.readiness)

                async def ready() -> bool:
                    return any(code == 200 for code, _ in readiness_since(restarted_at))

                await poll_until(ready, timeout=BOUND)
                await asyncio.gather(*pressers)

                async def all_ok() -> bool:  # the outbox and the scheduler have recovered too
                    return bool(readiness_since(-1)[0][1]["status"] == "ok")

                try:
                    await poll_until(all_ok, timeout=BOUND)
                except TimeoutError:
                    pytest.fail(f"readiness never came back: {storm.readiness[-1]}")
                prober.cancel()

                refused = [who for who, answers in storm.presses.items() if answers[0][0] == 503]
                deadline = time.monotonic() + BOUND
                for who, token in households:
                    if who not in refused:
                        continue
                    while (answer := await press(client, token, f"press-{who}"))[0] == 503:
                        assert time.monotonic() < deadline, f"{who}: still refused after recovery"
                        await asyncio.sleep(0.2)
                    storm.presses[who].append(answer)

        # Every answer was a stored press or a refusal with the sentence: no 500, no hang.
        for who, answers in storm.presses.items():
            for code, body in answers:
                assert code in (200, 201, 503), (who, code, body)
                if code == 503:
                    assert body == {"detail": PRESS_NOT_STORED}, (who, body)
            assert answers[-1][0] in (200, 201), (who, answers)
        assert len(storm.presses) == len(households)
        assert refused, "the outage refused no press: it was not mid-storm"

        # Readiness said the database was unavailable (to an anonymous probe, that alone), then
        # ready again.
        during = [body for code, body in storm.readiness[stopped_at:restarted_at] if code == 503]
        assert during, storm.readiness[stopped_at:restarted_at]
        assert all(body == {"status": "unavailable"} for body in during), during

        # In the database: one alarm a household, with its raise event and that event's texts,
        # and its key; the alarm each press was finally answered with.
        found = await stored(url)
        alarms = {alarm_id: neighbours for alarm_id, _, neighbours in found["alarms"]}
        assert len(alarms) == len({household for _, household, _ in found["alarms"]})
        assert len(alarms) == len(households), "a press stored twice, or one lost"
        raised = [alert_id for alert_id, _ in found["raises"]]
        assert sorted(raised) == sorted(alarms), "an alarm without its raise event, or with two"
        raises = dict(found["raises"])
        texts = {(alert_id, event_id): count for alert_id, event_id, count in found["outbox"]}
        for alarm_id, neighbours in alarms.items():
            assert neighbours > 0
            assert texts.get((alarm_id, raises[alarm_id]), 0) == neighbours, (alarm_id, texts)
        keys = dict(found["keys"])
        for who, answers in storm.presses.items():
            final = answers[-1][1]["alert"]["id"]
            assert keys[f"press-{who}"] == final, who
            assert all(body["alert"]["id"] == final for code, body in answers if code != 503)
