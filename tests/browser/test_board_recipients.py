"""The recipient table on the board itself: selecting an alarm shows everyone it alerted, a
failed text red with its reason, receipts turning delivered live, and the live log one line
for the nine receipts, not nine."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, expect

from notifier.models import FAILED, SENT
from tests.actors import resident
from tests.browser.conftest import signed_in
from tests.browser.test_board_page import consent
from tests.fake_twilio import FakeTwilio
from tests.harness import poll_until, running, seed
from tests.server.phone_support import PUBLIC, outbox_of, phone_settings


async def test_the_board_shows_the_selected_alarms_recipients_and_logs_what_matters(
    browser: Browser, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    seeded = await seed(sqlite_url)
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    async with running(phone_settings(sqlite_url, fake_twilio)) as base:
        fake_twilio.route(public=PUBLIC, app=base)
        await consent(base, seeded.staff["patrol_leader"])  # the notice is not in the way
        context = await signed_in(
            browser, base, seeded.staff["patrol_leader"], viewport={"width": 1440, "height": 900}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{base}/board")
        await expect(page.locator("#live[data-state='online']")).to_be_attached()
        alert_id = await resident(base, seeded, "B11-1-301").raise_alarm()

        async def all_sent() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(job.status in (SENT, FAILED) for job in jobs)

        await poll_until(all_sent)
        jobs = await outbox_of(sqlite_url)
        (failed,) = [job for job in jobs if job.status == FAILED]
        taken = [job for job in jobs if job.status == SENT]

        await page.locator(f"#list li[data-id='{alert_id}'] button.row").click()
        red = page.locator(f"#recipients .tw-chip[data-job='{failed.id}']")
        await expect(red).to_have_attribute("data-state", "failed")
        await expect(red).to_contain_text("21211 号码无效")
        await expect(page.locator("#recipients tbody tr")).to_have_count(9)
        for job in taken:
            assert job.provider_sid is not None
            await asyncio.to_thread(fake_twilio.post_status, job.provider_sid, "sent")
            await asyncio.to_thread(fake_twilio.post_status, job.provider_sid, "delivered")
        await expect(page.locator("#recipients .tw-chip[data-state='delivered']")).to_have_count(8)
        log = page.locator("#log-lines li")
        await expect(log.filter(has_text="9 条中 8 条已送达，1 条失败")).to_have_count(1)
        # the raise and the failure came live too; the sixteen other receipts made no line
        assert await page.locator("#log-lines li.delivery").count() == 2
        assert errors == []
        await context.close()
