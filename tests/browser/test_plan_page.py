"""The plan in a browser: staff see the community as buildings → units → floors → rooms; a
press lights its household at once (live from the stream), and a click opens its card."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from groups.models import Household, Resident
from server.settings import Settings
from storage.db import create_engine, create_sessionmaker
from tests.browser.conftest import signed_in
from tests.harness import call, press, running, seed

pytestmark = pytest.mark.browser

HOME = "B11-1-301"
SIZES = [{"width": 1440, "height": 900}, {"width": 390, "height": 844}]


async def give_context(url: str) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(
                update(Household)
                .where(Household.address == HOME)
                .values(spare_key_holder="302 王阿姨", care_note="轮椅，三楼无电梯")
            )
            await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("size", SIZES, ids=["1440x900", "390x844"])
async def test_a_press_lights_its_household_on_the_plan_and_a_click_shows_its_card(
    browser: Browser, sqlite_url: str, size: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    await give_context(sqlite_url)
    async with running(Settings(database_url=sqlite_url, ws_heartbeat_seconds=5)) as base:
        context = await signed_in(browser, base, seeded.staff["patrol_leader"], viewport=size)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/plan")
        await page.get_by_role("button", name="我已了解并同意").click()
        await expect(page.locator("#consent")).to_be_hidden()
        assert await page.title() == "十户联防 · 平面图"
        home = page.locator(f'.room[data-address="{HOME}"]')
        await expect(home).to_be_visible()
        await expect(page.locator(".room")).to_have_count(40)
        await expect(page.locator(".building")).to_have_count(2)
        await expect(home).not_to_have_class("room state-alarm")
        await expect(page.locator("#live")).to_have_attribute("data-state", "online")

        raised = await press(base, seeded.households[HOME], "medical")
        assert raised.status_code == 201, raised.text
        await expect(home).to_have_class("room state-alarm", timeout=5000)
        await expect(home).to_contain_text("求助")
        await expect(page.locator('.legend [data-state="alarm"]')).to_contain_text("1")

        alarm = raised.json()["alert"]["id"]
        neighbour = "B11-1-302"
        answered = await call(
            base,
            seeded.households[neighbour],
            "POST",
            f"/api/alerts/{alarm}/responses",
            json={"answer": "coming"},
        )
        assert answered.status_code in (200, 201), answered.text
        await expect(page.locator(f'.room[data-address="{neighbour}"]')).to_have_class(
            "room state-coming"
        )

        await home.click()
        card = page.locator("#card")
        await expect(card).to_be_visible()
        await expect(page.locator("#card-address")).to_have_text(HOME)
        await expect(page.locator("#card-states")).to_contain_text("求助中")
        await expect(page.locator("#card-group")).not_to_be_empty()
        await expect(page.locator("#card-context")).to_contain_text("302 王阿姨")
        await expect(page.locator("#card-context")).to_contain_text("轮椅")
        await expect(page.locator("#card-reach")).to_contain_text("手机号")
        await expect(home).to_have_attribute("aria-pressed", "true")
        box = await card.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= size["width"] + 1
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], "the page scrolls sideways"
        await page.get_by_role("button", name="关闭").click()
        await expect(card).to_be_hidden()
        assert errors == []
        await context.close()


async def test_the_cant_be_reached_list_opens_a_households_card(
    browser: Browser, sqlite_url: str
) -> None:
    seeded = await seed(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        async with create_sessionmaker(engine)() as session:
            home = await session.scalar(select(Household.id).where(Household.address == HOME))
            await session.execute(
                update(Resident).where(Resident.household_id == home).values(phone=None)
            )
            await session.commit()
    finally:
        await engine.dispose()
    async with running(Settings(database_url=sqlite_url)) as base:
        context = await signed_in(
            browser, base, seeded.staff["admin"], viewport={"width": 1440, "height": 900}
        )
        page = await context.new_page()
        await page.goto(base + "/plan")
        await page.get_by_role("button", name="我已了解并同意").click()
        listed = page.locator("#unreachable-list button")
        await expect(listed).to_have_count(1)
        await expect(listed).to_contain_text(HOME)
        await expect(listed).to_contain_text("没有手机号")
        await expect(page.locator(f'.room[data-address="{HOME}"]')).to_have_class(
            "room state-unreachable"
        )
        await listed.click()
        await expect(page.locator("#card-address")).to_have_text(HOME)
        await page.locator("#test-now").click()  # the admin tests it: nothing reaches it
        await expect(page.locator('#card-test [data-channel="sms"]')).to_have_attribute(
            "data-result", "none"
        )
        await context.close()
