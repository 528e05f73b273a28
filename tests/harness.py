"""Real parts for the server tests: a seeded database, uvicorn in this loop, websocket clients."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import APIRouter
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from groups import importer
from groups.models import Community, Household, Resident, Staff
from server import accounts, roles
from server.demo import DEMO_COMMUNITY, demo_csv
from server.runtime.clock import Clock, system_clock
from server.settings import Settings
from server.web.app import create_app
from storage.db import create_engine, create_sessionmaker


@dataclass
class Seed:
    """The demo community in a test database, with a credential for every household and staff."""

    community_id: int
    households: dict[str, str] = field(default_factory=dict)  # address → token
    groups: dict[str, int] = field(default_factory=dict)  # address → group id
    staff: dict[str, str] = field(default_factory=dict)  # role → token

    def group_of(self, address: str) -> list[str]:
        """Every address in the same group as address, itself included."""
        group = self.groups[address]
        return sorted(a for a, g in self.groups.items() if g == group)


async def seed(url: str, *, community: str = DEMO_COMMUNITY) -> Seed:
    """Import the demo households as community into the database at url; issue credentials."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await importer.import_csv(session, source=io.StringIO(demo_csv()), community=community)
            found = await session.scalar(select(Community).where(Community.name == community))
            assert found is not None
            result = Seed(community_id=found.id)
            rows = await session.execute(
                select(Household.address, Household.group_id, Resident.id)
                .join(Resident, Resident.household_id == Household.id)
                .where(Household.community_id == found.id)
                .order_by(Resident.id)
            )
            for address, group_id, resident_id in rows:
                assert group_id is not None, "the import puts every household in a group"
                if address not in result.households:
                    result.households[address] = await accounts.issue(
                        session, community_id=found.id, resident_id=resident_id
                    )
                    result.groups[address] = group_id
            for staff in await session.scalars(select(Staff).where(Staff.community_id == found.id)):
                result.staff.setdefault(
                    staff.role,
                    await accounts.issue(session, community_id=found.id, staff_id=staff.id),
                )
            await session.commit()
            return result
    finally:
        await engine.dispose()


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    router: APIRouter | None = None,
    send_buffer: int | None = None,
) -> AsyncIterator[str]:
    """Serve the app with real uvicorn in this event loop (on the given clock, with a test's
    own routes added, its sockets' kernel send buffers this small if given); yields its base
    URL."""
    sock = socket.socket()
    if send_buffer is not None:  # accepted sockets inherit it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, clock=clock)
    opened: list[tuple[str, str]] = []  # a test's own routes: open to all while it runs
    if router is not None:
        app.include_router(router)
        for route in router.routes:
            for method in getattr(route, "methods", ()):
                key = (method, getattr(route, "path", ""))
                if key not in roles.ROUTES:
                    roles.ROUTES[key] = roles.PUBLIC
                    opened.append(key)
    config = uvicorn.Config(
        app,
        ws="websockets-sansio",
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
        for key in opened:
            del roles.ROUTES[key]


class Socket:
    """A websocket client of the stream that remembers what it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    async def next_event(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next event (heartbeats skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("type") in ("heartbeat", "hello"):
                    continue
                self.events.append(message)
                return message  # type: ignore[no-any-return]

    async def events_until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Receive events until done(all events so far) holds."""
        async with asyncio.timeout(timeout):
            while not done(self.events):
                await self.next_event(timeout)
        return self.events

    async def silent(self, seconds: float = 0.3) -> bool:
        """True if no event arrives within seconds."""
        try:
            await self.next_event(seconds)
        except TimeoutError:
            return True
        return False


def at_least(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    """A check for Socket.events_until: at least count events have arrived."""
    return lambda events: len(events) >= count


def bearer(token: str) -> dict[str, str]:
    """The header a client sends its token in (never the URL: URLs are logged)."""
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def stream(
    base: str, token: str, *, last_event_id: int | None = None
) -> AsyncIterator[Socket]:
    """Open the stream as token's holder and wait for its hello."""
    url = base.replace("http", "ws", 1) + "/ws"
    if last_event_id is not None:
        url += f"?last_event_id={last_event_id}"
    async with connect(url, open_timeout=5, additional_headers=bearer(token)) as ws:
        sock = Socket(ws)
        sock.hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert sock.hello["type"] == "hello", sock.hello
        yield sock


async def poll_until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Wait until check() holds, looking every 50 ms; for state kept by another process."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def press(base: str, token: str, alert_type: str = "help", **extra: Any) -> httpx.Response:
    """Press help as token's holder."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.post(
            "/api/alerts",
            json={"type": alert_type, **extra},
            headers={"Authorization": f"Bearer {token}"},
        )


async def call(
    base: str,
    token: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Call the API as token's holder."""
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        return await client.request(method, path, headers=sent, **kwargs)


async def rows(url: str, statement: Any) -> list[Any]:
    """Read rows straight from the database at url (state written by the service)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(statement)).all())
    finally:
        await engine.dispose()
