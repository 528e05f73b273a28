"""The resident app during a roll call (平安报), in a real browser on a phone: the question shows
with two large answers, "OK" is counted on the staff's tally, "need help" raises the
household's alarm, a reload still asks, and a pushed roll call's button answers through the
worker at the roll call's own address."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playwright.async_api import Browser, Request, Route, expect

from server.settings import Settings
from tests.browser.conftest import signed_in
from tests.browser.test_app_install import notifications
from tests.browser.test_app_page import app_page, inside
from tests.harness import Seed, call, running, seed

PHONE = {"width": 390, "height": 844}
HOUSEHOLD = "B11-1-301"


async def start(base: str, seeded: Seed, note: str) -> int:
    started = await call(
        base,
        seeded.staff["patrol_leader"],
        "POST",
        "/api/rollcalls",
        json={"scope": "building:B11", "note": note},
    )
    assert started.status_code in (200, 201), started.text
    rollcall_id: int = started.json()["id"]
    return rollcall_id


async def answers(base: str, seeded: Seed, rollcall_id: int) -> dict[str, Any]:
    found = await call(base, seeded.staff["patrol_leader"], "GET", f"/api/rollcalls/{rollcall_id}")
    return {h["household"]: (h["answer"], h["via"]) for h in found.json()["households"]}


async def test_a_roll_call_asks_the_household_and_ok_is_counted(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with (
        running(Settings(database_url=sqlite_url)) as base,
        app_page(browser, base, seeded.households[HOUSEHOLD], PHONE) as page,
    ):
        rollcall_id = await start(base, seeded, "地震，请报平安")
        card = page.locator("#rollcall")
        await expect(card).to_be_visible()
        await expect(page.locator("#rollcall-note")).to_have_text("地震，请报平安")
        ok = page.get_by_role("button", name="平安", exact=True)
        box = await ok.bounding_box()
        assert inside(box, PHONE)
        assert box is not None
        assert box["height"] >= 48
        await ok.tap()
        await expect(page.get_by_role("alert")).to_have_text("已报平安，谢谢。")
        await expect(card).to_be_hidden()
        assert (await answers(base, seeded, rollcall_id))[HOUSEHOLD] == ("ok", "app")
        await page.reload()
        await expect(page.locator("#status.online")).to_be_visible()
        await page.wait_for_timeout(500)
        assert await card.is_hidden()  # answered: not asked again


async def test_need_help_after_a_reload_raises_the_households_alarm(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        rollcall_id = await start(base, seeded, "")
        async with app_page(browser, base, seeded.households[HOUSEHOLD], PHONE) as page:
            await expect(page.locator("#rollcall")).to_be_visible()  # from GET /api/me/rollcalls
            await page.get_by_role("button", name="需要帮助", exact=True).tap()
            await expect(page.get_by_role("alert")).to_contain_text("已通知邻居和巡逻队")
            await expect(page.locator("#mine")).to_be_visible()  # the household's own alarm
        assert (await answers(base, seeded, rollcall_id))[HOUSEHOLD] == ("help", "app")
        listed = await call(base, seeded.households[HOUSEHOLD], "GET", "/api/alerts")
        (alarm,) = listed.json()
        assert (alarm["household"], alarm["source"]) == (HOUSEHOLD, "rollcall")


async def test_a_pushed_roll_calls_button_answers_at_its_own_address(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        context = await signed_in(browser, base, seeded.households[HOUSEHOLD])
        await context.grant_permissions(["notifications"], origin=base)
        posted: list[tuple[str, dict[str, Any]]] = []
        arrived = asyncio.Event()

        async def answer(route: Route, request: Request) -> None:
            posted.append((request.url, json.loads(request.post_data or "{}")))
            arrived.set()
            await route.fulfill(status=200, json={"outcome": "answered", "answer": "ok"})

        await context.route("**/api/rollcalls/push-answer", answer)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        registered: list[str] = []
        known = asyncio.Event()

        def updated(event: dict[str, Any]) -> None:
            registered.extend(r["registrationId"] for r in event["registrations"])
            if registered:
                known.set()

        cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
        await cdp.send("ServiceWorker.enable")
        await page.goto(f"{base}/app")
        await page.evaluate("navigator.serviceWorker.ready")
        await asyncio.wait_for(known.wait(), 5)
        message = {
            "type": "rollcall",
            "rollcall_id": 3,
            "tag": "rollcall-3",
            "title": "平安报",
            "body": "地震，请报平安",
            "answer_token": "r-token",
            "answer_url": "/api/rollcalls/push-answer",
            "actions": [{"action": "ok", "title": "平安"}, {"action": "help", "title": "需要帮助"}],
            "url": "/app",
        }
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": base, "registrationId": registered[-1], "data": json.dumps(message)},
        )
        [shown] = await notifications(page, 1)
        assert (shown["tag"], shown["requireInteraction"], shown["actions"]) == (
            "rollcall-3",
            True,
            ["ok", "help"],
        )
        [worker] = context.service_workers
        await worker.evaluate(
            """async () => {
              const [n] = await self.registration.getNotifications({tag: "rollcall-3"});
              const click = {notification: n, action: "ok"};
              self.dispatchEvent(new NotificationEvent("notificationclick", click));
            }"""
        )
        await asyncio.wait_for(arrived.wait(), 5)
        assert posted == [
            (f"{base}/api/rollcalls/push-answer", {"token": "r-token", "answer": "ok"})
        ]
        await context.close()
