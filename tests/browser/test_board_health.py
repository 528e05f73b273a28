"""The board's health strip: staff see "系统正常" on a healthy service, and the alarm path's
failing leg — texts not going out — once the outbox worker has stopped; in English too."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests.actors import Person
from tests.browser.conftest import signed_in
from tests.harness import Seed, running, seed
from tests.server.supervision_support import ROUND, failing, hands, until

DESK = {"width": 1440, "height": 900}


async def test_the_strip_says_healthy_then_that_texts_are_not_going_out(
    browser: Browser, sqlite_url: str
) -> None:
    seeded: Seed = await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05, **ROUND)
    staff = seeded.staff["patrol_leader"]
    async with running(settings, router=hands) as base:
        assert (await Person(base, staff).call("POST", "/api/me/consent")).status_code in (200, 201)
        context = await signed_in(browser, base, staff, viewport=DESK)
        try:
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(base + "/board")
            await expect(page.locator("body[data-ready='1']")).to_be_attached()
            strip = page.locator("#health")
            await expect(strip).to_have_attribute("data-state", "ok")
            await expect(strip).to_have_text("系统正常")

            async with httpx.AsyncClient(base_url=base) as client:
                assert (await client.post("/test/outbox/stop")).status_code == 200
            await until(base, staff, failing("sent"))
            await page.reload()
            await expect(strip).to_have_attribute("data-state", "bad")
            await expect(strip).to_contain_text("报警通路异常：短信未发出")
            assert "not sent within" in (await strip.get_attribute("title") or "")

            await page.locator("#lang").click()
            await expect(strip).to_contain_text("Alarm path failing: texts are not going out")
            assert errors == []
        finally:
            await context.close()
