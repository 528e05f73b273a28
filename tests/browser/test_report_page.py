"""The monthly meeting in a browser: the admin opens /report for a month, sees the total and
the charts, switches to a grid and to English, and downloads the PDF and the CSV; a grid
manager sees only their grid."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from playwright.async_api import Browser, expect

from server.settings import Settings
from tests.browser.conftest import signed_in
from tests.harness import Seed, running, seed
from tests.server.report_month import seed_month

pytestmark = pytest.mark.browser


@pytest.fixture
def month(sqlite_url: str) -> tuple[Settings, Seed]:
    seeded = asyncio.run(seed(sqlite_url))
    asyncio.run(seed_month(sqlite_url, seeded.community_id))
    return Settings(database_url=sqlite_url), seeded


async def test_the_admin_reads_the_month_with_its_charts_and_downloads_the_pdf_and_csv(
    browser: Browser, month: tuple[Settings, Seed]
) -> None:
    settings, seeded = month
    async with running(settings) as base:
        context = await signed_in(
            browser,
            base,
            seeded.staff["admin"],
            viewport={"width": 1440, "height": 900},
            accept_downloads=True,
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/report?month=2026-11")
        await expect(page.locator("body[data-ready='true']")).to_be_attached(timeout=30_000)
        await expect(page.locator("#total .n")).to_have_text("10")
        await expect(page.locator("#drills .n")).to_have_text("2")
        await expect(page.locator("#title")).to_have_text("每月治安形势分析")
        await expect(page.locator("#subtitle")).to_contain_text("2026年11月")
        images = page.locator(".charts img")
        await expect(images).to_have_count(6)
        for n in range(6):  # every chart drawn (an SVG the browser could decode)
            await expect(images.nth(n)).to_have_js_property("complete", True, timeout=60_000)
            width = await images.nth(n).evaluate("img => img.naturalWidth")
            assert width > 100, n
        await expect(page.locator("#response")).to_contain_text("1 分 10 秒")  # median take
        assert await page.locator("#unreachable").inner_text() != ""

        async with page.expect_download(timeout=60_000) as pdf_download:
            await page.locator("#pdf").click()
        pdf = await (await pdf_download.value).path()
        assert pdf is not None
        assert pdf.read_bytes().startswith(b"%PDF")
        async with page.expect_download(timeout=60_000) as csv_download:
            await page.locator("#csv").click()
        csv_path = await (await csv_download.value).path()
        assert csv_path is not None
        rows = list(csv.reader(io.StringIO(csv_path.read_bytes().decode("utf-8-sig"))))
        assert ["总体情况", "警情总数", "10", "2"] in rows

        # One grid, then the other language: the labels and the figures follow.
        await page.locator("#grid").select_option(label="网格2")
        await expect(page.locator("#subtitle")).to_contain_text("网格2", timeout=30_000)
        await expect(page.locator("#total .n")).to_have_text("5")
        await page.locator("#lang").click()
        await expect(page.locator("#title")).to_have_text("Monthly safety report", timeout=30_000)
        await expect(page.locator("#subtitle")).to_contain_text("November 2026")
        await expect(page.locator("#total .n")).to_have_text("5")

        # Printed: A4, no header or controls, the charts still there.
        await page.emulate_media(media="print")
        await expect(page.locator("#controls")).to_be_hidden()
        await expect(page.locator("header.top")).to_be_hidden()
        await expect(page.locator(".charts img").first).to_be_visible()
        assert errors == []
        await context.close()


async def test_a_grid_manager_sees_only_their_grid(
    browser: Browser, month: tuple[Settings, Seed]
) -> None:
    settings, seeded = month
    async with running(settings) as base:
        context = await signed_in(
            browser, base, seeded.staff["grid_manager"], viewport={"width": 390, "height": 844}
        )
        page = await context.new_page()
        await page.goto(base + "/report?month=2026-11")
        await expect(page.locator("body[data-ready='true']")).to_be_attached(timeout=30_000)
        await expect(page.locator("#total .n")).to_have_text("5")
        await expect(page.locator("#grid option")).to_have_count(1)
        await expect(page.locator("#grid")).to_be_disabled()
        await context.close()
