"""A busy server never drops a socket whose client reads; a client that stops reading is
dropped, and told the position it resumes from."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.alarms import press as pressing
from server.alarms.models import AlertEvent, AlertType, Audience
from server.settings import Settings
from server.web.deps import CurrentPrincipal, Now, Session
from tests.harness import Seed, Socket, bearer, call, poll_until, rows, running, stream

PRESSES = 400  # presses a household makes in one transaction: an event each on the board

storms = APIRouter()


@storms.post("/test/storm")
async def storm(principal: CurrentPrincipal, session: Session, now: Now) -> int:
    """A household presses again and again, committed at once: every event reaches the hub
    between two turns of a socket's writer, as on a server saturated with presses."""
    for _ in range(PRESSES):
        await pressing.create(session, principal=principal, alert_type=AlertType.HELP, now=now)
    await session.commit()
    return PRESSES


async def _storm(base: str, seeded: Seed) -> None:
    """Three households of three groups storm at once."""
    raisers = [seeded.households[a] for a in ("B11-1-101", "B11-2-101", "B12-1-101")]
    answers = await asyncio.gather(*(call(base, t, "POST", "/test/storm") for t in raisers))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]


async def _sockets(base: str, staff: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        ready = await client.get("/readyz", headers={"Authorization": f"Bearer {staff}"})
        return int(ready.json()["sockets"])


async def test_a_board_that_reads_hears_a_whole_storm_and_one_that_does_not_is_dropped(
    seeded: Seed, sqlite_url: str
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        outbox_poll_seconds=0.05,
        ws_queue_size=8,  # far less than the storm queues between two turns of a writer
        ws_send_timeout_seconds=5.0,
        ws_heartbeat_seconds=0.4,
    )
    async with running(settings, router=storms, send_buffer=4096) as base:
        ws = base.replace("http", "ws", 1)
        # Both clients run in the server's own event loop here; their keepalive pings would
        # time out behind the storm's events, so they send none (uvicorn's still come).
        leader = bearer(seeded.staff["patrol_leader"])
        async with connect(f"{ws}/ws", ping_interval=None, additional_headers=leader) as on_board:
            board = Socket(on_board)
            board.hello = json.loads(await on_board.recv())
            await _storm_with(base, seeded, board, sqlite_url)


async def _storm_with(base: str, seeded: Seed, board: Socket, sqlite_url: str) -> None:
    """The storm, heard by a board that reads and a socket that does not."""
    ws = base.replace("http", "ws", 1)
    raw = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    url = f"{ws}/ws"
    member = bearer(seeded.staff["patrol_member"])
    # Uncompressed (deflate shrinks a storm's events twentyfold), read one at a time into
    # a small kernel buffer: the server's send buffer fills soon.
    stuck_client = connect(
        url,
        sock=raw,
        max_queue=1,
        ping_interval=None,
        compression=None,
        additional_headers=member,
    )
    async with stuck_client as stuck:
        hello = json.loads(await stuck.recv())
        reading = asyncio.create_task(board.events_until(lambda got: False, timeout=120))
        storm = asyncio.create_task(_storm(base, seeded))
        # The client that reads nothing fills its buffers, its send stops, and the server
        # lets the socket go; then it reads again (before uvicorn's pings give up on it).
        await poll_until(lambda: _sockets_are(base, seeded, 1), timeout=30)
        heard: list[int] = []
        with pytest.raises(ConnectionClosed) as closed:
            await _read_all(stuck, heard)
        await storm
    assert closed.value.rcvd is not None, "the close frame came after what was sent"
    assert closed.value.rcvd.code == 1013
    position = heard[-1] if heard else hello["last_event_id"]
    assert closed.value.rcvd.reason == f"too slow: resume with last_event_id={position}"
    stored = [
        row[0]
        for row in await rows(
            sqlite_url,
            select(AlertEvent.id)
            .where(AlertEvent.audience != Audience.GROUP)
            .order_by(AlertEvent.id),
        )
    ]
    assert len(stored) >= 3 * PRESSES
    assert heard == stored[: len(heard)]
    assert len(heard) < len(stored), "it was dropped before the storm was through"
    async with stream(base, seeded.staff["patrol_member"], last_event_id=position) as back:
        await back.events_until(lambda got: len(got) >= len(stored) - len(heard), 30)
        assert heard + [e["id"] for e in back.events] == stored

    await poll_until(lambda: _board_has(board, stored[-1]), timeout=30)
    assert not reading.done(), "the board that reads was never closed"
    reading.cancel()
    assert [e["id"] for e in board.events] == stored


async def _read_all(ws: ClientConnection, heard: list[int]) -> None:
    """Read the socket until it closes, keeping the ids of the events."""
    while True:
        message = json.loads(await ws.recv())
        if "id" in message:
            heard.append(message["id"])


async def _sockets_are(base: str, seeded: Seed, count: int) -> bool:
    return await _sockets(base, seeded.staff["admin"]) == count


async def _board_has(board: Socket, last: int) -> bool:
    return bool(board.events) and board.events[-1]["id"] >= last
