"""A revoked session ends at once on every process: one process revokes it, and another, which
holds its socket and has its credential in memory, closes the socket and refuses its requests
within a second (the revocation travels on the bus)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from groups.models import Household, Resident
from server import accounts
from storage.db import create_engine, create_sessionmaker
from tests.e2e.processes import service
from tests.harness import bearer, seed


async def _two_sessions(url: str, community_id: int) -> tuple[tuple[str, int], tuple[str, int]]:
    """Two device sessions of the first resident of B11-1-101: (secret, id) each."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            resident = await session.scalar(
                select(Resident.id)
                .join(Household)
                .where(Household.address == "B11-1-101")
                .order_by(Resident.id)
                .limit(1)
            )
            assert resident is not None
            made = []
            for device in ("Android · Chrome", "iPhone · Safari"):
                token, row = await accounts.issue_credential(
                    session,
                    community_id=community_id,
                    resident_id=resident,
                    kind="session",
                    device=device,
                )
                made.append((token, row.id))
            await session.commit()
            return made[0], made[1]
    finally:
        await engine.dispose()


async def test_a_session_revoked_on_one_process_is_closed_and_refused_on_the_other_at_once(
    db_url: str, redis_url: str
) -> None:
    seeded = await seed(db_url)
    (phone, _), (lost, lost_id) = await _two_sessions(db_url, seeded.community_id)
    # A long memory of checked credentials: only the revocation can make the other forget.
    env = {"database_url": db_url, "redis_url": redis_url, "principal_cache_seconds": "600"}
    with service(**env) as first, service(**env) as second:
        async with httpx.AsyncClient(base_url=second, headers=bearer(lost)) as on_second:
            assert (await on_second.get("/api/me")).status_code == 200  # now in its memory
            ws = second.replace("http", "ws", 1) + "/ws"
            async with connect(ws, additional_headers=bearer(lost)) as socket:
                assert json.loads(await socket.recv())["type"] == "hello"
                async with httpx.AsyncClient(base_url=first, headers=bearer(phone)) as on_first:
                    revoked = await on_first.delete(f"/api/sessions/{lost_id}")
                    assert revoked.status_code == 204
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(_drain(socket), 1.0)
            frame = closed.value.rcvd
            assert frame is not None
            assert (frame.code, frame.reason) == (1008, "signed out: this session was revoked")
            assert (await on_second.get("/api/me")).status_code == 401
        async with httpx.AsyncClient(base_url=second, headers=bearer(phone)) as still:
            assert (await still.get("/api/me")).status_code == 200


async def _drain(socket: ClientConnection) -> None:
    while True:
        await socket.recv()
