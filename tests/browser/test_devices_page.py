"""My devices in a real browser: a resident signs a lost phone out, and it is out at once."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from server.settings import Settings
from tests.browser.chromium import chromium
from tests.harness import running, seed
from tests.server.signin_support import IPHONE, Browser, printed_code

RESIDENT = "+8613800000001"


async def sign_in_on_page(page: Page, base: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Sign in as RESIDENT on the sign-in page, set the PINs and consent, as a person does."""
    await page.goto(f"{base}/signin?next=/devices")
    await page.get_by_label("手机号").fill(RESIDENT)
    await page.get_by_role("button", name="发送验证码").click()
    await page.get_by_label("短信验证码（6 位数字）").wait_for()
    await page.get_by_label("短信验证码（6 位数字）").fill(printed_code(capsys, RESIDENT))
    await page.get_by_role("button", name="登录", exact=True).click()
    await page.get_by_label("撤销密码").fill("2468")
    await page.get_by_label("胁迫密码").fill("1357")
    await page.get_by_role("button", name="保存").click()
    await page.get_by_role("button", name="我已了解并同意").click()
    await page.wait_for_url(f"{base}/devices")


async def test_a_resident_signs_a_lost_phone_out_from_my_devices(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url)
    async with (
        running(settings) as base,
        chromium() as browser,
        Browser(base, user_agent=IPHONE) as lost,
    ):
        await lost.sign_in(RESIDENT, capsys)
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await sign_in_on_page(page, base, capsys)
        phone = page.locator("li.device").filter(has_text="iPhone · Safari")
        await phone.wait_for()
        here = page.locator("li.device").filter(has_text="本设备")
        assert await here.count() == 1
        await phone.get_by_role("button", name="让它退出").click()
        await phone.wait_for(state="detached")
        assert (await lost.get("/api/me")).status_code == 401
        assert await here.count() == 1
