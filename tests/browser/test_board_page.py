"""The staff's board in a real browser, on a desk's screen (1440×900) and a patrol member's
phone (390×844): a busy shift of thirty open alarms, each reachable and shown; sorting and
filtering; a note, a reassignment and the countdown to the next escalation; a grid manager's
grid alone; the police office's escalations first; the stream keeping it live."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import pytest
from fastapi import APIRouter
from fastapi.responses import FileResponse
from playwright.async_api import Browser, Page, expect
from sqlalchemy import func, select

from server.alarms.models import AlertDeadline
from server.settings import Settings
from server.web.routes.pages import STATIC
from server.web.security import PAGES_CSP
from tests.actors import Person, resident
from tests.browser.conftest import signed_in
from tests.harness import Seed, rows, running, seed
from tests.server.board_support import SECOND_MEMBER, add_patrol_member

DESK = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENS = [pytest.param(DESK, id="1440x900"), pytest.param(PHONE, id="390x844")]
TYPES = ["help", "medical", "fire", "intrusion", "dispute", "other"]

STRICT_CSP = PAGES_CSP.replace(" 'unsafe-inline'", "")
VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.blockedURI));
"""
strict_pages = APIRouter()


@strict_pages.get("/board-strict", include_in_schema=False)
async def strict_board() -> FileResponse:
    """The board under a policy with no inline script or style, which it must not need."""
    return FileResponse(STATIC / "board.html", headers={"Content-Security-Policy": STRICT_CSP})


def is_phone(viewport: dict[str, int]) -> bool:
    return viewport["width"] < 700


async def consent(base: str, token: str) -> None:
    """The staff member read the notice already (its own test is the sign-in page's)."""
    answer = await Person(base, token).call("POST", "/api/me/consent")
    assert answer.status_code in (200, 201), answer.text


@asynccontextmanager
async def board(
    browser: Browser, base: str, token: str, viewport: dict[str, int], path: str = "/board-strict"
) -> AsyncIterator[Page]:
    """The board, signed in, its list loaded and its stream online; no page error and no
    policy violation by the end."""
    await consent(base, token)
    context = await signed_in(browser, base, token, viewport=viewport)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.add_init_script(VIOLATIONS)
        await page.goto(base + path)
        await expect(page.locator("body[data-ready='1']")).to_be_attached()
        await expect(page.locator("#live[data-state='online']")).to_be_attached()
        yield page
        assert errors == []
        assert await page.evaluate("window.violations") == []
    finally:
        await context.close()


async def raise_many(base: str, seeded: Seed, count: int) -> dict[int, tuple[str, str]]:
    """count open alarms of as many households, of every type: id → (address, type)."""
    made: dict[int, tuple[str, str]] = {}
    for n, address in enumerate(sorted(seeded.households)[:count]):
        kind = TYPES[n % len(TYPES)]
        made[await resident(base, seeded, address).raise_alarm(kind)] = (address, kind)
    return made


async def shown_ids(page: Page) -> list[int]:
    return [
        int(i)
        for i in await page.locator("#list li.item").evaluate_all(
            "items => items.map((i) => i.dataset.id)"
        )
    ]


async def pick(page: Page, alert_id: int, viewport: dict[str, int]) -> None:
    """Select an alarm in the list; on a phone the detail is then the whole screen."""
    await page.locator(f"#list li[data-id='{alert_id}'] button.row").click()
    await expect(page.locator("body")).to_have_attribute("data-selected", str(alert_id))
    await expect(page.locator("body")).to_have_attribute("data-shown", str(alert_id))
    if is_phone(viewport):
        await expect(page.locator("#pane-list")).to_be_hidden()
        await expect(page.locator("#back")).to_be_visible()


@pytest.mark.parametrize("viewport", SCREENS)
async def test_a_busy_shift_of_thirty_alarms_keeps_every_one_reachable_and_shown(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        made = await raise_many(base, seeded, 30)
        async with board(browser, base, seeded.staff["patrol_leader"], viewport) as page:
            await expect(page.locator("#list li.item")).to_have_count(30)
            assert set(await shown_ids(page)) == set(made)
            if not is_phone(viewport):  # dense: many rows on one screen, none a tall card
                # measured in one go: a live event may redraw the list between two looks
                first, tenth = await page.evaluate(
                    """() => [0, 9].map((n) => {
                      const item = document.querySelectorAll("#list li.item")[n];
                      const r = item.getBoundingClientRect();
                      return {height: r.height, bottom: r.bottom};
                    })"""
                )
                assert first["height"] < 64
                assert tenth["bottom"] <= viewport["height"]
            for alert_id, (address, _kind) in made.items():
                await pick(page, alert_id, viewport)
                await expect(page.locator("#detail-title")).to_contain_text(address)
                await expect(page.locator("#timeline li").first).to_be_visible()
                if is_phone(viewport):
                    await page.locator("#back").click()
                    await expect(page.locator("#pane-list")).to_be_visible()
            # a confirmed pair: the confirming alarm right under the first
            second = next(i for i, (a, _) in made.items() if a == sorted(seeded.households)[1])
            order = await shown_ids(page)
            child = page.locator(f"#list li[data-id='{second}']")
            await expect(child).to_have_class(re.compile(r"\bchild\b"))
            first_of_pair = next(
                i for i, (a, _) in made.items() if a == sorted(seeded.households)[0]
            )
            assert order.index(second) == order.index(first_of_pair) + 1


async def test_the_list_sorts_and_filters_by_type_state_grid_and_text(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        made = await raise_many(base, seeded, 12)
        leader = Person(base, seeded.staff["patrol_leader"])
        taken = next(iter(made))
        assert (await leader.take(taken)).status_code == 200
        async with board(browser, base, seeded.staff["patrol_leader"], DESK) as page:
            await expect(page.locator("#list li.item")).to_have_count(12)
            await page.select_option("#f-sort", "address")
            await expect(page.locator("body")).to_have_attribute("data-sort", "address")
            addresses = await page.locator("#list li.item .c-address b").all_inner_texts()
            tops = [
                made[i][0]
                for i in await shown_ids(page)
                if not await page.locator(f"#list li[data-id='{i}'].child").count()
            ]
            assert tops == sorted(tops)
            assert len(addresses) == 12
            await page.select_option("#f-sort", "oldest")
            assert (await shown_ids(page))[0] == min(made)

            await page.select_option("#f-type", "medical")
            medical = {i for i, (_, k) in made.items() if k == "medical"}
            await expect(page.locator("#list li.item")).to_have_count(len(medical))
            assert set(await shown_ids(page)) == medical
            await page.select_option("#f-type", "")

            await page.select_option("#f-state", "acknowledged")
            await expect(page.locator("#list li.item")).to_have_count(1)
            assert await shown_ids(page) == [taken]
            await page.select_option("#f-state", "")

            grids = await page.locator("#f-grid option").all_inner_texts()
            assert "网格1" in grids
            await page.select_option("#f-grid", label="网格1")
            b11 = {i for i, (a, _) in made.items() if a.startswith("B11-")}
            await expect(page.locator("#list li.item")).to_have_count(len(b11))
            await page.select_option("#f-grid", "")

            address = made[max(made)][0]
            await page.fill("#f-q", address)
            await expect(page.locator("#list li.item")).to_have_count(1)
            assert await shown_ids(page) == [max(made)]


@pytest.mark.parametrize("viewport", SCREENS)
async def test_a_note_shows_in_the_timeline_with_its_text_and_its_authors_name(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm("medical")
        async with board(browser, base, seeded.staff["patrol_leader"], viewport) as page:
            await pick(page, alarm, viewport)
            await page.fill("#note-text", "老人摔倒，已叫 120")
            await page.locator("#act-note").click()
            note = page.locator("#timeline li[data-type='alert.note']")
            await expect(note).to_contain_text("老人摔倒，已叫 120")
            await expect(note).to_contain_text("巡逻队长 刘强")
            await expect(note).to_contain_text("巡逻队长")
            raised = page.locator("#timeline li[data-type='alert.raised']")
            await expect(raised).to_contain_text("B11-1-101")
            await expect(raised).not_to_contain_text("resident:")


@pytest.mark.parametrize("viewport", SCREENS)
async def test_reassign_moves_the_alarm_to_the_other_patrol_member(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    member_id, _ = await add_patrol_member(sqlite_url, seeded.community_id)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm()
        leader = Person(base, seeded.staff["patrol_leader"])
        async with board(browser, base, seeded.staff["patrol_leader"], viewport) as page:
            await pick(page, alarm, viewport)
            await page.locator("#act-take").click()
            await expect(page.locator("#detail .facts")).to_contain_text("巡逻队长 刘强")
            await page.select_option("#reassign-to", str(member_id))
            await page.locator("#act-reassign").click()
            await expect(page.locator("#detail .facts")).to_contain_text(SECOND_MEMBER)
            reassigned = page.locator("#timeline li[data-type='alert.acknowledged']").last
            await expect(reassigned).to_contain_text(SECOND_MEMBER)
            if is_phone(viewport):
                await page.locator("#back").click()
            await expect(page.locator(f"#list li[data-id='{alarm}'] .c-taken")).to_have_text(
                SECOND_MEMBER
            )
        assert (await leader.look_at(alarm))["taken_by"] == SECOND_MEMBER


async def test_the_countdown_shows_the_stored_next_escalation_time(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm()
        stored = (
            await rows(
                sqlite_url,
                select(func.min(AlertDeadline.due_at)).where(
                    AlertDeadline.alert_id == alarm, AlertDeadline.done_at.is_(None)
                ),
            )
        )[0][0]
        async with board(browser, base, seeded.staff["patrol_leader"], DESK) as page:
            due = page.locator(f"#list li[data-id='{alarm}'] .c-due")
            shown = datetime.fromisoformat(
                (await due.get_attribute("data-due") or "").replace("Z", "+00:00")
            )
            assert shown.replace(tzinfo=None) == stored.replace(tzinfo=None)
            await expect(due).to_have_text(re.compile(r"^\d+:\d\d$"))
            first = await due.inner_text()
            await expect(due).not_to_have_text(first, timeout=5000)  # it counts down, live
            await pick(page, alarm, DESK)
            local = await page.evaluate(
                "(iso) => new Date(iso).toLocaleTimeString('zh-CN', {hour12: false})",
                stored.isoformat() + ("" if stored.tzinfo else "Z"),
            )
            await expect(page.locator("#detail-due-at")).to_contain_text(local)


async def test_a_grid_manager_sees_only_their_grid(sqlite_url: str, browser: Browser) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        made = await raise_many(base, seeded, 40)
        theirs = {i for i, (a, _) in made.items() if a.startswith("B11-")}
        async with board(browser, base, seeded.staff["grid_manager"], DESK) as page:
            await expect(page.locator("#list li.item")).to_have_count(len(theirs))
            assert set(await shown_ids(page)) == theirs
            await expect(page.locator("#who")).to_contain_text("仅本网格")


async def test_the_police_office_sees_its_escalations_first(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        made = await raise_many(base, seeded, 6)
        escalated = min(made)  # the oldest: last by age
        leader = Person(base, seeded.staff["patrol_leader"])
        assert (await leader.escalate(escalated)).status_code == 200
        async with board(browser, base, seeded.staff["police_office"], DESK) as page:
            await expect(page.locator("body")).to_have_attribute("data-sort", "police")
            assert (await shown_ids(page))[0] == escalated
            await expect(
                page.locator(f"#list li[data-id='{escalated}'] .badge.police")
            ).to_be_visible()


@pytest.mark.parametrize("viewport", SCREENS)
async def test_the_board_follows_the_stream_without_a_reload(
    sqlite_url: str, browser: Browser, viewport: dict[str, int]
) -> None:
    seeded = await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url, ws_heartbeat_seconds=5)
    async with running(settings, router=strict_pages) as base:
        first = await resident(base, seeded, "B11-1-101").raise_alarm()
        async with board(browser, base, seeded.staff["patrol_leader"], viewport) as page:
            await expect(page.locator("#list li.item")).to_have_count(1)
            await page.evaluate("window.marker = 1")
            later = await resident(base, seeded, "B12-1-101").raise_alarm("fire")
            await expect(page.locator(f"#list li[data-id='{later}']")).to_be_visible()
            await pick(page, first, viewport)
            await page.fill("#note-text", "正在上楼")  # being typed when the alarm changes
            member = Person(base, seeded.staff["patrol_member"])
            assert (await member.take(first)).status_code == 200
            await expect(page.locator("#detail .facts")).to_contain_text("巡逻队员 陈军")
            await expect(page.locator("#note-text")).to_have_value("正在上楼")
            assert (await member.resolve(first, "handled")).status_code == 200
            await expect(page.locator("#detail .state")).to_have_text("已处置")
            if is_phone(viewport):
                await page.locator("#back").click()
            await expect(page.locator(f"#list li[data-id='{first}']")).to_have_count(0)
            assert await page.evaluate("window.marker") == 1  # never reloaded


async def test_history_searches_the_closed_alarms_and_the_caller_is_a_tel_link(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        leader = Person(base, seeded.staff["patrol_leader"])
        medical = await resident(base, seeded, "B11-1-101").raise_alarm("medical")
        fire = await resident(base, seeded, "B12-1-101").raise_alarm("fire")
        for alarm in (medical, fire):
            assert (await leader.resolve(alarm, "handled")).status_code == 200
        open_one = await resident(base, seeded, "B11-2-101").raise_alarm()
        async with board(browser, base, seeded.staff["patrol_leader"], DESK) as page:
            await pick(page, open_one, DESK)
            call_back = page.locator("#calls a.tel")
            await expect(call_back).to_have_attribute("href", re.compile(r"^tel:\+86138"))
            await page.locator("#tab-history").click()
            await expect(page.locator("#list li.item")).to_have_count(2)
            await page.select_option("#f-type", "fire")
            await page.locator("#f-go").click()
            await expect(page.locator("#list li.item")).to_have_count(1)
            assert await shown_ids(page) == [fire]
            await pick(page, fire, DESK)
            await expect(page.locator("#detail .state")).to_have_text("已处置")


async def test_the_wall_screen_has_larger_type_and_chinese_fonts_first(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    async with (
        running(Settings(database_url=sqlite_url), router=strict_pages) as base,
        board(
            browser,
            base,
            seeded.staff["patrol_leader"],
            {"width": 1920, "height": 1080},
            path="/board-strict?kiosk=1",
        ) as page,
    ):
        size = await page.evaluate("getComputedStyle(document.body).fontSize")
        assert float(size.removesuffix("px")) >= 24
        family = await page.evaluate("getComputedStyle(document.body).fontFamily")
        assert family.startswith('"Noto Sans CJK SC"')


async def test_the_admin_starts_a_drill_from_the_board(sqlite_url: str, browser: Browser) -> None:
    seeded = await seed(sqlite_url)
    async with running(Settings(database_url=sqlite_url), router=strict_pages) as base:
        async with board(browser, base, seeded.staff["admin"], DESK) as page:
            await page.locator("#drill-open").click()
            await page.fill("#drill-household", "B11-1-301")
            await page.fill("#drill-label", "十一月消防演练")
            await page.locator("#drill-start").click()
            await expect(page.locator("#status")).to_have_text("演练已开始")
            row = page.locator("#list li.item")
            await expect(row).to_have_count(1)
            await expect(row.locator(".badge.drill")).to_be_visible()
            await expect(row).to_contain_text("B11-1-301")
        async with board(browser, base, seeded.staff["patrol_leader"], DESK) as page:
            await expect(page.locator("#drill-open")).to_be_hidden()


async def test_an_alarm_nobody_takes_chimes_again_until_it_is_taken(
    sqlite_url: str, browser: Browser
) -> None:
    seeded = await seed(sqlite_url)
    settings = Settings(database_url=sqlite_url)
    async with (
        running(settings, router=strict_pages) as base,
        board(browser, base, seeded.staff["patrol_leader"], DESK) as page,
    ):
        await page.locator("#list").click()  # a click lets the page make a sound
        admin = Person(base, seeded.staff["admin"])
        started = await admin.start_drill("演练", household="B11-1-301")
        assert started.status_code == 201, started.text
        drill = started.json()["alert"]["id"]
        await expect(page.locator(f"#list li[data-id='{drill}']")).to_be_visible()
        await expect(page.locator("body")).to_have_attribute("data-untaken", "0")
        alarm = await resident(base, seeded, "B11-1-101").raise_alarm("fire")
        await expect(page.locator("body")).to_have_attribute("data-untaken", "1")
        await expect(page).to_have_title(re.compile(r"^\(1\) "))
        # the arrival's beep, then at least one more while nobody has taken it
        await expect(page.locator("body")).to_have_attribute(
            "data-chimes", re.compile(r"^([2-9]|\d\d+)$"), timeout=15_000
        )
        member = Person(base, seeded.staff["patrol_member"])
        assert (await member.take(alarm)).status_code == 200
        await expect(page.locator("body")).to_have_attribute("data-untaken", "0")
        await expect(page).not_to_have_title(re.compile(r"^\("))
