"""Nothing is capped at an arbitrary count: a client far behind gets its whole replay, and the
alarm list pages."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from server.alarms.models import AlertEvent, Audience, EventType
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.actors import resident
from tests.harness import Seed, call, rows, running, stream

BEHIND = 1_500  # more than the 1,000 a replay once stopped at


async def _store_events(url: str, like: dict[str, Any], count: int) -> None:
    """Store count more events of the alarm the given event is of (as a long night would)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add_all(
                AlertEvent(
                    alert_id=like["alert_id"],
                    community_id=like["community_id"],
                    group_id=like["group_id"],
                    type=EventType.PRESSED,
                    actor="resident:1",
                    data={**like["data"], "presses": n + 2},
                    created_at=utcnow(),
                )
                for n in range(count)
            )
            await session.commit()
    finally:
        await engine.dispose()


async def test_a_neighbour_far_behind_gets_its_whole_replay_then_live_events_once(
    seeded: Seed, sqlite_url: str
) -> None:
    group = seeded.group_of("B11-1-101")
    listener, raiser = group[0], group[1]
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05)
    async with running(settings) as base:
        async with stream(base, seeded.households[listener]) as sock:
            assert (await resident(base, seeded, raiser).press()).status_code == 201
            seen = await sock.next_event()
        await _store_events(sqlite_url, seen, BEHIND)
        async with stream(base, seeded.households[listener], last_event_id=seen["id"]) as again:
            assert again.hello["replayed"] == BEHIND
            assert again.hello["truncated"] is False
            live = (await resident(base, seeded, raiser).press("fire")).json()
            await again.events_until(lambda got: any(e["id"] == live["event_id"] for e in got), 30)
            assert await again.silent()
    stored = await rows(
        sqlite_url,
        select(AlertEvent.id)
        .where(AlertEvent.group_id == seeded.groups[listener], AlertEvent.id > seen["id"])
        .where(AlertEvent.audience != Audience.BOARD)
        .order_by(AlertEvent.id),
    )
    assert [e["id"] for e in again.events] == [row[0] for row in stored]
    assert len(again.events) == BEHIND + 1


async def test_the_alarm_list_pages_newest_first_with_a_link_to_the_next_page(
    seeded: Seed, sqlite_url: str
) -> None:
    raisers = ["B11-1-101", "B11-2-101", "B12-1-101", "B12-2-101", "B11-1-102"]
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05)
    async with running(settings) as base:
        raised = [(await resident(base, seeded, a).press()).json()["alert"]["id"] for a in raisers]
        board = seeded.staff["patrol_leader"]
        pages: list[list[int]] = []
        path: str | None = "/api/alerts?limit=2"
        while path is not None:
            answer = await call(base, board, "GET", path)
            assert answer.status_code == 200, answer.text
            pages.append([alarm["id"] for alarm in answer.json()])
            link = answer.headers.get("link")
            path = None
            if link is not None:
                assert link.endswith('>; rel="next"')
                path = str(httpx.URL(link[1 : link.index(">")]).raw_path, "ascii")
        everything = (await call(base, board, "GET", "/api/alerts")).json()
    assert pages == [sorted(raised, reverse=True)[i : i + 2] for i in (0, 2, 4)]
    assert [alarm["id"] for alarm in everything] == sorted(raised, reverse=True)
