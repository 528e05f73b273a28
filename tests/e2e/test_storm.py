"""A storm on the embedded default: every household of a community presses at once, and the
board and the neighbours hear every alarm (the CI-sized cousin of `python -m bench --storm`)."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from groups import importer
from groups.models import Community, Household, Resident, Staff
from server import accounts
from server.alarms.models import Alert, AlertEvent, EventType
from storage.db import create_engine, create_sessionmaker
from tests.e2e.processes import service
from tests.harness import bearer, rows

HOUSEHOLDS = 300  # 30 units of ten: 30 groups
HEAR_SECONDS = 30.0


@dataclass
class Community300:
    """Tokens of a community of HOUSEHOLDS households and one patrol member."""

    households: list[tuple[str, int]] = field(default_factory=list)  # (token, group id)
    board: str = ""


def _csv() -> str:
    lines = ["address,name,phone,grid,roles"]
    for n in range(HOUSEHOLDS):
        unit, slot = divmod(n, 10)
        floor, room = divmod(slot, 2)
        lines.append(f"S{unit // 4 + 1}-{unit % 4 + 1}-{floor + 1}{room + 1:02d},住户{n},,,")
    lines.append(",巡逻队员,+8613900000001,,patrol_member")
    return "\n".join(lines) + "\n"


async def _seed(url: str) -> Community300:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await importer.import_csv(session, source=io.StringIO(_csv()), community="风暴社区")
            community = await session.scalar(select(Community.id))
            assert community is not None
            seeded = Community300()
            found = await session.execute(
                select(Resident.id, Household.group_id)
                .join(Household, Resident.household_id == Household.id)
                .order_by(Household.id)
            )
            for resident_id, group_id in found.all():
                assert group_id is not None
                token = await accounts.issue(
                    session, community_id=community, resident_id=resident_id
                )
                seeded.households.append((token, group_id))
            staff = await session.scalar(select(Staff.id))
            assert staff is not None
            seeded.board = await accounts.issue(session, community_id=community, staff_id=staff)
            await session.commit()
            return seeded
    finally:
        await engine.dispose()


@dataclass
class Listener:
    """One socket that, closed by the server, reconnects from the highest event id it saw (as
    docs/protocol.md asks of a client) and keeps what the replay brings."""

    url: str
    token: str
    heard: Counter[int] = field(default_factory=Counter)  # event id → times delivered
    closes: Counter[int] = field(default_factory=Counter)  # the server's close codes
    replayed: int = 0
    position: int = 0
    ws: ClientConnection | None = None

    async def open(self, *, resume: bool = False) -> None:
        """Connect (resume: from the highest id seen) and read the hello."""
        url = f"{self.url}?last_event_id={self.position}" if resume else self.url
        self.ws = await connect(
            url, open_timeout=20, max_queue=None, additional_headers=bearer(self.token)
        )
        hello: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
        assert hello["type"] == "hello", hello
        self.replayed += int(hello["replayed"])
        if not resume:
            self.position = int(hello["last_event_id"])

    async def run(self, stopping: asyncio.Event) -> None:
        """Hear events until stopping, reconnecting whenever the server closes the socket."""
        while True:
            assert self.ws is not None
            try:
                async for message in self.ws:
                    event = json.loads(message)
                    if "id" in event:
                        self.heard[event["id"]] += 1
                        self.position = max(self.position, event["id"])
            except ConnectionClosed:
                pass
            if stopping.is_set():
                return
            self.closes[self.ws.close_code or 1006] += 1
            await self.open(resume=True)

    def has(self, events: set[int]) -> bool:
        """Whether every one of events was delivered."""
        return events <= self.heard.keys()


async def test_a_storm_of_presses_is_stored_answered_and_heard_by_board_and_neighbours(
    sqlite_url: str,
) -> None:
    seeded = await _seed(sqlite_url)
    group = seeded.households[0][1]
    with service(database_url=sqlite_url) as base:
        ws = base.replace("http://", "ws://", 1) + "/ws"
        board = Listener(ws, seeded.board)
        neighbours = [Listener(ws, t) for t, g in seeded.households if g == group]
        await asyncio.gather(*(s.open() for s in [board, *neighbours]))
        stopping = asyncio.Event()
        listening = [asyncio.create_task(s.run(stopping)) for s in [board, *neighbours]]

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/api/alerts",
                        json={"type": "help"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for token, _ in seeded.households
                ),
                return_exceptions=True,
            )
        statuses = Counter(
            a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers
        )
        answered = {
            a.json()["event_id"] for a in answers if isinstance(a, httpx.Response) and a.is_success
        }
        pressed = await rows(  # one event a press: a new alarm's raise, or a press joining one
            sqlite_url,
            select(AlertEvent.id, Alert.group_id)
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .where(AlertEvent.type.in_([EventType.RAISED, EventType.PRESSED])),
        )
        every = {event for event, _ in pressed}
        ours = {event for event, g in pressed if g == group}
        try:
            async with asyncio.timeout(HEAR_SECONDS):
                while not (board.has(every) and all(n.has(ours) for n in neighbours)):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pass
        stopping.set()
        for s in [board, *neighbours]:
            if s.ws is not None:
                await s.ws.close()
        await asyncio.gather(*listening, return_exceptions=True)

    assert all(isinstance(code, int) and 200 <= code < 300 for code in statuses), statuses
    assert len(every) == HOUSEHOLDS, "every press is stored"
    assert answered <= every, "every answered press is stored"
    missed = sorted(every - board.heard.keys())
    assert not missed, (
        f"the board never heard {len(missed)} alarms (closed by the server: {dict(board.closes)},"
        f" {board.replayed} events replayed)"
    )
    assert all(n.has(ours) for n in neighbours), "every neighbour heard its group's alarms"
    twice = [e for s in [board, *neighbours] for e, n in s.heard.items() if n > 1]
    assert not twice, f"delivered twice to one socket: {twice[:10]}"
