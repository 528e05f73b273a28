"""The resident app in a real browser on a phone's screen: a neighbour's alarm first with the
answers large, press and hold for help with the status, countdown and PIN pad in view, the
language switch, and the numbers to call when the service can't be reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import FileResponse
from playwright.async_api import Browser, BrowserContext, FloatRect, Page, expect

from server.settings import Settings
from server.web.routes.pages import STATIC
from server.web.security import PAGES_CSP
from tests.browser.conftest import signed_in
from tests.harness import Seed, bearer, running, seed
from tests.server.phone_support import GROUP_NUMBER, add_numbers

PHONES = [
    pytest.param({"width": 390, "height": 844}, id="390x844"),
    pytest.param({"width": 360, "height": 640}, id="360x640"),
]
RAISER = "B11-1-101"
PIN = "2468"


def neighbour_of(seeded: Seed, address: str) -> str:
    """Another household of address's group."""
    return next(a for a in seeded.group_of(address) if a != address)


async def set_pin(base: str, token: str) -> None:
    """The household's cancel PIN (and duress PIN), as the sign-in page sets them."""
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.put(
            "/api/household/pin", json={"pin": PIN, "duress_pin": "1357"}, headers=bearer(token)
        )
        assert answer.status_code == 204, answer.text


async def raise_alarm(base: str, token: str, kind: str) -> int:
    """A press of help over the API, as another household's phone does."""
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.post("/api/alerts", json={"type": kind}, headers=bearer(token))
        assert answer.status_code == 201, answer.text
        alert_id: int = answer.json()["alert"]["id"]
        return alert_id


async def alert_of(base: str, token: str, alert_id: int) -> dict[str, object]:
    """An alarm as the API shows it."""
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get(f"/api/alerts/{alert_id}", headers=bearer(token))
        found: dict[str, object] = answer.json()
        return found


STRICT_CSP = PAGES_CSP.replace(" 'unsafe-inline'", "")
VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.blockedURI));
"""


strict_pages = APIRouter()


@strict_pages.get("/app-strict", include_in_schema=False)
async def strict_app() -> FileResponse:
    """The resident's page under a content security policy with no inline script or style."""
    return FileResponse(STATIC / "app.html", headers={"Content-Security-Policy": STRICT_CSP})


@asynccontextmanager
async def app_page(
    browser: Browser, base: str, token: str, viewport: dict[str, int], *, strict: bool = False
) -> AsyncIterator[Page]:
    """The resident's page, signed in, on a touch phone's screen, its stream online (strict:
    under a policy of `script-src 'self'; style-src 'self'`, which it must not break)."""
    context: BrowserContext = await signed_in(
        browser, base, token, viewport=viewport, has_touch=True, is_mobile=True
    )
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if strict:
            await page.add_init_script(VIOLATIONS)
        await page.goto(f"{base}/app-strict" if strict else f"{base}/app")
        await expect(page.locator("#status.online")).to_be_visible()
        yield page
        assert errors == []
        if strict:
            assert await page.evaluate("window.violations") == []
    finally:
        await context.close()


async def hold(page: Page, selector: str, seconds: float = 1.3) -> None:
    """Press and hold with a finger (touch events through the DevTools protocol)."""
    box = await page.locator(selector).bounding_box()
    assert box is not None
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    await asyncio.sleep(seconds)
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def inside(box: FloatRect | None, viewport: dict[str, int]) -> bool:
    """Whether a bounding box is wholly on the screen, unscrolled."""
    assert box is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


@pytest.mark.parametrize("viewport", PHONES)
async def test_press_and_hold_raises_the_alarm_and_the_pin_pad_cancels_it_in_view(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    token = seeded.households[RAISER]
    settings = Settings(database_url=sqlite_url)
    async with running(settings) as base, app_page(browser, base, token, viewport) as page:
        await set_pin(base, token)
        await page.get_by_role("radio", name="急病").click()
        await hold(page, "#hold", seconds=0.3)  # too short: nothing is raised
        await page.wait_for_timeout(1200)
        assert await page.locator("#mine").is_hidden()
        await hold(page, "#hold")
        mine = page.locator("#mine")
        await expect(mine).to_be_visible()
        await expect(page.locator("#mine-status")).to_contain_text("已通知 ")
        await expect(page.locator("#mine-status")).to_contain_text("户")
        await expect(page.locator("#mine-countdown")).to_contain_text("秒内输入密码撤销")
        for part in ("#mine-status", "#mine-countdown", "#pin-shown", "#pin-ok"):
            assert inside(await page.locator(part).bounding_box(), viewport), part
        keys = await page.locator("#pad button").all()
        for key in keys:
            box = await key.bounding_box()
            assert box is not None
            assert min(box["height"], box["width"]) >= 48
        scrolls = await page.evaluate("document.scrollingElement.scrollHeight > innerHeight")
        assert scrolls is False
        for digit in PIN:
            await page.locator(f"#pad [data-digit='{digit}']").tap()
        await expect(page.locator("#pin-shown")).to_have_text("••••")
        await page.locator("#pin-ok").tap()
        await expect(page.get_by_role("alert")).to_contain_text("求助已撤销")
        await expect(mine).to_be_hidden()
        async with httpx.AsyncClient(base_url=base) as client:
            closed = await client.get("/api/alerts?closed=true", headers=bearer(token))
        assert [a["status"] for a in closed.json()] == ["cancelled"]
        assert [a["type"] for a in closed.json()] == ["medical"]


@pytest.mark.parametrize("viewport", PHONES)
async def test_a_neighbours_alarm_arrives_first_with_the_answers_and_answering_reaches_the_raiser(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    neighbour = neighbour_of(seeded, RAISER)
    settings = Settings(database_url=sqlite_url)
    async with (
        running(settings) as base,
        app_page(browser, base, seeded.households[neighbour], viewport) as page,
        app_page(browser, base, seeded.households[RAISER], viewport) as raiser,
    ):
        await hold(raiser, "#hold")
        await expect(raiser.locator("#mine-status")).to_contain_text("等待邻居回应")
        alarm = page.locator("#alarm")
        await expect(alarm).to_be_visible()
        await expect(page.locator("#alarm-title")).to_contain_text(f"{RAISER} ")
        await expect(page.locator("#alarm-title")).to_contain_text("· 求助")
        await expect(page.locator("#alarm-ago")).to_have_text("刚刚")
        assert await page.evaluate("document.body.dataset.ringing") == "sound"
        coming = page.get_by_role("button", name="我来了")
        help_button = page.locator("#hold")
        answers = await page.locator("#alarm .answers").bounding_box()
        helps = await help_button.bounding_box()
        assert answers is not None
        assert helps is not None
        assert answers["width"] * answers["height"] > 2 * helps["width"] * helps["height"]
        assert helps["y"] > answers["y"] + answers["height"], "the help button is below"
        for name in ("我来了", "去不了", "已报警 110"):
            box = await page.get_by_role("button", name=name).bounding_box()
            assert box is not None
            assert inside(box, viewport)
            assert box["height"] >= 48
        await coming.tap()
        await expect(coming).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#alarm-mine")).to_contain_text("您已回应：我来了")
        assert await page.evaluate("document.body.dataset.ringing") is None
        await expect(raiser.locator("#mine-status")).to_contain_text("1 人正在赶来")
        listed = await page.evaluate("fetch('/api/alerts').then(r => r.json())")
        alert_id = int(listed[0]["id"])
        found = await alert_of(base, seeded.households[neighbour], alert_id)
        assert found["coming"] == 1
        # the page told the board it showed the alarm: "seen" on the neighbour's row
        async with httpx.AsyncClient(base_url=base) as client:
            table = await client.get(
                f"/api/alerts/{alert_id}/recipients", headers=bearer(seeded.staff["patrol_leader"])
            )
        (row,) = [r for r in table.json()["recipients"] if r["household"] == neighbour]
        assert set(row["seen"]) == {"app"}
        assert row["answer"] == "coming"


async def test_an_intruder_alarm_only_vibrates_and_asks_neighbours_to_go_quietly(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    neighbour = neighbour_of(seeded, RAISER)
    settings = Settings(database_url=sqlite_url)
    viewport = {"width": 360, "height": 640}
    async with (
        running(settings) as base,
        app_page(browser, base, seeded.households[neighbour], viewport) as page,
    ):
        await raise_alarm(base, seeded.households[RAISER], "intrusion")
        await expect(page.locator("#alarm-quiet")).to_have_text("请悄悄前往，勿打电话")
        await expect(page.locator("#alarm-title")).to_contain_text("· 入室")
        assert await page.evaluate("document.body.dataset.ringing") == "vibrate"


async def test_the_language_switch_turns_the_app_to_english_and_keeps_it_under_a_strict_csp(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    token = seeded.households[RAISER]
    settings = Settings(database_url=sqlite_url)
    viewport = {"width": 390, "height": 844}
    async with (
        running(settings, router=strict_pages) as base,
        app_page(browser, base, token, viewport, strict=True) as page,
    ):
        assert (
            await page.evaluate("document.querySelectorAll('script:not([src]), [style]').length")
            == 0
        )
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("#hold")).to_have_text("Hold for help")
        await expect(page.get_by_role("radio", name="Medical")).to_be_visible()
        language = await page.evaluate("fetch('/api/me/language').then(r => r.json())")
        assert language["language"] == "en"
        await page.reload()
        await expect(page.locator("#hold")).to_have_text("Hold for help")


async def test_without_the_service_the_help_button_offers_the_groups_number_and_the_right_one(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    await add_numbers(sqlite_url, seeded)
    token = seeded.households[RAISER]
    settings = Settings(database_url=sqlite_url)
    viewport = {"width": 360, "height": 640}
    async with running(settings) as base, app_page(browser, base, token, viewport) as page:
        numbers = await page.evaluate("fetch('/api/me/numbers').then(r => r.json())")
        assert numbers == {
            "group_number": GROUP_NUMBER,
            "emergency": {"police": "110", "fire": "119", "medical": "120"},
        }
        await page.evaluate("navigator.serviceWorker.ready")
        await page.context.set_offline(True)
        fallback = page.locator("#fallback")
        await expect(fallback).to_be_visible()
        call = page.get_by_role("link", name="拨打本组报警电话")
        assert await call.get_attribute("href") == f"tel:{GROUP_NUMBER}"
        text = page.get_by_role("link", name="发短信")
        sms = f"sms:{GROUP_NUMBER}?body=%E6%95%91%E5%91%BD%20{RAISER}"  # 救命 B11-1-101
        assert await text.get_attribute("href") == sms
        await page.get_by_role("radio", name="急病").click()
        emergency = page.locator("#emergency a")
        await expect(emergency).to_have_count(1)
        assert await emergency.get_attribute("href") == "tel:120"
        await page.get_by_role("radio", name="入室").click()
        assert await emergency.get_attribute("href") == "tel:110"
        await page.get_by_role("radio", name="求助").click()
        await expect(emergency).to_have_count(2)
        # A press that cannot reach the service says so and leaves the numbers in view.
        await hold(page, "#hold")
        await expect(page.get_by_role("alert")).not_to_be_empty()
        assert inside(await call.bounding_box(), viewport)
        # The page itself opens without the service, from the service worker's copy.
        await page.reload()
        await expect(page.get_by_role("link", name="拨打本组报警电话")).to_be_visible()
        assert await page.get_by_role("link", name="发短信").get_attribute("href") == sms
