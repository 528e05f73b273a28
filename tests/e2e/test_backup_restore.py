"""`tenwatch backup` in the middle of a stream of presses, against a real service process on a
SQLite file; `tenwatch restore` refused while the service runs; the service stopped, `restore`,
the service started again: every alarm committed before the backup began is back with its
events, and the restored service takes a new press and delivers it on a socket. A backup taken
while presses pour in is one consistent snapshot (the invariants of an alarm's transactions hold
in it). On PostgreSQL the same holds of the pg_dump and pg_restore commands docs/operate.md
gives."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from server.migrate import head
from storage import backup
from tests.actors import Person, resident
from tests.conftest import fresh_postgres
from tests.e2e.processes import service
from tests.harness import Seed, bearer, poll_until, seed, stream

PRESSERS = 6  # households pressing at once, in three groups
BEFORE, AFTER = 40, 20  # steps answered before the backup begins, and after it ends
T = TypeVar("T")


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


@dataclass
class Scene:
    """The demo community as the tests use it: a patrol, and a quiet group (nobody of it
    presses in the stream) with a raiser and a neighbour for the press after the restore."""

    seeded: Seed
    raiser: str
    neighbour: str
    patrol: str


async def _scene(url: str) -> Scene:
    seeded = await seed(url)
    quiet = seeded.group_of("B12-2-101")
    return Scene(seeded, quiet[0], quiet[1], seeded.staff["patrol_leader"])


async def _mid_stream(
    base: str, scene: Scene, answered: Answered, take: Callable[[], T]
) -> tuple[T, float, float]:
    """Households press and the patrol resolves; once BEFORE steps are answered, take a backup
    (in a thread), and go on until AFTER more are answered after it. Returns the backup's
    result, and when it began and ended."""
    stopping = asyncio.Event()
    households = _pressers(scene.seeded, scene.seeded.groups[scene.raiser])
    tasks = [
        asyncio.create_task(_press_and_resolve(base, h, scene.patrol, answered, stopping))
        for h in households
    ]
    try:
        await _until(answered, BEFORE, since=0)
        began = time.monotonic()
        made = await asyncio.to_thread(take)
        ended = time.monotonic()
        await _until(answered, AFTER, since=ended)
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
    return made, began, ended


async def _restored_and_working(base: str, scene: Scene, committed: dict[int, set[int]]) -> int:
    """Every committed step is in its alarm's timeline on the restored service, which takes a
    new press and delivers it to a neighbour's socket; the new event's id."""
    board = Person(base, scene.patrol)
    for alarm, steps in committed.items():
        shown = await board.call("GET", f"/api/alerts/{alarm}/timeline")
        assert shown.status_code == 200, (alarm, shown.text)
        assert steps <= {e["id"] for e in shown.json()}, alarm
    async with stream(base, scene.seeded.households[scene.neighbour]) as socket:
        raised = await resident(base, scene.seeded, scene.raiser).press("help")
        assert raised.status_code == 201, raised.text
        heard = await socket.next_event(timeout=10)
    assert heard["id"] == raised.json()["event_id"]
    assert heard["data"]["household"] == scene.raiser
    event: int = heard["id"]
    return event


async def test_a_backup_taken_mid_stream_restores_every_committed_alarm_to_a_working_service(
    sqlite_url: str, tmp_path: Path
) -> None:
    scene, answered = await _scene(sqlite_url), Answered()
    file = tmp_path / "mid-stream.db"
    with service(database_url=sqlite_url, **SERVICE) as base:
        made, began, ended = await _mid_stream(
            base, scene, answered, lambda: _tenwatch(sqlite_url, "backup", str(file))
        )
        early = await asyncio.to_thread(_tenwatch, sqlite_url, "restore", str(file))
        assert early.returncode == 1, early.stdout
        assert "stop the service first" in " ".join(early.stdout.split())
        assert "Traceback" not in early.stderr
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
    assert max(max(s) for s in committed.values()) <= summary.last_event_id
    with service(database_url=sqlite_url, **SERVICE) as base:
        # What was answered after the backup ended is not in it: the restore replaced the
        # database, it did not leave the live one in place.
        board = Person(base, scene.patrol)
        for alarm, steps in answered.between(ended, float("inf")).items():
            shown = await board.call("GET", f"/api/alerts/{alarm}/timeline")
            if shown.status_code == 200:
                assert not steps & {e["id"] for e in shown.json()}, alarm
            else:
                assert shown.status_code == 404, shown.text
        assert await _restored_and_working(base, scene, committed) > summary.last_event_id


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
    scene = await _scene(sqlite_url)
    database = backup.sqlite_path(sqlite_url)
    files = [tmp_path / f"heavy-{n}.db" for n in range(3)]

    def back_up_thrice() -> list[backup.Summary]:
        summaries = []
        for file in files:
            summaries.append(backup.backup(database=database, target=file))
            time.sleep(0.5)  # presses go on between the backups
        return summaries

    with service(database_url=sqlite_url, **SERVICE) as base:
        summaries, _, _ = await _mid_stream(base, scene, Answered(), back_up_thrice)
    heads = [s.last_event_id for s in summaries]
    assert heads == sorted(heads)
    assert heads[0] < heads[-1]
    assert all(s.alarms > 0 for s in summaries)
    for file in files:
        assert backup.check(file).revision == head()
        assert _inconsistencies(file) == [], file
    assert _inconsistencies(database) == []  # the invariants are real: the live one keeps them


@pytest.fixture
def restored_postgres(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database to restore a dump into."""
    with fresh_postgres(postgres_server) as url:
        yield url


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.postgres
async def test_a_pg_dump_taken_mid_stream_restores_to_a_working_service(
    postgres_url: str, restored_postgres: str, tmp_path: Path
) -> None:
    scene, answered = await _scene(postgres_url), Answered()
    dump = tmp_path / "tenwatch.dump"
    source = postgres_url.replace("+asyncpg", "")
    with service(database_url=postgres_url) as base:
        _, began, _ = await _mid_stream(
            base,
            scene,
            answered,
            lambda: _run("pg_dump", "--format=custom", f"--file={dump}", source),
        )
    target = restored_postgres.replace("+asyncpg", "")
    await asyncio.to_thread(
        _run, "pg_restore", "--no-owner", "--exit-on-error", "-d", target, str(dump)
    )
    committed = answered.between(0, began)
    with service(database_url=restored_postgres) as base:
        # The sequences came back with the rows: a new event's id follows every restored one.
        newest = max(max(s) for s in committed.values())
        assert await _restored_and_working(base, scene, committed) > newest
