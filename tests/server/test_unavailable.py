"""A database that can't be reached is a 503 with a sentence, never a 500 or a hang; a
genuine database error stays a 500. The service runs for real against a PostgreSQL address
where nothing listens, or where something listens and never answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import SecretStr
from sqlalchemy import text
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.errors import DATABASE_AWAY, PRESS_NOT_STORED
from server.settings import Settings
from storage.db import create_engine
from tests.harness import running

PASSWORD = "s3cret-pw"
BOUND = 15.0
"""Longer than any wait the settings below allow; an answer later than this is a hang."""

broken = APIRouter()


@broken.get("/test/no-such-table")
async def no_such_table(request: Request) -> None:
    """Run a statement that can't work on a database that is there: a bug."""
    engine = create_engine(request.state.settings.database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))
    finally:
        await engine.dispose()


@broken.get("/test/pool-exhausted")
async def pool_exhausted(request: Request) -> None:
    """Wait for a second connection of a pool of one (SQLite's) that a first one holds."""
    engine = create_engine(request.state.settings.database_url, pool_timeout=0.2)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            async with engine.connect() as second:
                await second.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["stopped", "hung"])
def down(request: pytest.FixtureRequest) -> Iterator[tuple[str, Settings]]:
    """Settings whose PostgreSQL (its URL with a password) is down: a loopback port bound by
    nothing that listens, which refuses connections (a stopped server), or one that takes them
    and never answers (a hung host). Workers poll rarely, so that the test's requests are the
    ones that meet the database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if request.param == "hung":
            sock.listen(64)
        port = sock.getsockname()[1]
        url = f"postgresql+asyncpg://tenwatch:{PASSWORD}@127.0.0.1:{port}/tenwatch"
        yield (
            request.param,
            Settings(
                database_url=url,
                database_connect_seconds=0.5,
                outbox_poll_seconds=60,
                scheduler_poll_seconds=60,
            ),
        )


async def ask(settings: Settings, method: str, path: str, body: Any = None) -> httpx.Response:
    """Serve the app and call it once with a well-formed token, which only the database could
    check; an answer later than BOUND fails the test."""
    headers = {"Authorization": "Bearer tw_unchecked", "Idempotency-Key": "k-1"}
    async with (
        running(settings, router=broken) as base,
        asyncio.timeout(BOUND),
        httpx.AsyncClient(base_url=base, timeout=BOUND) as client,
    ):
        return await client.request(method, path, headers=headers, json=body)


async def test_with_the_database_down_a_read_answers_503_with_a_sentence(
    down: tuple[str, Settings],
) -> None:
    answer = await ask(down[1], "GET", "/api/alerts")
    assert answer.status_code == 503
    assert answer.json() == {"detail": DATABASE_AWAY}
    assert "www-authenticate" not in answer.headers


async def test_with_the_database_down_a_press_is_told_its_alarm_may_not_be_stored(
    down: tuple[str, Settings],
) -> None:
    answer = await ask(down[1], "POST", "/api/alerts", {"type": "fire"})
    assert answer.status_code == 503
    assert answer.json() == {"detail": PRESS_NOT_STORED}
    assert "alarm number" in PRESS_NOT_STORED


async def test_with_the_database_down_readyz_says_unavailable_and_only_that(
    down: tuple[str, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    where, settings = down
    answer = await ask(settings, "GET", "/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable"}  # no credential can be checked either
    expected = "ConnectionRefusedError" if where == "stopped" else "TimeoutError"
    assert f"database unreachable: {expected}" in caplog.text  # why, for the operator
    assert PASSWORD not in caplog.text


async def test_no_free_connection_in_the_pool_answers_503_with_a_sentence(
    sqlite_url: str,
) -> None:
    answer = await ask(Settings(database_url=sqlite_url), "GET", "/test/pool-exhausted")
    assert answer.status_code == 503
    assert answer.json() == {"detail": DATABASE_AWAY}


async def test_a_statement_that_cannot_work_stays_a_500(db_url: str) -> None:
    answer = await ask(Settings(database_url=db_url), "GET", "/test/no-such-table")
    assert answer.status_code == 500


async def test_with_the_database_down_a_socket_is_told_to_try_again_later(
    down: tuple[str, Settings],
) -> None:
    async with running(down[1]) as base, asyncio.timeout(BOUND):
        url = base.replace("http", "ws") + "/ws"
        async with connect(url, additional_headers={"Authorization": "Bearer tw_x"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "reconnect" in closed.value.rcvd.reason


@pytest.mark.parametrize(
    ("path", "form", "says"),
    [
        ("/twilio/sms", {"MessageSid": "SM1", "Body": "救命"}, "<Message>"),
        ("/twilio/voice", {"CallSid": "CA1"}, "<Redirect"),
        ("/twilio/voice/menu", {"CallSid": "CA1", "Digits": "3"}, "<Redirect"),
    ],
)
async def test_with_the_database_down_a_call_or_text_to_an_alarm_number_is_told_to_call_110(
    down: tuple[str, Settings], path: str, form: dict[str, str], says: str
) -> None:
    public = "https://tenwatch.example.org"
    token = "twilio-auth-token"
    settings = down[1].model_copy(
        update={"twilio_auth_token": SecretStr(token), "public_base_url": public}
    )
    form = {"From": "+8613800000001", "To": "+8610110000001", **form}
    signature = RequestValidator(token).compute_signature(public + path, form)
    async with (
        running(settings) as base,
        asyncio.timeout(BOUND),
        httpx.AsyncClient(base_url=base, timeout=BOUND) as client,
    ):
        answer = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200  # not 503: Twilio would play "an application error"
    assert answer.headers["content-type"].startswith("application/xml")
    assert "110" in answer.text
    assert says in answer.text
    if says == "<Redirect":  # the call asks again, at the public URL Twilio signs
        assert f">{public}{path}</Redirect>" in answer.text
