"""A rolling restart under a steady stream of presses loses nothing: two real processes on one
Redis and one database, residents' and boards' sockets on both; each process in turn is sent
SIGTERM mid-stream, drains (its sockets told 1012 "reconnect" resume on the other, its presses
finish, its outbox leases are handed back) and is started again, and the sockets move back.
Every press answered 2xx is one alarm, every socket heard each event of its channel once,
every text went once, and no press got a 5xx."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from contextlib import suppress

import httpx
from sqlalchemy import select

from notifier.models import SENT
from server.alarms import events
from server.alarms.models import Alert
from storage.db import create_engine, create_sessionmaker
from tests.e2e.processes import _start
from tests.e2e.rolling import SERVICE_RESTART, Fleet, Listener, Pressed, press
from tests.e2e.test_texts_once import _env as texts_once_env
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, rows, seed
from tests.server.phone_support import outbox_of

LEASE_SECONDS = 60  # longer than the test waits for the texts: a lease left to run out fails it
PRESS_EVERY = 0.1
COMMUNITIES = ("东湖社区", "西湖社区", "南湖社区")


def _env(db_url: str, redis_url: str, fake: FakeTwilio, *, via: str) -> dict[str, str]:
    """The settings of the texts-once test (the fake Twilio, a fast outbox), with a long lease
    and several senders (with Twilio's answer 10 ms late, a batch is in hand at SIGTERM)."""
    settings = {"outbox_lease_seconds": str(LEASE_SECONDS), "sms_concurrency": "4"}
    return {
        **texts_once_env(db_url, redis_url, fake, via=via),
        **{f"TENWATCH_{k.upper()}": v for k, v in settings.items()},
    }


async def _stream_of_presses(fleet: Fleet, seeds: list[Seed]) -> list[Pressed]:
    """Every household of every community presses once, one press each PRESS_EVERY seconds,
    without waiting for the one before."""
    ordered = [sorted(s.households) for s in seeds]
    households = [
        (s, addresses[i]) for i in range(40) for s, addresses in zip(seeds, ordered, strict=True)
    ]
    async with httpx.AsyncClient(timeout=15) as client:
        tasks = []
        for s, address in households:
            key = f"rolling-{uuid.uuid4().hex}"
            tasks.append(asyncio.create_task(press(client, fleet, s.households[address], key)))
            await asyncio.sleep(PRESS_EVERY)
        return list(await asyncio.gather(*tasks))


async def _roll(
    name: str, procs: dict[str, subprocess.Popen[bytes]], fleet: Fleet, env: dict[str, str]
) -> float:
    """SIGTERM one process, wait for it to drain and exit, start it again; its drain time."""
    began = time.monotonic()
    procs[name].send_signal(signal.SIGTERM)
    await asyncio.to_thread(procs[name].wait, 60)
    drained = time.monotonic() - began
    procs[name], fleet.bases[name] = await asyncio.to_thread(_start, env)
    return drained


async def test_a_rolling_restart_under_a_stream_of_presses_loses_and_repeats_nothing(
    db_url: str, redis_url: str, fake_twilio: FakeTwilio
) -> None:
    seeds = [await seed(db_url, community=name) for name in COMMUNITIES]
    fake_twilio.answer_after = 0.01
    envs = {n: _env(db_url, redis_url, fake_twilio, via=n) for n in ("a", "b")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    listeners: list[Listener] = []
    held: list[asyncio.Task[None]] = []
    try:
        bases: dict[str, str] = {}
        for name, env in envs.items():
            procs[name], bases[name] = await asyncio.to_thread(_start, env)
        fleet = Fleet(**bases)
        # Two households of each group (one on each process) and each community's board on both.
        for s in seeds:
            for group in sorted(set(s.groups.values())):
                pair = sorted(a for a, g in s.groups.items() if g == group)[:2]
                for name, address in zip("ab", pair, strict=True):
                    listeners.append(Listener(fleet, s.households[address], fleet.bases[name]))
            for name in "ab":
                listeners.append(Listener(fleet, s.staff["patrol_leader"], fleet.bases[name]))
        held += [asyncio.create_task(listener.run()) for listener in listeners]
        await asyncio.wait_for(asyncio.gather(*(x.ready.wait() for x in listeners)), 20)
        homes = {id(x): name for x in listeners for name in "ab" if x.base == fleet.bases[name]}

        pressing = asyncio.create_task(_stream_of_presses(fleet, seeds))
        drains = []
        for name, other in (("a", "b"), ("b", "a")):
            await asyncio.sleep(2.5)
            drained_from, survivor = fleet.bases[name], fleet.bases[other]
            drains.append(await _roll(name, procs, fleet, envs[name]))
            # Every socket it held was told to reconnect, and resumed on the other process
            # from the last event it had seen.
            for x in listeners:
                if homes[id(x)] == name:
                    told = [o for o in x.opened if o.base == drained_from and o.code is not None]
                    assert (told[-1].code, told[-1].reason) == (SERVICE_RESTART, "reconnect")
                    resumed = x.opened[x.opened.index(told[-1]) + 1]
                    assert resumed.base == survivor
                    assert resumed.last_event_id is not None
                    await x.move(fleet.bases[name])  # back to the restarted process
        pressed = await pressing

        # No press was refused or failed: each is one alarm of its own.
        assert [p for p in pressed if p.status not in (200, 201)] == []
        alarms = {row[0] for row in await rows(db_url, select(Alert.id))}
        assert sorted(p.alert_id or 0 for p in pressed) == sorted(alarms)
        assert len(alarms) == len(pressed) == 120
        assert any("refused" in p.tries for p in pressed)  # the stream did meet a closed process

        # Every text went, once, well before a lease left behind would have run out.
        async def all_sent() -> bool:
            return all(job.status == SENT for job in await outbox_of(db_url))

        await poll_until(all_sent, timeout=LEASE_SECONDS / 2)
        jobs = await outbox_of(db_url)
        sids = [m["sid"] for m in [*fake_twilio.messages, *fake_twilio.calls]]
        assert len(jobs) >= 120
        assert sorted(sids) == sorted(str(job.provider_sid) for job in jobs)

        # Every socket heard its channel's events, each once, in order, live or replayed.
        engine = create_engine(db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                heads = {
                    x.channel: await events.head(session, channel=x.channel) for x in listeners
                }

            async def all_heard() -> bool:
                return all((x.last or 0) >= heads[x.channel] for x in listeners)

            await poll_until(all_heard, timeout=15)
            for x in listeners:
                assert x.start is not None
                async with create_sessionmaker(engine)() as session:
                    stored = await events.after(
                        session, channel=x.channel, event_id=x.start, limit=100_000
                    )
                assert x.ids == [i for i, _ in stored if i <= (x.last or 0)], x.channel
        finally:
            await engine.dispose()
        assert all(seconds < 15 for seconds in drains), drains
    finally:
        for task in held:
            task.cancel()
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                with suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(proc.wait, 15)
            if proc.poll() is None:
                proc.kill()
