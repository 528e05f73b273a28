"""Delivery receipts: a text goes queued → sent → delivered, never back; the board sees it."""

from __future__ import annotations

import asyncio

from notifier.models import SENT
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, press, stream
from tests.server.phone_support import outbox_of, phone_of, phone_settings, serving


async def test_receipts_out_of_order_only_move_a_text_forward_and_the_board_sees_each_step(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser, reached, unreached = "B11-1-301", "B11-1-302", "B11-1-401"
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
        stream(base, seeded.households[reached]) as neighbour,
    ):
        await press(base, seeded.households[raiser])
        assert (await board.next_event())["type"] == "alert.raised"
        assert (await neighbour.next_event())["type"] == "alert.raised"

        async def all_sent() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(job.status == SENT for job in jobs)

        await poll_until(all_sent)
        by_phone = {job.to: job for job in await outbox_of(sqlite_url)}
        job = by_phone[await phone_of(sqlite_url, reached)]
        assert job.delivery_status == "queued"
        assert job.provider_sid is not None
        assert fake_twilio.messages[0]["status_callback"].startswith(
            "https://tenwatch.example.org/twilio/status?job="
        )

        post = asyncio.to_thread
        assert await post(fake_twilio.post_status, job.provider_sid, "delivered") == 204
        event = await board.next_event()
        assert event["type"] == "alert.delivery"
        assert event["data"]["text"] == f"{reached}: delivered"
        assert event["data"]["to"] == job.to[:-8] + "****" + job.to[-4:]
        assert event["data"]["delivery"] == "delivered"

        # Late receipts of earlier steps, and a second final word, change nothing.
        for late in ("sent", "queued", "undelivered"):
            assert await post(fake_twilio.post_status, job.provider_sid, late) == 204
        assert await board.silent(0.3)

        other = by_phone[await phone_of(sqlite_url, unreached)]
        assert other.provider_sid is not None
        await post(fake_twilio.post_status, other.provider_sid, "sent")
        await post(fake_twilio.post_status, other.provider_sid, "undelivered", error_code=30003)
        sent, undelivered = await board.next_event(), await board.next_event()
        assert sent["data"]["text"] == f"{unreached}: sent"
        assert undelivered["data"]["text"] == f"{unreached}: undelivered (30003)"
        assert undelivered["data"]["error_code"] == "30003"
        assert (sent["data"]["state"], sent["data"]["log"]) == ("sent", False)
        assert undelivered["data"]["state"] == "failed"
        assert (undelivered["data"]["reason"], undelivered["data"]["log"]) == ("unreachable", True)
        assert await neighbour.silent(0.2)  # receipts are the board's, not the neighbours'
    after = {j.id: j for j in await outbox_of(sqlite_url)}
    assert after[job.id].delivery_status == "delivered"
    assert (after[other.id].delivery_status, after[other.id].error_code) == ("undelivered", "30003")


async def test_receipts_that_race_the_worker_still_leave_every_text_delivered(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    # Twilio calls back as soon as it answers: often before the worker records the send.
    fake_twilio.message_callbacks = ["sent", "delivered"]
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        await press(base, seeded.households["B12-1-101"])

        async def all_delivered() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(
                job.status == SENT and job.delivery_status == "delivered" for job in jobs
            )

        await poll_until(all_delivered)
        events = await board.events_until(
            lambda got: sum(e["data"].get("delivery") == "delivered" for e in got) == 9
        )
    assert {c["answer"] for c in fake_twilio.callbacks_posted} == {204}
    assert len(fake_twilio.callbacks_posted) == 18
    jobs = await outbox_of(sqlite_url)
    assert {job.provider_sid for job in jobs} == {m["sid"] for m in fake_twilio.messages}
    delivered = [e["data"]["recipient"] for e in events if e["data"].get("delivery") == "delivered"]
    assert len(set(delivered)) == 9


async def test_a_receipt_for_an_unknown_job_or_another_message_changes_nothing(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        await press(base, seeded.households["B12-2-101"])

        async def all_sent() -> bool:
            jobs = await outbox_of(sqlite_url)
            return len(jobs) == 9 and all(job.status == SENT for job in jobs)

        await poll_until(all_sent)
        job = (await outbox_of(sqlite_url))[0]
        unknown = await fake_twilio.webhook(
            "/twilio/status?job=999999", {"MessageSid": "SMx", "MessageStatus": "delivered"}
        )
        wrong_sid = await fake_twilio.webhook(
            f"/twilio/status?job={job.id}", {"MessageSid": "SMother", "MessageStatus": "failed"}
        )
    assert (unknown.status_code, wrong_sid.status_code) == (204, 204)
    assert (await outbox_of(sqlite_url))[0].delivery_status == "queued"
