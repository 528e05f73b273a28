"""The stream protocol's version: a client asks for one (`?protocol=N` or a `TenWatch-Protocol`
header) and is answered in the highest the server speaks up to it, which the hello names; a
client that asks for none is one from before versions and is answered in protocol 1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.settings import Settings
from server.web.routes.stream import PROTOCOLS
from tests.harness import bearer, running, seed


async def hello(base: str, token: str, query: str = "", **headers: str) -> dict[str, Any]:
    url = base.replace("http", "ws", 1) + "/ws" + query
    async with connect(url, open_timeout=5, additional_headers={**bearer(token), **headers}) as ws:
        found: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return found


@pytest.mark.parametrize(
    ("query", "headers", "protocol"),
    [
        ("", {}, 1),  # a client from before versions
        ("?protocol=1", {}, 1),
        ("?protocol=2", {}, 2),
        ("?protocol=99", {}, PROTOCOLS[-1]),  # a newer client: the highest the server speaks
        ("", {"TenWatch-Protocol": "2"}, 2),
        ("?protocol=2&last_event_id=0", {}, 2),
    ],
)
async def test_the_hello_answers_in_the_highest_protocol_up_to_the_one_asked_for(
    sqlite_url: str, query: str, headers: dict[str, str], protocol: int
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        said = await hello(base, seeded.households["B12-2-101"], query, **headers)
    assert said["type"] == "hello"
    assert said["protocol"] == protocol
    assert said["channel"].startswith("group:")
    assert ("truncated" in said) == (protocol == 1), "protocol 2 leaves out truncated"


@pytest.mark.parametrize("asked", ["0", "two", "-1", ""])
async def test_a_protocol_that_is_no_version_is_refused_with_the_reason(
    sqlite_url: str, asked: str
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        with pytest.raises(ConnectionClosed) as closed:
            await hello(base, seeded.households["B12-2-101"], f"?protocol={asked}")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "protocol" in closed.value.rcvd.reason
