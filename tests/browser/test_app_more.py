"""The resident app's second screen and the countdown, in a real browser on a phone: the
group's recently closed alarms, changing the PINs, a group leader's drill, and a cancel window
that is the community's, not a guess."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests.browser.test_app_page import PIN, RAISER, app_page, hold, neighbour_of, set_pin
from tests.harness import Seed, bearer, running, seed

PHONE = {"width": 390, "height": 844}


async def leader_of(base: str, seeded: Seed, address: str) -> str:
    """The address of the group leader's household in address's group."""
    async with httpx.AsyncClient(base_url=base) as client:
        for other in seeded.group_of(address):
            me = await client.get("/api/me", headers=bearer(seeded.households[other]))
            if me.json()["group_leader"]:
                return other
    raise AssertionError(f"no leader in the group of {address}")


async def test_the_pins_change_from_the_app_and_the_new_pin_cancels(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    token = seeded.households[RAISER]
    async with running(Settings(database_url=sqlite_url)) as base:
        await set_pin(base, token)
        async with app_page(browser, base, token, PHONE) as page:
            await page.locator("#more summary").tap()
            form = page.locator("#pin-form")
            await form.locator("[name=current]").fill("9999")
            await form.locator("[name=pin]").fill("8642")
            await form.locator("[name=duress_pin]").fill("7531")
            await form.get_by_role("button").tap()
            await expect(form.locator(".form-note")).to_contain_text("4")  # tries left
            await expect(form.locator(".form-note")).not_to_have_class(re.compile("ok"))
            await form.locator("[name=current]").fill(PIN)
            await form.locator("[name=pin]").fill("8642")
            await form.locator("[name=duress_pin]").fill("7531")
            await form.get_by_role("button").tap()
            await expect(form.locator(".form-note")).to_have_text("密码已更改。请告诉家里人。")
        async with httpx.AsyncClient(base_url=base, headers=bearer(token)) as client:
            raised = await client.post("/api/alerts", json={"type": "help"})
            alert_id = raised.json()["alert"]["id"]
            old = await client.post(f"/api/alerts/{alert_id}/cancel", json={"pin": PIN})
            assert old.status_code == 403, old.text
            new = await client.post(f"/api/alerts/{alert_id}/cancel", json={"pin": "8642"})
            assert new.status_code == 200, new.text
            assert new.json()["status"] == "cancelled"


async def test_a_group_leader_starts_a_drill_that_the_group_sees_as_a_drill(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url)) as base:
        leader = await leader_of(base, seeded, RAISER)
        other = neighbour_of(seeded, leader)
        async with (
            app_page(browser, base, seeded.households[other], PHONE) as neighbour,
            app_page(browser, base, seeded.households[leader], PHONE) as page,
        ):
            await page.locator("#more summary").tap()
            assert await neighbour.locator("#drill-form").is_hidden()  # not a leader
            form = page.locator("#drill-form")
            await expect(form).to_be_visible()
            await form.locator("[name=label]").fill("三月消防演练")
            await form.locator("[name=type]").select_option("fire")
            await form.get_by_role("button").tap()
            await expect(form.locator(".form-note")).to_have_text(
                "演练已开始：本组各户已收到通知。"
            )
            await expect(neighbour.locator("#alarm-title")).to_contain_text("火情 (演练)")
        async with httpx.AsyncClient(base_url=base) as client:
            listed = await client.get("/api/alerts", headers=bearer(seeded.households[other]))
        (drill,) = listed.json()
        assert (drill["drill"], drill["drill_label"], drill["type"]) == (
            True,
            "三月消防演练",
            "fire",
        )


async def test_the_recently_closed_list_shows_the_groups_closed_alarms(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    token = seeded.households[RAISER]
    async with running(Settings(database_url=sqlite_url)) as base:
        await set_pin(base, token)
        async with httpx.AsyncClient(base_url=base, headers=bearer(token)) as client:
            raised = await client.post("/api/alerts", json={"type": "medical"})
            alert_id = raised.json()["alert"]["id"]
            cancelled = await client.post(f"/api/alerts/{alert_id}/cancel", json={"pin": PIN})
            assert cancelled.status_code == 200, cancelled.text
        viewer = seeded.households[neighbour_of(seeded, RAISER)]
        async with app_page(browser, base, viewer, PHONE) as page:
            await page.locator("#more summary").tap()
            item = page.locator("#recent li")
            await expect(item).to_have_count(1)
            await expect(item).to_contain_text(RAISER)
            await expect(item).to_contain_text("急病 · 已撤销 · 刚刚")


@pytest.mark.parametrize("window", [45])
async def test_the_cancel_countdown_is_the_communitys_window(
    sqlite_url: str, browser: Browser, window: int
) -> None:
    seeded = await seed(sqlite_url)
    token = seeded.households[RAISER]
    async with running(Settings(database_url=sqlite_url)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            changed = await client.put(
                "/api/policy",
                json={"cancel_seconds": window},
                headers=bearer(seeded.staff["admin"]),
            )
            assert changed.status_code == 200, changed.text
            me = await client.get("/api/me", headers=bearer(token))
            assert me.json()["cancel_seconds"] == window
        async with app_page(browser, base, token, PHONE) as page:
            await hold(page, "#hold")
            countdown = page.locator("#mine-countdown")
            await expect(countdown).to_contain_text("秒内输入密码撤销")
            shown = int(re.findall(r"\d+", await countdown.inner_text())[0])
            assert window - 5 <= shown <= window
