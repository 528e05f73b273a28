"""The pages' live stream module (static/js/stream.js) in a real browser, against a stand-in
socket: it resumes from the highest event id it saw, reconnects after a silence or a drop, and
stops for good on 1008; told 1012 (its process restarts) it reconnects at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from playwright.async_api import Browser, Page, WebSocketRoute

from server.settings import Settings
from tests.harness import running

START = """async () => {
  const { Stream } = await import("/static/js/stream.js");
  window.seen = [];
  window.states = [];
  window.stream = new Stream({
    key: "test",
    onEvent: (event, { replayed }) => window.seen.push([event.id, replayed]),
    onStatus: (status) => window.states.push(status.state),
  });
  window.stream.start();
}"""


def hello(last: int, *, replayed: int = 0, heartbeat: float = 20, protocol: int = 2) -> str:
    return json.dumps(
        {
            "type": "hello",
            "protocol": protocol,
            "last_event_id": last,
            "replayed": replayed,
            "heartbeat": heartbeat,
        }
    )


def event(number: int) -> str:
    return json.dumps({"id": number, "type": "alert.raised", "alert_id": 1, "data": {}})


async def _streaming(
    browser: Browser,
    base: str,
    socket: Callable[[WebSocketRoute], Awaitable[None]],
    *,
    start: str = START,
) -> Page:
    """A page of the service at base whose /ws is the stand-in socket, with a Stream started."""
    page = await browser.new_page()
    await page.route_web_socket("**/ws*", socket)
    await page.goto(f"{base}/healthz")
    await page.evaluate(start)
    return page


async def until(page: Page, expression: str) -> None:
    for _ in range(160):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {expression}")


async def test_the_stream_resumes_from_the_highest_id_seen_and_stops_on_1008(
    sqlite_url: str, browser: Browser
) -> None:
    urls: list[str] = []

    async def socket(ws: WebSocketRoute) -> None:
        urls.append(ws.url)
        if len(urls) == 1:
            ws.send(hello(40))
            ws.send(event(41))
            ws.send(event(42))
            ws.send(event(41))  # a duplicate: dropped
            await ws.close(code=1013, reason="too slow: resume with last_event_id=42")
        elif len(urls) == 2:
            ws.send(hello(43, replayed=1))
            ws.send(event(43))
            ws.send(event(44))
            await ws.close(code=1008, reason="signed out: this session was revoked")

    async with running(Settings(database_url=sqlite_url)) as base:
        page = await _streaming(browser, base, socket)
        await until(page, "window.states.includes('refused')")
        await asyncio.sleep(2.5)  # longer than a reconnect's wait: none comes after 1008
        assert [u.split("/ws", 1)[1] for u in urls] == [
            "?protocol=2",
            "?protocol=2&last_event_id=42",
        ]
        assert await page.evaluate("window.stream.protocol") == 2
        assert await page.evaluate("window.seen") == [
            [41, False],
            [42, False],
            [43, True],
            [44, False],
        ]
        states = await page.evaluate("window.states")
        assert states == [
            "connecting",
            "online",
            "reconnecting",
            "reconnecting",
            "online",
            "refused",
        ]
        assert await page.evaluate("sessionStorage.getItem('tw.last.test')") == "44"


async def test_a_silent_socket_is_dropped_and_reconnected_with_backoff(
    sqlite_url: str, browser: Browser
) -> None:
    urls: list[str] = []

    async def socket(ws: WebSocketRoute) -> None:
        urls.append(ws.url)
        ws.send(hello(7, heartbeat=0.2))  # then nothing: past 2.5 heartbeats it is dead
        if len(urls) == 1:
            ws.send(event(8))

    async with running(Settings(database_url=sqlite_url)) as base:
        page = await _streaming(browser, base, socket)
        await until(page, "window.states.filter((s) => s === 'online').length >= 2")
        assert urls[1].endswith("/ws?protocol=2&last_event_id=8")
        delays = await page.evaluate(
            """async () => {
              const { backoff } = await import("/static/js/stream.js");
              return [0, 1, 2, 3, 4, 10].map((n) => backoff(n, () => 0.5));
            }"""
        )
        assert delays == [1000, 2000, 4000, 8000, 15000, 15000]


async def test_a_socket_told_its_process_restarts_resumes_at_once_then_backs_off_if_refused(
    sqlite_url: str, browser: Browser
) -> None:
    urls: list[str] = []

    async def socket(ws: WebSocketRoute) -> None:
        urls.append(ws.url)
        if len(urls) == 1:
            ws.send(hello(40))
            ws.send(event(41))
            await ws.close(code=1012, reason="reconnect")  # its process drains
        elif len(urls) == 2:
            await ws.close(code=1012, reason="reconnect")  # the same one again: no hello
        else:
            ws.send(hello(42, replayed=1))
            ws.send(event(42))

    async with running(Settings(database_url=sqlite_url)) as base:
        page = await _streaming(
            browser,
            base,
            socket,
            start=START.replace("status.state", "[status.state, status.retryIn]"),
        )
        await until(page, "window.seen.length === 2")
        assert [u.split("/ws", 1)[1] for u in urls] == [
            "?protocol=2",
            *["?protocol=2&last_event_id=41"] * 2,
        ]
        waits = [w for _, w in await page.evaluate("window.states") if w is not None]
        assert waits[0] <= 300  # at once, not the usual backoff (1 s ± 20 %)
        assert 1600 <= waits[1] <= 2400  # refused before a hello: the backoff's second step
        assert await page.evaluate("window.seen") == [[41, False], [42, True]]
