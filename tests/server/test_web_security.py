"""Every page and answer carries the security headers (HSTS when public over https); the docs
are off in production; readiness tells anyone its status and only staff its details."""

from __future__ import annotations

import httpx
import pytest

from server.settings import Settings
from server.web.security import PAGES_CSP
from tests.harness import Seed, running, stream


async def get(base: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base) as client:
        return await client.get(path, headers=headers)


@pytest.mark.parametrize("path", ["/board", "/app", "/static/js/board.js", "/api/me", "/healthz"])
async def test_every_answer_carries_the_security_headers(
    sqlite_url: str, seeded: Seed, path: str
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        answer = await get(base, path, seeded.households["B11-1-101"])
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == PAGES_CSP
    assert "frame-ancestors 'none'" in PAGES_CSP
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in answer.headers


async def test_the_pages_still_load_their_script_and_open_the_stream_under_the_policy(
    sqlite_url: str, seeded: Seed
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        page = (await get(base, "/board")).text
        assert '<script type="module" src="/static/js/board.js">' in page  # 'self'
        assert "<script>" not in page  # nothing inline
        assert "http" not in PAGES_CSP  # nothing from elsewhere
        async with stream(base, seeded.staff["patrol_member"]) as board:  # /ws: not wrapped
            assert board.hello["type"] == "hello"


async def test_over_https_every_answer_asks_for_https_from_then_on(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, public_base_url="https://tenwatch.example.cn")
    async with running(settings) as base:
        answer = await get(base, "/healthz")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_the_docs_are_served_in_development_and_off_in_production(sqlite_url: str) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        docs = await get(base, "/docs")
        assert docs.status_code == 200
        assert "cdn.jsdelivr.net" in docs.headers["Content-Security-Policy"]
        assert (await get(base, "/")).headers["location"] == "/docs"
    async with running(Settings(database_url=sqlite_url, docs=False)) as base:
        assert (await get(base, "/docs")).status_code == 404
        assert (await get(base, "/redoc")).status_code == 404
        assert (await get(base, "/")).headers["location"] == "/board"
        assert (await get(base, "/openapi.json")).status_code == 200


def test_production_turns_the_docs_off_unless_asked() -> None:
    production = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://tw:Vq3-real-9x@db:5432/tw",
        "public_base_url": "https://tenwatch.example.cn",
    }
    assert not Settings(_env_file=None, **production).docs_enabled  # type: ignore[arg-type]
    assert Settings(_env_file=None, docs=True, **production).docs_enabled  # type: ignore[arg-type]
    assert Settings(_env_file=None).docs_enabled


@pytest.mark.parametrize("who", [None, "garbage", "tw_nope", "resident"])
async def test_readiness_tells_anyone_but_staff_only_its_status(
    sqlite_url: str, seeded: Seed, who: str | None
) -> None:
    token = seeded.households["B11-1-101"] if who == "resident" else who
    async with running(Settings(database_url=sqlite_url)) as base:
        answer = await get(base, "/readyz", token)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


async def test_readiness_tells_staff_each_part_and_the_sockets(
    sqlite_url: str, seeded: Seed
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        answer = await get(base, "/readyz", seeded.staff["patrol_member"])
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["database"], body["bus"], body["sockets"]) == ("ok", "ok", "ok", 0)
