"""The outbox on the phone: retries and give-ups on the board, a rate limit, short-lived texts,
exactly-once across a crash, and voice call-outs a neighbour answers with a key press."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy import select

from groups.models import Household, Resident, Staff
from notifier.models import FAILED, PENDING, SENDING, SENT, OutboxMessage
from server.alarms import texts
from server.runtime.clock import ManualClock
from storage.db import create_engine, create_sessionmaker, utcnow
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, press, stream
from tests.server.phone_support import (
    FROM,
    PUBLIC,
    outbox_of,
    phone_of,
    phone_settings,
    serving,
    speak_english,
)
from tests.server.test_phone_calls import gather_action
from tests.services import free_port


async def all_settled(url: str, count: int) -> bool:
    """Whether count jobs exist and each is sent or failed."""
    jobs = await outbox_of(url)
    return len(jobs) == count and all(job.status in (SENT, FAILED) for job in jobs)


async def test_an_outage_is_retried_and_a_bad_number_is_given_up_and_shown_on_the_board(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(status=503, times=3)
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        await press(base, seeded.households["B11-2-101"])
        await poll_until(lambda: all_settled(sqlite_url, 9), timeout=30)
        events = await board.events_until(
            lambda got: any(e["type"] == "alert.delivery" for e in got)
        )
    [failed] = [job for job in await outbox_of(sqlite_url) if job.status == FAILED]
    assert (failed.error_code, failed.attempts) == ("21211", 1)  # never retried
    assert sum(job.status == SENT for job in await outbox_of(sqlite_url)) == 8
    retried = [job for job in await outbox_of(sqlite_url) if job.attempts > 1]
    assert retried
    assert all(job.status == SENT for job in retried)
    assert len(fake_twilio.messages) == 8
    [shown] = [e for e in events if e["type"] == "alert.delivery"]
    assert shown["data"]["delivery"] == "failed"
    assert shown["data"]["error_code"] == "21211"
    assert shown["data"]["text"].endswith(": failed (21211)")
    assert (shown["data"]["state"], shown["data"]["reason"]) == ("failed", "invalid_number")


async def test_texts_are_paced_by_the_rate_limit_and_live_only_a_short_while(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    settings = phone_settings(sqlite_url, fake_twilio, sms_rate_per_second=20, sms_rate_burst=1)
    async with serving(settings, fake_twilio) as base:
        await press(base, seeded.households["B12-1-301"])
        await poll_until(lambda: all_settled(sqlite_url, 9))
    times = sorted(m["at"] for m in fake_twilio.messages)
    assert len(times) == 9
    assert times[-1] - times[0] >= 8 / 20 * 0.9  # nine texts at 20 a second: 0.4 s at least
    periods = [int(m["form"]["ValidityPeriod"]) for m in fake_twilio.messages]
    assert all(0 < p <= 30 * 60 for p in periods)


@contextmanager
def app_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The service as its own OS process; yields it (to kill) and its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "server.web.app:create_app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "the service exited"
            assert time.monotonic() < deadline, "the service did not start in 30 s"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_a_process_killed_mid_send_leaves_every_text_sent_exactly_once_after_restart(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    # Twilio takes five texts but its answers never arrive; four connections drop unanswered.
    fake_twilio.hang_next(times=5)
    fake_twilio.drop_next(times=4)
    env = {
        "TENWATCH_DATABASE_URL": sqlite_url,
        "TENWATCH_TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TENWATCH_TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TENWATCH_TWILIO_FROM": FROM,
        "TENWATCH_TWILIO_API_URL": fake_twilio.url,
        "TENWATCH_PUBLIC_BASE_URL": PUBLIC,
        "TENWATCH_OUTBOX_POLL_SECONDS": "0.05",
        "TENWATCH_OUTBOX_LEASE_SECONDS": "1",
    }
    with app_process(env) as (proc, base):
        assert (await press(base, seeded.households["B11-1-301"])).status_code == 201

        async def mid_send() -> bool:
            dropped = [r for r in fake_twilio.requests if r["status"] == 0]
            return len(fake_twilio.messages) == 5 and len(dropped) == 4

        await poll_until(mid_send)
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
    jobs = await outbox_of(sqlite_url)
    # None is recorded as sent: each only as started (or, if unanswered, as maybe sent).
    assert {job.status for job in jobs} <= {PENDING, SENDING}
    assert all(job.send_started_at is not None and job.provider_sid is None for job in jobs)
    assert all(job.maybe_sent for job in jobs if job.status == PENDING)
    taken_before = {m["sid"] for m in fake_twilio.messages}

    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio):
        await poll_until(lambda: all_settled(sqlite_url, 9))
    jobs = await outbox_of(sqlite_url)
    assert all(job.status == SENT for job in jobs)
    per_phone = Counter(m["to"] for m in fake_twilio.messages)
    assert per_phone == Counter(job.to for job in jobs)  # one text per job, none twice
    sid_of = {m["to"]: m["sid"] for m in fake_twilio.messages}
    assert all(job.provider_sid == sid_of[job.to] for job in jobs)
    assert taken_before <= {job.provider_sid for job in jobs}


async def _queue_call(
    url: str, *, community_id: int, alert_id: int, to_address: str | None, staff_role: str = ""
) -> int:
    """Queue a call-out as the escalation does: one outbox row with channel "voice"."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            now = utcnow()
            if to_address is not None:
                resident, language = (
                    await session.execute(
                        select(Resident, Household.language)
                        .join(Household, Resident.household_id == Household.id)
                        .where(Household.address == to_address)
                        .order_by(Resident.id)
                        .limit(1)
                    )
                ).one()
                who = {"resident_id": resident.id, "to": resident.phone}
            else:
                staff = await session.scalar(select(Staff).where(Staff.role == staff_role))
                assert staff is not None
                language, who = "zh", {"staff_id": staff.id, "to": staff.phone}
            job = OutboxMessage(
                community_id=community_id,
                alert_id=alert_id,
                channel="voice",
                body=texts.body("alarm", language=language, address="B11-1-101"),
                next_attempt_at=now,
                expires_at=now + timedelta(minutes=10),
                created_at=now,
                **who,
            )
            session.add(job)
            await session.commit()
            return job.id
    finally:
        await engine.dispose()


async def test_a_neighbour_called_out_hears_the_alarm_and_presses_1_for_coming(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser, neighbour = "B11-1-101", "B11-1-102"
    fake_twilio.call_callbacks = ["initiated", "ringing", "in-progress", "completed"]
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[raiser]) as group,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        alert_id = (await press(base, seeded.households[raiser])).json()["alert"]["id"]
        await group.next_event()
        await board.next_event()
        job_id = await _queue_call(
            sqlite_url, community_id=seeded.community_id, alert_id=alert_id, to_address=neighbour
        )

        async def completed() -> bool:
            job = next(j for j in await outbox_of(sqlite_url) if j.id == job_id)
            return job.delivery_status == "completed"

        await poll_until(completed)
        [placed] = fake_twilio.calls
        assert placed["from"] == FROM
        assert placed["status_callback"] == f"{PUBLIC}/twilio/status?job={job_id}"
        assert '<Say language="cmn-CN"' in placed["twiml"]
        assert "B11-1-101 求助" in placed["twiml"]
        assert "如果您马上就来，请按1" in placed["twiml"]
        action = gather_action(placed["twiml"])
        assert action == f"{PUBLIC}/twilio/voice/answer?job={job_id}"
        # Ringing is "sent", picked up "delivered"; the call's end changes nothing shown.
        shown = await board.events_until(
            lambda got: any(e["data"].get("state") == "delivered" for e in got)
        )
        steps = [e["data"]["text"] for e in shown if e["type"] == "alert.delivery"]
        assert steps == [f"{neighbour}: ringing", f"{neighbour}: in-progress"]

        said = await fake_twilio.webhook(
            action, {"CallSid": placed["sid"], "From": FROM, "To": placed["to"], "Digits": "1"}
        )
        assert "谢谢，已告知大家您马上就到" in said.text
        response = await group.next_event()
    assert (response["type"], response["channel"]) == ("alert.response", "voice")
    assert (response["data"]["answer"], response["data"]["responder"]) == ("coming", neighbour)


async def test_an_english_neighbour_is_called_in_english_and_another_key_answers_nothing(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser, neighbour = "B11-1-101", "B11-1-202"
    await speak_english(sqlite_url, neighbour)
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[raiser]) as group,
    ):
        alert_id = (await press(base, seeded.households[raiser])).json()["alert"]["id"]
        await group.next_event()
        job_id = await _queue_call(
            sqlite_url, community_id=seeded.community_id, alert_id=alert_id, to_address=neighbour
        )
        await poll_until(lambda: asyncio.sleep(0, result=len(fake_twilio.calls) == 1))
        [placed] = fake_twilio.calls
        assert '<Say language="en-US"' in placed["twiml"]
        assert "If you are coming, press 1." in placed["twiml"]
        said = await fake_twilio.webhook(
            f"/twilio/voice/answer?job={job_id}",
            {"CallSid": placed["sid"], "From": FROM, "To": placed["to"], "Digits": "9"},
        )
        assert "Goodbye" in said.text
        assert await group.silent(0.3)


async def test_a_patrol_member_called_out_takes_the_alarm_with_1(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.staff["patrol_leader"]) as board,
    ):
        alert_id = (await press(base, seeded.households["B12-2-101"])).json()["alert"]["id"]
        await board.next_event()
        job_id = await _queue_call(
            sqlite_url,
            community_id=seeded.community_id,
            alert_id=alert_id,
            to_address=None,
            staff_role="patrol_member",
        )
        await poll_until(lambda: asyncio.sleep(0, result=len(fake_twilio.calls) == 1))
        said = await fake_twilio.webhook(
            f"/twilio/voice/answer?job={job_id}", {"CallSid": "CA1", "Digits": "1"}
        )
        taken = await board.events_until(
            lambda got: any(e["type"] == "alert.acknowledged" for e in got)
        )
    assert "谢谢" in said.text
    [event] = [e for e in taken if e["type"] == "alert.acknowledged"]
    assert event["alert_id"] == alert_id


async def test_when_too_few_answer_in_time_the_silent_neighbours_are_called_and_1_means_coming(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser, answered, called_back = "B11-1-101", "B11-1-102", "B11-1-201"
    clock = ManualClock()
    settings = phone_settings(sqlite_url, fake_twilio, scheduler_poll_seconds=0.05)
    async with (
        serving(settings, fake_twilio, clock=clock) as base,
        stream(base, seeded.households[raiser]) as group,
    ):
        alert_id = (await press(base, seeded.households[raiser])).json()["alert"]["id"]
        async with httpx.AsyncClient(base_url=base) as client:
            reply = await client.post(
                f"/api/alerts/{alert_id}/responses",
                json={"answer": "coming"},
                headers={"Authorization": f"Bearer {seeded.households[answered]}"},
            )
        assert reply.status_code == 200
        assert not fake_twilio.calls

        clock.advance(46)  # T1 passes with one neighbour coming: the other eight are called
        await poll_until(lambda: asyncio.sleep(0, result=len(fake_twilio.calls) == 8))
        called = {placed["to"]: placed for placed in fake_twilio.calls}
        assert await phone_of(sqlite_url, answered) not in called
        placed = called[await phone_of(sqlite_url, called_back)]
        assert "B11-1-101" in placed["twiml"]
        said = await fake_twilio.webhook(
            gather_action(placed["twiml"]),
            {"CallSid": placed["sid"], "From": FROM, "To": placed["to"], "Digits": "1"},
        )
        assert "谢谢" in said.text
        heard = await group.events_until(
            lambda got: any(e["type"] == "alert.response" and e["channel"] == "voice" for e in got)
        )
    by_voice = [e for e in heard if e["type"] == "alert.response" and e["channel"] == "voice"]
    assert [(e["data"]["responder"], e["data"]["coming"]) for e in by_voice] == [(called_back, 2)]
