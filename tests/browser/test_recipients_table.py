"""The recipient table (js/recipients.js) in a real browser, on a page this test serves: a
failed text shows red with its reason, and the board's live events move the others to
delivered, show a device's "seen", and give the log two lines, not one a receipt."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from playwright.async_api import Browser

from notifier.models import FAILED, SENT
from tests.actors import Person, resident
from tests.browser.conftest import signed_in
from tests.fake_twilio import FakeTwilio
from tests.harness import poll_until, running, seed
from tests.server.phone_support import PUBLIC, outbox_of, phone_settings

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>recipients</title></head>
<body><section id="recipients"></section>
<script type="module" src="/test/recipients-mount.js"></script></body></html>"""

# How a page mounts the table: the stream's events go to it, and the log takes deliveryLines.
MOUNT = """
import { renderRecipients, deliveryLines } from "/static/js/recipients.js";
import { Stream } from "/static/js/stream.js";
import { load } from "/static/js/words.js";

window.logLines = [];
const listeners = new Set();
const stream = new Stream({
  key: "recipients-test",
  onEvent: (event) => {
    for (const listener of listeners) listener(event);
    window.logLines.push(...deliveryLines(event));
  },
  onStatus: ({ state }) => { document.body.dataset.stream = state; },
});
await load();
stream.start();
const alertId = Number(new URLSearchParams(location.search).get("alert"));
await renderRecipients(document.getElementById("recipients"), alertId, {
  subscribe: (listener) => { listeners.add(listener); return () => listeners.delete(listener); },
});
document.body.dataset.ready = "1";
"""


def _test_page() -> APIRouter:
    router = APIRouter()

    @router.get("/test/recipients", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @router.get("/test/recipients-mount.js", include_in_schema=False)
    async def mount() -> Response:
        return Response(MOUNT, media_type="text/javascript")

    return router


async def test_a_failed_text_shows_red_with_its_reason_and_the_others_turn_delivered_live(
    browser: Browser, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(sqlite_url)
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    async with running(phone_settings(sqlite_url, fake_twilio), router=_test_page()) as base:
        fake_twilio.route(public=PUBLIC, app=base)
        alert_id = await resident(base, seeded, "B11-1-301").raise_alarm()

        async def all_sent() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(job.status in (SENT, FAILED) for job in jobs)

        await poll_until(all_sent)
        jobs = await outbox_of(sqlite_url)
        (failed,) = [job for job in jobs if job.status == FAILED]
        taken = [job for job in jobs if job.status == SENT]

        context = await signed_in(browser, base, seeded.staff["patrol_leader"])
        page = await context.new_page()
        await page.set_viewport_size({"width": 1440, "height": 900})
        await page.goto(f"{base}/test/recipients?alert={alert_id}")
        await page.locator("body[data-ready='1'][data-stream='online']").wait_for()

        red = page.locator(f".tw-chip[data-job='{failed.id}']")
        assert await red.get_attribute("data-state") == "failed"
        assert "tw-failed" in (await red.get_attribute("class") or "")
        text = await red.inner_text()
        assert "短信 失败" in text
        assert "21211 号码无效" in text
        background = await red.evaluate("el => getComputedStyle(el).backgroundColor")
        assert background == "rgb(200, 16, 46)"
        rows = page.locator("table.tw-recipients tbody tr")
        assert await rows.count() == 9
        assert await page.locator(".tw-chip[data-state='queued']").count() == 8

        post = asyncio.to_thread
        for job in taken:
            assert job.provider_sid is not None
            await post(fake_twilio.post_status, job.provider_sid, "sent")
            await post(fake_twilio.post_status, job.provider_sid, "delivered")
        await page.locator(".tw-chip[data-state='delivered']").nth(7).wait_for()
        chip = page.locator(f".tw-chip[data-job='{taken[0].id}']")
        assert (await chip.inner_text()).strip() == "短信 已送达"
        assert await page.locator(".tw-chip.tw-failed").count() == 1

        looker = Person(base, seeded.households["B11-1-302"])
        seen = await looker.call("POST", f"/api/alerts/{alert_id}/seen", json={"via": "app"})
        assert seen.status_code == 201
        row = page.locator("tr[data-key^='household:']").filter(has_text="B11-1-302")
        await row.locator(".tw-chip[data-seen='app']").wait_for()
        assert await row.get_attribute("data-state") == "seen"
        assert (await row.locator(".tw-state").inner_text()).strip() == "已查看"

        assert (await looker.answer(alert_id, "coming")).status_code == 200
        await row.locator(".tw-state[data-state='answered']").wait_for()
        assert (await row.locator(".tw-state").inner_text()).strip() == "已回应 · 我来了"

        # Live, the log got one line for the nine receipts: the step that settled the last.
        assert await page.evaluate("window.logLines") == ["9 条中 8 条已送达，1 条失败"]
        # The failure came before the page opened: its stored event is the log's other line.
        timeline = await Person(base, seeded.staff["patrol_leader"]).timeline(alert_id)
        stored = [e for e in timeline if e["type"] == "alert.delivery"]
        assert len(stored) == 1 + 2 * len(taken)
        (failure,) = [e | {"alert_id": alert_id} for e in stored if e["data"]["state"] == "failed"]
        line = await page.evaluate(
            "async (event) => (await import('/static/js/recipients.js')).deliveryLines(event)",
            failure,
        )
        assert line == [f"短信未送达 · {failure['data']['recipient']} · 21211 号码无效"]
        quiet = [e for e in stored if e["data"]["state"] != "failed" and not e["data"]["log"]]
        assert len(quiet) == 2 * len(taken) - 1

        await page.set_viewport_size({"width": 390, "height": 844})  # stacked on a phone
        assert await red.is_visible()
        await context.close()
