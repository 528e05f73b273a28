"""The admin pairs a panic button with a household and a siren with a building in the
register's Buttons & sirens section, sees the button quiet until it is heard, and unpairs."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests.browser.conftest import signed_in
from tests.browser.test_register_page import open_register
from tests.harness import running, seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)])
async def test_the_admin_pairs_a_button_and_a_siren_and_unpairs_one(
    browser: Browser, sqlite_url: str, viewport: tuple[int, int]
) -> None:
    community = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        width, height = viewport
        context = await signed_in(
            browser, base, community.staff["admin"], viewport={"width": width, "height": height}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await open_register(page, base)
        await page.get_by_role("button", name="按钮与警报器").click()
        await expect(page.locator("#hardware-unknown")).to_contain_text("暂无")

        await page.locator("#hw-name").fill("sos-b11-1-301")
        await page.locator("#hw-household").fill("B11-1-301")
        await page.locator("#hw-label").fill("床边")
        await page.locator("#hw-type").select_option("medical")
        await page.locator("#hw-pair").click()
        button = page.locator('tr[data-device="sos-b11-1-301"]')
        await expect(button).to_contain_text("B11-1-301 · 床边")
        await expect(button).to_contain_text("失联")  # never heard yet: quiet

        await page.locator("#hw-kind").select_option("siren")
        await page.locator("#hw-name").fill("siren-b11")
        await page.locator("#hw-building").fill("B11")
        await page.locator("#hw-pair").click()
        siren = page.locator('tr[data-device="siren-b11"]')
        await expect(siren).to_contain_text("警报器")
        await expect(siren).to_contain_text("B11")

        await page.locator("#hw-kind").select_option("siren")
        await page.locator("#hw-name").fill("siren-b11")
        await page.locator("#hw-pair").click()  # the same topic twice: refused, said
        await expect(page.locator("#status")).to_contain_text("already paired")

        await button.get_by_role("button", name="解除").click()
        await expect(button).to_have_count(0)
        await expect(siren).to_have_count(1)
        assert errors == []
        await context.close()
