"""The community admin keeps the register in a browser: imports a file with a bad row, sees the
row's error, fixes it and imports again; moves a household out and back in; and reads each of
those in the audit log. A group leader sees only their group and cannot change it; another
community's admin cannot reach this one's households."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from groups.models import Household
from server.settings import Settings
from tests.browser.conftest import signed_in
from tests.harness import Seed, rows, running, seed

pytestmark = pytest.mark.browser

BAD = "address,name,phone,grid,roles\nB13-1-101,甲一,+8613800100001,,\nB13-1-102,乙二,138001,,\n"


@pytest.fixture
def two(sqlite_url: str) -> tuple[Settings, Seed, Seed]:
    first = asyncio.run(seed(sqlite_url))
    second = asyncio.run(seed(sqlite_url, community="另一个社区"))
    return Settings(database_url=sqlite_url), first, second


async def open_register(page: Page, base: str) -> None:
    await page.goto(base + "/register")
    agree = page.get_by_role("button", name="我已了解并同意")
    await agree.click()  # the first visit asks for consent
    await expect(page.locator("#consent")).to_be_hidden()
    await expect(page.locator("#households table")).to_be_visible()


async def test_the_admin_imports_fixes_a_bad_row_moves_a_household_out_and_in_and_sees_the_log(
    browser: Browser, two: tuple[Settings, Seed, Seed], tmp_path: Path
) -> None:
    settings, first, _ = two
    async with running(settings) as base:
        context = await signed_in(
            browser, base, first.staff["admin"], viewport={"width": 1440, "height": 900}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await open_register(page, base)
        assert await page.evaluate("document.fonts.check('20px \"Noto Sans CJK SC\"', '登记造册')")
        assert await page.title() == "十户联防 · 登记造册"

        # Import a file with a bad row: the row's error is shown, and nothing is written.
        await page.get_by_role("button", name="导入导出").click()
        bad = tmp_path / "bad.csv"
        bad.write_text(BAD, encoding="utf-8")
        await page.locator("#import-file").set_input_files(str(bad))
        await page.locator("#import").click()
        row = page.locator('#import-result li[data-row="3"]')
        await expect(row).to_contain_text("第 3 行")
        await expect(row).to_contain_text("start with +")
        fixed = tmp_path / "fixed.csv"
        fixed.write_text(BAD.replace(",138001,", ",+8613800100002,"), encoding="utf-8")
        await page.locator("#import-file").set_input_files(str(fixed))
        await page.locator("#import").click()
        await expect(page.locator("#import-result")).to_contain_text("已导入 2 户")

        # Move a household out, and back in.
        await page.get_by_role("button", name="住户").click()
        await page.locator("#search").fill("B13-1-101")
        await page.get_by_role("button", name="查找").click()
        await expect(page.locator("#households tbody tr")).to_have_count(1)
        await page.locator("#households tbody tr").get_by_role("button", name="查看").click()
        await expect(page.locator("#household-card")).to_contain_text("+8613800100001")
        await page.locator("#move-out").click()
        await expect(page.locator("#status")).to_have_text("已保存")
        await expect(page.locator("#households tbody tr")).to_have_count(0)
        await page.locator("#move-in-address").fill("B13-1-101")
        await page.locator("#move-in-name").fill("甲一")
        await page.locator("#move-in-phone").fill("+8613800100001")
        await page.locator("#move-in").click()
        await expect(page.locator("#households tbody tr")).to_have_count(1)
        await expect(page.locator("#households tbody tr")).to_contain_text("B13-1-101")

        # Each of those is in the audit log.
        await page.get_by_role("button", name="操作记录").click()
        log = page.locator("#audit tbody")
        for action in ("import", "move_out", "move_in", "consent", "viewed"):
            await expect(log.locator(f'tr[data-action="{action}"]').first).to_be_visible()
        await expect(log.locator('tr[data-action="import"]')).to_have_count(1)
        await expect(log.locator('tr[data-action="move_out"]')).to_contain_text("B13-1-101")

        # The switch shows every label in English, and keeps it.
        await page.locator("#lang").click()
        await expect(page.get_by_role("button", name="Audit log")).to_be_visible()
        await expect(page.locator("#lang")).to_have_text("中文")
        assert errors == []
        await context.close()


async def test_a_group_leader_sees_only_their_group_and_cannot_change_it(
    browser: Browser, two: tuple[Settings, Seed, Seed]
) -> None:
    settings, first, second = two
    leader_address = "B11-1-301"  # the demo's stairwell leader leads B11-1's group
    mine = set(first.group_of(leader_address))
    async with running(settings) as base:
        context = await signed_in(
            browser,
            base,
            first.households[leader_address],
            viewport={"width": 390, "height": 844},
            is_mobile=True,
        )
        page = await context.new_page()
        await open_register(page, base)
        await expect(page.locator("#nav button")).to_have_count(1)
        await expect(page.locator("#households tbody tr")).to_have_count(len(mine))
        shown = set(
            await page.locator("#households tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.address)"
            )
        )
        assert shown == mine
        await expect(page.locator("#move-in")).to_have_count(0)
        await page.locator("#households tbody tr").nth(1).get_by_role("button", name="查看").click()
        await expect(page.locator("#household-card")).to_contain_text("•")
        await expect(page.locator("#move-out")).to_have_count(0)
        size = await page.locator("#nav button").first.evaluate(
            "b => b.getBoundingClientRect().height"
        )
        assert size >= 48
        answer = await page.evaluate(
            """async () => {
                const token = document.cookie.match(/tw_csrf=([^;]+)/)[1];
                const r = await fetch('/api/register/households/1', {method: 'DELETE',
                    headers: {'X-CSRF-Token': token}, credentials: 'same-origin'});
                return r.status;
            }"""
        )
        assert answer == 403
        await context.close()

        stranger = await signed_in(browser, base, second.staff["admin"])
        page = await stranger.new_page()
        await open_register(page, base)
        status = await page.evaluate(
            "async (id) => (await fetch('/api/register/households/' + id)).status",
            await _first_household_id(settings.database_url, first),
        )
        assert status == 404
        await stranger.close()


async def _first_household_id(url: str, first: Seed) -> int:
    [(found,)] = await rows(
        url, select(Household.id).where(Household.community_id == first.community_id).limit(1)
    )
    return int(found)
