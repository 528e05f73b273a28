"""Supervision: a silent test alarm takes the whole path every round, and each leg is checked.

On a healthy service every leg passes and nobody hears of it; a stopped outbox worker fails
the "sent" leg, Twilio refusing every text fails it with Twilio's reason, and Redis away fails
the "heard" leg until it is back. /readyz (staff details) and the metrics say so."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from notifier.models import PROBE, SENT, OutboxMessage
from server.runtime.clock import ManualClock
from server.settings import Settings
from server.supervision.models import Probe
from server.supervision.probes import KEEP
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, rows, running, seed, stream
from tests.server.phone_support import phone_settings
from tests.server.supervision_support import (
    ROUND,
    failing,
    hands,
    healthy,
    metric,
    readiness,
    until,
)
from tests.services import redis_server


async def test_on_a_healthy_service_every_leg_passes_and_nobody_hears_of_it(
    settings: Settings, seeded: Seed
) -> None:
    supervised = settings.model_copy(update=ROUND)
    staff = seeded.staff["patrol_leader"]
    resident = seeded.households["B11-1-101"]
    async with (
        running(supervised) as base,
        stream(base, staff) as board,
        stream(base, resident) as home,
    ):
        first = await until(base, staff, healthy)
        assert first["status"] == "ok"
        rounds = first["supervision"]
        assert rounds["failing"] is None
        assert rounds["last_success"] is not None
        assert all(leg["seconds"] < 2.0 for leg in rounds["legs"].values())
        for leg in ("stored", "heard", "sent"):
            assert metric("tenwatch_supervision_ok", leg=leg) == 1.0
        assert (metric("tenwatch_supervision_last_success_timestamp_seconds") or 0) > 0
        # Two more rounds: still nothing on the board's or a household's socket.
        done = first["supervision"]["last_success"]
        await until(base, staff, lambda b: healthy(b) and b["supervision"]["last_success"] > done)
        assert await board.silent(0.3)
        assert await home.silent(0.1)
    probes = await rows(settings.database_url, select(Probe.id, Probe.outbox_id))
    assert probes, "each round stores its probe"
    jobs = await rows(
        settings.database_url,
        select(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.community_id)
        .where(OutboxMessage.id.in_([outbox_id for _, outbox_id in probes]))
        .order_by(OutboxMessage.id),
    )
    assert len(jobs) == len(probes)
    assert all(tuple(job) == (PROBE, SENT, None) for job in jobs[:-1]), jobs
    alarms = await rows(
        settings.database_url, select(OutboxMessage.id).where(OutboxMessage.channel != PROBE)
    )
    assert alarms == [], "no text to a person"


async def test_a_stopped_outbox_worker_fails_the_sent_leg_and_readyz_says_so(
    sqlite_url: str, seeded: Seed
) -> None:
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05, **ROUND)
    staff = seeded.staff["admin"]
    async with running(settings, router=hands) as base:
        await until(base, staff, healthy)
        failures = metric("tenwatch_supervision_failures_total", leg="sent") or 0.0
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.post("/test/outbox/stop")).status_code == 200

        body = await until(base, staff, failing("sent"))
        assert body["status"] == "degraded"
        supervision = body["supervision"]
        assert supervision["state"] == "failing"
        assert supervision["legs"]["stored"]["ok"]
        assert supervision["legs"]["heard"]["ok"]
        assert "not sent within 2 s (pending)" in supervision["reason"]
        assert supervision["failing_for_seconds"] is not None
        assert metric("tenwatch_supervision_ok", leg="sent") == 0.0
        assert (metric("tenwatch_supervision_failures_total", leg="sent") or 0) > failures
        # The watchdog says which worker it is.
        assert body["wedged"] == ["outbox"]
        assert body["outbox"].startswith("degraded: outbox worker stopped")
        assert metric("tenwatch_worker_wedged", worker="outbox") == 1.0


async def test_twilio_refusing_every_text_fails_the_sent_leg_with_its_reason(
    sqlite_url: str, seeded: Seed, fake_twilio: FakeTwilio
) -> None:
    settings = phone_settings(sqlite_url, fake_twilio, supervision_to="+15005550009", **ROUND)
    staff = seeded.staff["admin"]
    async with running(settings) as base:
        await until(base, staff, healthy)
        assert fake_twilio.messages[0]["to"] == "+15005550009", "a real text to the test number"
        fake_twilio.fail_next(status=400, code=21610, message="unsubscribed recipient", times=1000)
        body = await until(base, staff, failing("sent"))
        assert "unsubscribed recipient" in body["supervision"]["reason"]
        assert body["status"] == "degraded"
        fake_twilio.reset()
        await until(base, staff, healthy)


async def test_redis_away_fails_the_heard_leg_and_its_return_clears_it(
    sqlite_url: str, seeded: Seed
) -> None:
    staff = seeded.staff["admin"]
    with redis_server() as (redis_url, redis_proc):
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        settings = Settings(
            database_url=sqlite_url, redis_url=redis_url, outbox_poll_seconds=0.05, **ROUND
        )
        async with running(settings) as base:
            await until(base, staff, healthy)
            redis_proc.terminate()
            redis_proc.wait(5)
            body = await until(base, staff, failing("heard"))
            supervision = body["supervision"]
            assert "not through the bus" in supervision["reason"], supervision["reason"]
            assert supervision["legs"]["stored"]["ok"]
            assert supervision["legs"]["sent"]["ok"]
            assert metric("tenwatch_supervision_ok", leg="heard") == 0.0
            with redis_server(port):
                body = await until(base, staff, healthy)
                assert body["supervision"]["failing"] is None
                assert metric("tenwatch_supervision_ok", leg="heard") == 1.0


async def test_old_probes_and_their_jobs_are_pruned_so_rounds_do_not_pile_up(
    sqlite_url: str, seeded: Seed
) -> None:
    clock = ManualClock()
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05, **ROUND)
    staff = seeded.staff["admin"]
    async with running(settings, clock=clock) as base:
        await until(base, staff, healthy)
        before = await rows(sqlite_url, select(Probe.started_at))
        assert before
        moved = clock.advance((KEEP + timedelta(minutes=1)).total_seconds())
        for _ in range(2):  # a round after the clock moved, and one after its prune
            done = (await readiness(base, staff))["supervision"]["last_success"]
            await until(base, staff, lambda b: b["supervision"]["last_success"] > done)  # noqa: B023
        after = await rows(sqlite_url, select(Probe.started_at))
        jobs = await rows(
            sqlite_url, select(OutboxMessage.created_at).where(OutboxMessage.channel == PROBE)
        )
    # (Ids say nothing here: SQLite gives a table emptied by the prune its old ids again.)
    assert after, "the newer probes stay"
    assert all(started >= moved for (started,) in after), "every probe from before is gone"
    assert all(created >= moved for (created,) in jobs), "and their outbox jobs with them"
    assert len(jobs) <= len(after) + 1


@pytest.mark.postgres
async def test_on_postgresql_and_redis_every_leg_passes_and_probes_are_pruned(
    postgres_url: str, redis_url: str
) -> None:
    seeded = await seed(postgres_url)
    clock = ManualClock()
    settings = Settings(
        database_url=postgres_url, redis_url=redis_url, outbox_poll_seconds=0.05, **ROUND
    )
    staff = seeded.staff["admin"]
    async with running(settings, clock=clock) as base:
        await until(base, staff, healthy)
        before = await rows(postgres_url, select(Probe.id))
        clock.advance((KEEP + timedelta(minutes=1)).total_seconds())
        for _ in range(2):
            done = (await readiness(base, staff))["supervision"]["last_success"]
            await until(base, staff, lambda b: b["supervision"]["last_success"] > done)  # noqa: B023
        after = await rows(postgres_url, select(Probe.id))
    assert before
    assert after
    assert not {row[0] for row in before} & {row[0] for row in after}
