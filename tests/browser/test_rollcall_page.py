"""The patrol leader starts a roll call for a building on /rollcall and watches the tally move
as households answer, and the door-knocking list shrink; then closes it."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests.browser.conftest import signed_in
from tests.harness import Seed, call, running, seed

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(sqlite_url: str) -> Seed:
    """The demo community (two buildings of twenty households)."""
    return asyncio.run(seed(sqlite_url))


async def test_the_patrol_leader_starts_a_roll_call_and_sees_the_tally_move(
    browser: Browser, seeded: Seed, sqlite_url: str
) -> None:
    settings = Settings(database_url=sqlite_url, outbox_poll_seconds=0.05)
    async with running(settings) as base:
        context = await signed_in(
            browser, base, seeded.staff["patrol_leader"], viewport={"width": 1440, "height": 900}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(base + "/rollcall")
        assert await page.title() == "十户联防 · 平安报"
        await expect(page.locator("#live")).to_have_text("实时")
        await page.locator("#scope-kind").select_option("building")
        await page.locator("#scope-value").fill("B11")
        await page.locator("#note").fill("地震，请报平安")
        await page.get_by_role("button", name="开始", exact=True).click()
        await expect(page.locator("#status")).to_have_text("平安报已发出：20 户。")
        await expect(page.locator("#watch")).to_be_visible()
        await expect(page.locator("#tally-none")).to_have_text("20")
        await expect(page.locator("#knock .door")).to_have_count(20)
        rid = int((await page.locator("#watch-title").inner_text()).split("#")[1].split()[0])

        ok = await call(
            base, seeded.households["B11-1-301"], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "ok"},
        )  # fmt: skip
        assert ok.status_code == 200, ok.text
        await expect(page.locator("#tally-ok")).to_have_text("1")
        await expect(page.locator("#tally-none")).to_have_text("19")
        helped = await call(
            base, seeded.households["B11-2-502"], "POST", f"/api/rollcalls/{rid}/answer",
            json={"answer": "help"},
        )  # fmt: skip
        assert helped.status_code == 200, helped.text
        await expect(page.locator("#tally-help")).to_have_text("1")
        await expect(page.locator("#helpers")).to_contain_text("B11-2-502")
        await expect(page.locator("#knock .door")).to_have_count(18)
        await expect(page.locator("#knock")).not_to_contain_text("B11-1-301")
        assert await page.evaluate("document.documentElement.scrollWidth <= 1440")

        await page.get_by_role("button", name="结束平安报").click()
        await expect(page.locator("#status")).to_have_text("平安报已结束。")
        await expect(page.locator("#close")).to_be_hidden()
        await context.close()
    assert errors == []
