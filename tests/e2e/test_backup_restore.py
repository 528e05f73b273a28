"""`tenwatch backup` in the middle of a stream of presses, against a real service process on a
SQLite file; the service stopped, `tenwatch restore`, the service started again: every alarm
committed before the backup began is back with its events, and the restored service takes a new
press and delivers it on a socket. A backup taken while presses pour in is one consistent
snapshot (the invariants of an alarm's transactions hold in it)."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from storage import backup
from tests.actors import Person, resident
from tests.e2e.processes import service
from tests.harness import Seed, bearer, poll_until, seed, stream

PRESSERS = 6  # households pressing at once, in three groups
BEFORE, AFTER = 40, 20  # steps answered before the backup begins, and after it ends


@dataclass
class Answered:
    """The steps the service answered (so committed), each with when its answer arrived."""

    steps: list[tuple[float, int, int]] = field(default_factory=list)  # (when, alarm, event)

    def between(self, start: float, end: float) -> dict[int, set[int]]:
        """The events answered in [start, end), by alarm."""
        found: dict[int, set[int]] = defaultdict(set)
        for when, alarm, event in self.steps:
            if start <= when < end:
                found[alarm].add(event)
        return found


async def _press_and_resolve(
    base: str, household: str, patrol: str, answered: Answered, stopping: asyncio.Event
) -> None:
    """A household presses; the patrol resolves its alarm; again, until stopping."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while not stopping.is_set():
            pressed = await client.post(
                "/api/alerts", json={"type": "help"}, headers=bearer(household)
            )
            assert pressed.status_code == 201, pressed.text
            alarm = pressed.json()["alert"]["id"]
            if pressed.json()["event_id"] is not None:
                answered.steps.append((time.monotonic(), alarm, pressed.json()["event_id"]))
            resolved = await client.post(
                f"/api/alerts/{alarm}/resolve", json={"outcome": "handled"}, headers=bearer(patrol)
            )
            assert resolved.status_code == 200, resolved.text
            answered.steps.append((time.monotonic(), alarm, resolved.json()["event_id"]))


def _pressers(seeded: Seed, quiet_group: int) -> list[str]:
    """Tokens of PRESSERS households, two in each of three groups (not the quiet one)."""
    by_group: dict[int, list[str]] = defaultdict(list)
    for address in sorted(seeded.households):
        if seeded.groups[address] != quiet_group:
            by_group[seeded.groups[address]].append(seeded.households[address])
    return [token for tokens in list(by_group.values())[:3] for token in tokens[:2]]


def _tenwatch(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `tenwatch` command on the database at url."""
    env = {**os.environ, "TENWATCH_DATABASE_URL": url}
    command = [sys.executable, "-m", "server", *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def _until(answered: Answered, count: int, since: float) -> None:
    async def enough() -> bool:
        return sum(when >= since for when, _, _ in answered.steps) >= count

    await poll_until(enough, timeout=60)


SERVICE = {"sqlite_checkpoint_seconds": "0.1", "sqlite_restart_frames": "64"}


async def test_a_backup_taken_mid_stream_restores_every_committed_alarm_to_a_working_service(
    sqlite_url: str, tmp_path: Path
) -> None:
    seeded = await seed(sqlite_url)
    quiet = seeded.group_of("B12-2-101")
    raiser, neighbour = quiet[0], quiet[1]
    patrol = seeded.staff["patrol_leader"]
    answered, stopping = Answered(), asyncio.Event()
    file = tmp_path / "mid-stream.db"
    with service(database_url=sqlite_url, **SERVICE) as base:
        tasks = [
            asyncio.create_task(_press_and_resolve(base, h, patrol, answered, stopping))
            for h in _pressers(seeded, seeded.groups[raiser])
        ]
        try:
            await _until(answered, BEFORE, since=0)
            began = time.monotonic()
            made = await asyncio.to_thread(_tenwatch, sqlite_url, "backup", str(file))
            ended = time.monotonic()
            await _until(answered, AFTER, since=ended)
        finally:
            stopping.set()
            await asyncio.gather(*tasks)
    assert made.returncode == 0, made.stderr
    assert "integrity check ok" in made.stdout
    reported = re.search(r"(\d+) alarms, last event id (\d+)", " ".join(made.stdout.split()))
    assert reported is not None, made.stdout
    summary = backup.check(file)
    assert (summary.alarms, summary.last_event_id) == tuple(map(int, reported.groups()))

    restored = await asyncio.to_thread(_tenwatch, sqlite_url, "restore", str(file))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "kept as" in restored.stdout

    committed = answered.between(0, began)
    later = answered.between(ended, float("inf"))
    with service(database_url=sqlite_url, **SERVICE) as base:
        board = Person(base, patrol)
        for alarm, steps in committed.items():
            shown = await board.call("GET", f"/api/alerts/{alarm}")
            assert shown.status_code == 200, (alarm, shown.text)
            assert steps <= {e["id"] for e in await board.timeline(alarm)}, alarm
        # What was answered after the backup ended is not in it: the restore replaced the
        # database, it did not leave the live one in place.
        for alarm, steps in later.items():
            shown = await board.call("GET", f"/api/alerts/{alarm}")
            if shown.status_code == 200:
                assert not steps & {e["id"] for e in await board.timeline(alarm)}, alarm
            else:
                assert shown.status_code == 404, shown.text
        assert max(max(s) for s in committed.values()) <= summary.last_event_id

        async with stream(base, seeded.households[neighbour]) as socket:
            raised = await resident(base, seeded, raiser).press("help")
            assert raised.status_code == 201, raised.text
            heard = await socket.next_event(timeout=10)
        assert heard["id"] == raised.json()["event_id"] > summary.last_event_id
        assert heard["data"]["household"] == raiser


def _inconsistencies(path: Path) -> list[str]:
    """What in a database breaks the invariants that each alarm's transaction keeps."""
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        found = [f"foreign key: {row}" for row in db.execute("PRAGMA foreign_key_check")]
        rows = db.execute(
            "SELECT a.id, a.status, a.presses,"
            " (SELECT count(*) FROM alert_events e WHERE e.alert_id = a.id"
            "  AND e.type = 'alert.raised'),"
            " (SELECT count(*) FROM alert_events e WHERE e.alert_id = a.id"
            "  AND e.type = 'alert.pressed'),"
            " (SELECT count(*) FROM alert_events e WHERE e.alert_id = a.id"
            "  AND e.type = 'alert.resolved')"
            " FROM alerts a"
        )
        for alarm, status, presses, raised, pressed, resolved in rows:
            if raised != 1:
                found.append(f"alarm {alarm} has {raised} raised events")
            if presses != 1 + pressed:
                found.append(f"alarm {alarm} counts {presses} presses, has {1 + pressed}")
            if (status == "resolved") != (resolved == 1):
                found.append(f"alarm {alarm} is {status} with {resolved} resolved events")
        return found


async def test_backups_taken_during_heavy_writes_are_each_one_consistent_snapshot(
    sqlite_url: str, tmp_path: Path
) -> None:
    seeded = await seed(sqlite_url)
    patrol = seeded.staff["patrol_leader"]
    answered, stopping = Answered(), asyncio.Event()
    database = backup.sqlite_path(sqlite_url)
    files = [tmp_path / f"heavy-{n}.db" for n in range(3)]
    with service(database_url=sqlite_url, **SERVICE) as base:
        tasks = [
            asyncio.create_task(_press_and_resolve(base, h, patrol, answered, stopping))
            for h in _pressers(seeded, quiet_group=-1)
        ]
        try:
            summaries = []
            for file in files:
                await _until(answered, 30, since=time.monotonic())
                summaries.append(
                    await asyncio.to_thread(backup.backup, database=database, target=file)
                )
        finally:
            stopping.set()
            await asyncio.gather(*tasks)
    heads = [s.last_event_id for s in summaries]
    assert heads == sorted(heads)
    assert heads[0] < heads[-1]  # the presses went on between the backups
    assert all(s.alarms > 0 for s in summaries)
    for file in files:
        assert backup.check(file).revision == "0016"
        assert _inconsistencies(file) == [], file
    assert _inconsistencies(database) == []  # the invariants are real: the live one keeps them
