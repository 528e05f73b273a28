"""The sign-in page in a real browser: phone, the texted code, the first-time PIN, then the
resident's page signed in by the cookie alone."""

from __future__ import annotations

import pytest

from server.settings import Settings
from tests.browser.chromium import chromium
from tests.harness import running, seed
from tests.server.signin_support import printed_code

RESIDENT = "+8613800000001"


async def test_a_resident_signs_in_sets_the_pin_and_lands_on_their_page(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url, ws_heartbeat_seconds=5)
    async with running(settings) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await page.goto(f"{base}/signin")
        await page.get_by_label("手机号").fill("138 0000 0001")  # typed as people do: no +86
        await page.get_by_role("button", name="发送验证码").click()
        await page.get_by_label("短信验证码（6 位数字）").wait_for()
        await page.get_by_label("短信验证码（6 位数字）").fill(printed_code(capsys, RESIDENT))
        await page.get_by_role("button", name="登录", exact=True).click()
        await page.get_by_label("撤销密码").fill("2468")
        await page.get_by_label("胁迫密码").fill("1357")
        await page.get_by_role("button", name="保存").click()
        notice = page.get_by_role("dialog")
        await notice.wait_for()
        assert "我们保存您的哪些信息" in await notice.inner_text()
        await page.get_by_role("button", name="我已了解并同意").click()
        await page.wait_for_url(f"{base}/app")
        consent = await page.evaluate("fetch('/api/me/consent').then(r => r.json())")
        assert consent["consented_at"] is not None
        status = await page.evaluate("fetch('/api/me').then(r => r.json())")
        assert status["household"] == "B11-1-101"
        cookies = {c["name"]: c for c in await page.context.cookies()}
        assert cookies["tw_session"]["httpOnly"] is True
        assert await page.evaluate("document.cookie.includes('tw_session')") is False


async def test_a_wrong_code_says_so_on_the_page_in_english_when_asked(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url)
    async with running(settings) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/signin")
        await page.get_by_role("button", name="English").click()
        await page.get_by_label("Mobile number").fill(RESIDENT)
        await page.get_by_role("button", name="Text me a code").click()
        await page.get_by_label("Code from the text (6 digits)").wait_for()
        good = printed_code(capsys, RESIDENT)
        await page.get_by_label("Code from the text (6 digits)").fill(
            f"{(int(good) + 1) % 1_000_000:06d}"
        )
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.get_by_role("alert").filter(has_text="not right").wait_for()
