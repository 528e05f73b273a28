"""SIGTERM drains a process: its sockets are told 1012 "reconnect" (they resume elsewhere), a
socket opened meanwhile is sent elsewhere, and only then does uvicorn shut the server down."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from types import FrameType

import httpx
import pytest
from fastapi import APIRouter, Request
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.runtime.drain import RECONNECT
from server.settings import Settings
from tests.harness import Seed, bearer, poll_until, running, stream

SERVICE_RESTART = 1012


@pytest.fixture
def caught() -> Iterator[list[int]]:
    """SIGTERMs that reach the test process's own handler: uvicorn raises the signal it caught
    again once its server has stopped, and the drain hands it to uvicorn only after its work."""
    got: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)

    before = signal.signal(signal.SIGTERM, record)
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, before)


async def test_on_sigterm_each_socket_is_told_to_reconnect_then_the_server_stops(
    seeded: Seed, sqlite_url: str, caught: list[int]
) -> None:
    group = seeded.group_of("B11-1-301")
    async with (
        running(Settings(database_url=sqlite_url)) as base,
        stream(base, seeded.households[group[1]]) as neighbour,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        signal.raise_signal(signal.SIGTERM)
        for sock in (neighbour, board):
            with pytest.raises(ConnectionClosed) as closed:
                await sock.next_event()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                SERVICE_RESTART,
                RECONNECT,
            )

        async def stopped() -> bool:
            try:
                async with httpx.AsyncClient(base_url=base, timeout=1) as client:
                    await client.get("/healthz")
            except httpx.ConnectError:
                return True
            return False

        await poll_until(stopped)  # the drain passed the signal on: uvicorn shut down
    assert caught == [signal.SIGTERM]


async def test_a_socket_opened_while_the_process_drains_is_sent_to_another(
    seeded: Seed, sqlite_url: str
) -> None:
    router = APIRouter()

    @router.post("/test/drain")
    async def drain(request: Request) -> None:
        request.state.drain.draining = True

    async with running(Settings(database_url=sqlite_url), router=router) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/readyz")).json() == {"status": "ok"}
            assert (await client.post("/test/drain")).is_success
            ready = await client.get("/readyz")  # the load balancer sends nothing new here
            assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        url = base.replace("http", "ws", 1) + "/ws?last_event_id=0"
        token = seeded.households["B11-1-301"]
        async with connect(url, additional_headers=bearer(token)) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                json.loads(await asyncio.wait_for(ws.recv(), 5))  # no hello: closed first
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (SERVICE_RESTART, RECONNECT)
