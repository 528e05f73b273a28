"""Presses of one community that arrive together commit together, each answered after the
commit that stored it; a press refused in a batch leaves the others stored."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.alarms.models import Alert, AlertEvent
from server.runtime.batches import Batches
from server.settings import Settings
from storage import db
from tests.harness import press, rows, running, seed


async def _turns() -> None:
    """Let the loop run the tasks that are ready (a submit, then the batch it starts)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_items_that_queue_behind_a_batch_run_as_the_next_batch() -> None:
    seen: list[list[int]] = []
    release = asyncio.Event()

    async def run(_key: str, items: Any) -> list[int | Exception]:
        seen.append(list(items))
        if len(seen) == 1:
            await release.wait()
        return [item * 10 if item != 3 else ValueError("three") for item in items]

    batches: Batches[str, int, int] = Batches(run)
    first = asyncio.create_task(batches.submit("a", 1))
    await _turns()
    assert seen == [[1]], "a lone item runs at once"
    later = [asyncio.create_task(batches.submit("a", i)) for i in (2, 3, 4)]
    other = asyncio.create_task(batches.submit("b", 5))
    await _turns()
    assert seen == [[1], [5]], "another key does not wait"
    release.set()
    assert await first == 10
    assert await later[0] == 20
    with pytest.raises(ValueError, match="three"):
        await later[1]
    assert await later[2] == 40
    assert await other == 50
    assert seen == [[1], [5], [2, 3, 4]]


async def test_a_batch_runs_on_when_its_caller_stops_waiting() -> None:
    ran: list[int] = []

    async def run(_key: str, items: Any) -> list[int | Exception]:
        await asyncio.sleep(0.05)
        ran.extend(items)
        return list(items)

    batches: Batches[str, int, int] = Batches(run)
    waiting = asyncio.create_task(batches.submit("a", 7))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await batches.stop()
    assert ran == [7]


async def test_presses_that_arrive_together_commit_together(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = db_url
    seeded = await seed(url)
    commits: list[int] = []  # one entry per commit of a transaction that stored alarms
    storing: set[int] = set()  # connections whose transaction inserted alarms

    def inserted(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO alerts "):
            storing.add(id(conn))

    def committed(conn: Any) -> None:
        if id(conn) in storing:
            storing.discard(id(conn))
            commits.append(1)

    def counted(url: str, **kwargs: Any) -> AsyncEngine:
        engine = db.create_engine(url, **kwargs)
        event.listen(engine.sync_engine, "before_cursor_execute", inserted)
        event.listen(engine.sync_engine, "commit", committed)
        return engine

    monkeypatch.setattr("server.web.app.create_engine", counted)
    settings = Settings(database_url=url, outbox_poll_seconds=60, scheduler_poll_seconds=60)
    addresses = sorted(seeded.households)[:30]
    stored_when_answered: list[bool] = []
    async with running(settings) as base:

        async def one(address: str, forbidden: bool) -> int:
            extra = {"household": "B99-9-999"} if forbidden else {}
            response = await press(base, seeded.households[address], **extra)
            if response.status_code == 201:
                alert_id = response.json()["alert"]["id"]
                found = await rows(url, select(Alert.id).where(Alert.id == alert_id))
                stored_when_answered.append(bool(found))
            return response.status_code

        before = len(commits)
        statuses = await asyncio.gather(
            *(one(a, forbidden=i % 10 == 9) for i, a in enumerate(addresses))
        )
        press_commits = len(commits) - before

    assert statuses.count(403) == 3
    assert statuses.count(201) == 27, statuses
    assert all(stored_when_answered), "each press is answered after the commit that stored it"
    assert 1 <= press_commits < 27 // 2, f"{press_commits} commits for 27 presses: not batched"
    stored = await rows(url, select(func.count()).select_from(Alert))
    assert stored[0][0] == 27
    raised = await rows(
        url,
        select(AlertEvent.id, AlertEvent.alert_id)
        .where(AlertEvent.type == "alert.raised")
        .order_by(AlertEvent.id),
    )
    assert [a for _, a in raised] == sorted(a for _, a in raised), "events in the alarms' order"


async def test_presses_of_one_group_in_one_batch_confirm_its_first_alarm(db_url: str) -> None:
    seeded = await seed(db_url)
    group = seeded.group_of(sorted(seeded.households)[0])
    settings = Settings(database_url=db_url, outbox_poll_seconds=60, scheduler_poll_seconds=60)
    async with running(settings) as base:
        first = await press(base, seeded.households[group[0]])
        assert first.status_code == 201
        later = await asyncio.gather(*(press(base, seeded.households[a]) for a in group[1:]))
        assert [r.status_code for r in later] == [201] * (len(group) - 1)
    found = await rows(
        db_url,
        select(Alert.id, Alert.confirmed, Alert.linked_alert_id)
        .where(Alert.group_id == seeded.groups[group[0]])
        .order_by(Alert.id),
    )
    (first_id, first_confirmed, _), *others = found
    assert first_id == first.json()["alert"]["id"]
    assert first_confirmed, "the group's first alarm became a confirmed incident"
    assert [(confirmed, linked) for _, confirmed, linked in others] == [(True, first_id)] * len(
        others
    ), "every later press of the group confirms the first alarm, batched or not"
