"""Installing the resident app: the manifest and the service worker load, Chromium finds it
installable, and a push delivered to the worker shows the alarm with answers that post."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Request, Route, async_playwright

from server.settings import Settings
from tests.browser.conftest import ARGS, CHROMIUM, signed_in
from tests.harness import running, seed

RESIDENT = "B11-1-102"
NOTIFICATIONS = """navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((all) => all.map((n) => ({title: n.title, body: n.body, tag: n.tag,
    requireInteraction: n.requireInteraction, actions: n.actions.map((a) => a.action)})))"""


async def notifications(page: Page, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(8):
        while True:
            shown: list[dict[str, Any]] = await page.evaluate(NOTIFICATIONS)
            if len(shown) == count:
                return shown
            await asyncio.sleep(0.1)


async def test_the_manifest_and_service_worker_make_the_app_installable(
    sqlite_url: str, tmp_path: Path
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            manifest = await client.get("/manifest.webmanifest")
            worker = await client.get("/sw.js")
            icon = await client.get("/icon-512.png")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        assert manifest.json()["start_url"] == "/app"
        assert manifest.json()["display"] == "standalone"
        assert {i["sizes"] for i in manifest.json()["icons"]} == {"192x192", "512x512"}
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["cache-control"] == "no-cache"
        assert icon.headers["content-type"] == "image/png"
        assert icon.content[:8] == b"\x89PNG\r\n\x1a\n"
    # Chromium offers no install in an incognito profile: a profile of its own, on disk.
    async with running(Settings(database_url=sqlite_url)) as base, async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=CHROMIUM, headless=True, args=ARGS
        )
        await context.add_cookies(
            [{"name": "tw_session", "value": seeded.households[RESIDENT], "url": base}]
        )
        page = await context.new_page()
        await page.goto(f"{base}/app")
        scope = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{base}/"
        cdp = await context.new_cdp_session(page)
        for _ in range(50):  # the worker may still be taking control of the page
            errors = (await cdp.send("Page.getInstallabilityErrors"))["installabilityErrors"]
            if errors == []:
                break
            await asyncio.sleep(0.2)
        assert errors == []
        await context.close()


async def test_a_pushed_alarm_shows_a_notification_whose_action_posts_the_answer(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        context = await signed_in(browser, base, seeded.households[RESIDENT])
        await context.grant_permissions(["notifications"], origin=base)
        answered: list[dict[str, Any]] = []
        posted = asyncio.Event()

        async def answer(route: Route, request: Request) -> None:
            answered.append(json.loads(request.post_data or "{}"))
            posted.set()
            await route.fulfill(status=200, json={"answered": True})

        await context.route("**/api/push/answer", answer)
        seen: list[dict[str, Any]] = []
        told = asyncio.Event()

        async def saw(route: Route, request: Request) -> None:
            seen.append(json.loads(request.post_data or "{}"))
            told.set()
            await route.fulfill(status=201, json={})

        await context.route("**/api/push/seen", saw)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        registrations: list[str] = []
        registered = asyncio.Event()

        def updated(e: dict[str, Any]) -> None:
            registrations.extend(r["registrationId"] for r in e["registrations"])
            if registrations:
                registered.set()

        cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
        await cdp.send("ServiceWorker.enable")
        await page.goto(f"{base}/app")
        await page.evaluate("navigator.serviceWorker.ready")
        await asyncio.wait_for(registered.wait(), 5)
        alarm = {
            "type": "alert",
            "alert_id": 7,
            "tag": "alert-7",
            "title": "邻居求助：B11-1-101 急病",
            "body": "张三 · 刚刚",
            "answer_token": "a-token",
            "actions": [
                {"action": "coming", "title": "我来了"},
                {"action": "cant", "title": "去不了"},
            ],
            "url": "/app",
        }
        push = {"origin": base, "registrationId": registrations[-1]}
        await cdp.send("ServiceWorker.deliverPushMessage", {**push, "data": json.dumps(alarm)})
        [shown] = await notifications(page, 1)
        assert shown["title"] == alarm["title"]
        assert shown["tag"] == "alert-7"
        assert shown["requireInteraction"] is True
        assert shown["actions"] == ["coming", "cant"]
        await asyncio.wait_for(told.wait(), 5)  # the board hears the device showed it
        assert seen == [{"token": "a-token", "alert_id": 7}]
        [worker] = context.service_workers
        await worker.evaluate(
            """async () => {
              const [n] = await self.registration.getNotifications({tag: "alert-7"});
              const click = {notification: n, action: "coming"};
              self.dispatchEvent(new NotificationEvent("notificationclick", click));
            }"""
        )
        await asyncio.wait_for(posted.wait(), 5)
        assert answered == [{"token": "a-token", "answer": "coming"}]
        await cdp.send("ServiceWorker.deliverPushMessage", {**push, "data": json.dumps(alarm)})
        await notifications(page, 1)
        clear = {
            "type": "all_clear",
            "tag": "alert-7",
            "title": "警报解除：B11-1-101",
        }  # replaces it
        await cdp.send("ServiceWorker.deliverPushMessage", {**push, "data": json.dumps(clear)})
        for _ in range(50):
            if (await notifications(page, 1))[0]["title"] == clear["title"]:
                break
            await asyncio.sleep(0.1)
        assert (await notifications(page, 1))[0]["title"] == clear["title"]
        await context.close()
