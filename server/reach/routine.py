"""The routine button test: check every channel of one household without alarming anyone.

Started by a resident for their own household or by the admin. It writes no alarm, tells no
neighbour and puts nothing on a board; it records one check per channel:

- **app**: a test message only the household's open sockets hear (sent through the bus to
  every process; the one holding a socket records the check ok once the message was sent to
  it). No socket open: "none". Nobody confirming within APP_SECONDS: failed.
- **push**: a quiet test notification ("这是测试，无需回复") to each signed-in device, through
  the outbox; ok once the push service took it, failed with its reason.
- **sms**: a test text to each resident with a phone, through the outbox; ok once its receipt
  says delivered, failed when it says undelivered or the send failed.

The push and text checks settle from their outbox jobs when read: the outbox (and its
receipts) is the record, so no hook of the worker is needed.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from groups import audit
from groups.models import Credential, Household, Resident
from groups.register import mask
from notifier.models import FAILED, SENT, UNDELIVERED, OutboxMessage
from notifier.push.models import PushSubscription
from server import words
from server.errors import NotFound, TooMany
from server.reach import presence
from server.reach.models import HouseholdTest, HouseholdTestCheck
from server.runtime.work import announce_later, texts_queued
from storage.db import AsyncSession

APP_SECONDS = 15
"""How long an app check waits for a process to say it sent the test message."""
AGAIN_SECONDS = 60
"""A household's tests are at least this far apart (each one sends texts)."""
VALID_FOR = timedelta(minutes=10)
"""A test's push or text that could not go in this time is not sent at all."""

CHANNELS = ("app", "push", "sms")


@dataclass(frozen=True, slots=True)
class CheckView:
    """One channel's check as read now."""

    channel: str
    target: str | None
    result: str
    """pending, ok, failed or none (no such channel)."""
    reason: str | None


@dataclass(frozen=True, slots=True)
class TestView:
    """A test with its checks, and each channel's summary (ok if any target was reached)."""

    id: int
    household_id: int
    started_at: datetime
    started_by: str
    checks: list[CheckView]

    def channel(self, name: str) -> str:
        """The channel's summary: ok if any check of it is, else pending, failed or none."""
        results = {c.result for c in self.checks if c.channel == name}
        for result in ("ok", "pending", "failed"):
            if result in results:
                return result
        return "none"

    @property
    def summary(self) -> dict[str, str]:
        """Every channel's summary."""
        return {name: self.channel(name) for name in CHANNELS}


def _settle(
    check: HouseholdTestCheck, job: OutboxMessage | None, *, started_at: datetime, now: datetime
) -> CheckView:
    """A check as it stands: the app's as written (or failed once its wait is over), a push's
    or text's from its outbox job."""
    result, reason = check.result, check.reason
    if result == "pending" and check.channel == "app":
        if now - started_at > timedelta(seconds=APP_SECONDS):
            result, reason = "failed", "no open app socket took the test message"
    elif result == "pending":
        if job is None:
            result, reason = "failed", "its outbox job is gone"
        elif job.status == FAILED:
            result, reason = "failed", job.error or "the send failed"
        elif (job.delivery_status or "") in UNDELIVERED:
            result, reason = "failed", job.error or job.delivery_status
        elif check.channel == "push" and job.status == SENT:
            result, reason = "ok", "the push service took it"
        elif job.delivery_status in ("delivered", "read"):
            result, reason = "ok", job.delivery_status
        elif job.status == SENT:
            reason = f"sent ({job.delivery_status or 'no receipt yet'})"
        else:
            reason = job.status
    return CheckView(channel=check.channel, target=check.target, result=result, reason=reason)


async def household(session: AsyncSession, *, community_id: int, household_id: int) -> Household:
    """A household of the community, or NotFound."""
    found = await session.get(Household, household_id)
    if found is None or found.community_id != community_id:
        raise NotFound("no household {household_id} in your community", household_id=household_id)
    return found


async def start(
    session: AsyncSession,
    *,
    home: Household,
    by: str,
    now: datetime,
    staff: audit.Actor | None = None,
) -> HouseholdTest:
    """Start a test of every channel of a household (see the module); the caller commits,
    which sends the app check to every process and wakes the outbox. A staff member's test is
    in the audit log. TooMany when the household was tested less than AGAIN_SECONDS ago."""
    last = await session.scalar(
        select(func.max(HouseholdTest.started_at)).where(HouseholdTest.household_id == home.id)
    )
    if last is not None and now - last < timedelta(seconds=AGAIN_SECONDS):
        wait = AGAIN_SECONDS - int((now - last).total_seconds())
        raise TooMany(
            "{address} was tested moments ago: try again in {wait} s",
            retry_after=wait,
            address=home.address,
            wait=wait,
        )
    test = HouseholdTest(
        community_id=home.community_id, household_id=home.id, started_at=now, started_by=by
    )
    session.add(test)
    await session.flush()
    language = home.language
    title = words.say("plan.test.title", language=language)
    body = words.say("plan.test.body", language=language)
    text = words.say("plan.test.sms", language=language)
    await _app(session, test=test, home=home, text=body, now=now)
    queued = await _push(session, test=test, home=home, title=title, body=body, now=now)
    queued += await _sms(session, test=test, home=home, text=text, now=now)
    texts_queued(session, queued)
    if staff is not None:
        audit.record(
            session,
            community_id=home.community_id,
            actor=staff,
            action="tested",
            subject=f"household {home.address}",
            note=f"routine test {test.id} of the app, push and texts",
            at=now,
        )
    return test


async def _app(
    session: AsyncSession, *, test: HouseholdTest, home: Household, text: str, now: datetime
) -> None:
    credentials = await presence.connected_credentials(session, household_id=home.id, now=now)
    check = HouseholdTestCheck(test_id=test.id, channel="app", target="app")
    if not credentials:
        check.result, check.reason, check.checked_at = "none", "no app open now", now
    session.add(check)
    await session.flush()
    if credentials:
        message = json.dumps({"type": "test", "test_id": test.id, "text": text}, ensure_ascii=False)
        announce_later(
            session,
            channel=presence.CHANNEL,
            message=presence.app_check_message(
                check_id=check.id, credentials=credentials, text=message
            ),
        )


async def _push(
    session: AsyncSession,
    *,
    test: HouseholdTest,
    home: Household,
    title: str,
    body: str,
    now: datetime,
) -> int:
    devices = await session.execute(
        select(PushSubscription.id, PushSubscription.resident_id, Credential.device)
        .join(Resident, Resident.id == PushSubscription.resident_id)
        .join(Credential, Credential.id == PushSubscription.credential_id)
        .where(
            Resident.household_id == home.id,
            Credential.revoked_at.is_(None),
            or_(Credential.expires_at.is_(None), Credential.expires_at > now),
        )
        .order_by(PushSubscription.id)
    )
    payload = {
        "type": "test",
        "tag": f"test-{test.id}",
        "title": title,
        "body": body,
        "url": "/app",
    }
    queued = 0
    for subscription_id, resident_id, device in devices:
        job = OutboxMessage(
            community_id=home.community_id,
            resident_id=resident_id,
            channel="push",
            to=str(subscription_id),
            body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            next_attempt_at=now,
            expires_at=now + VALID_FOR,
            created_at=now,
        )
        session.add(job)
        await session.flush()
        session.add(
            HouseholdTestCheck(
                test_id=test.id, channel="push", target=device or "device", outbox_id=job.id
            )
        )
        queued += 1
    if not queued:
        session.add(
            HouseholdTestCheck(
                test_id=test.id,
                channel="push",
                result="none",
                reason="no device subscribed to push",
                checked_at=now,
            )
        )
    return queued


async def _sms(
    session: AsyncSession, *, test: HouseholdTest, home: Household, text: str, now: datetime
) -> int:
    people = await session.execute(
        select(Resident.id, Resident.phone)
        .where(Resident.household_id == home.id, Resident.phone.is_not(None))
        .order_by(Resident.id)
    )
    queued = 0
    for resident_id, phone in people:
        if not phone:
            continue
        job = OutboxMessage(
            community_id=home.community_id,
            resident_id=resident_id,
            channel="sms",
            to=phone,
            body=text,
            next_attempt_at=now,
            expires_at=now + VALID_FOR,
            created_at=now,
        )
        session.add(job)
        await session.flush()
        session.add(
            HouseholdTestCheck(test_id=test.id, channel="sms", target=mask(phone), outbox_id=job.id)
        )
        queued += 1
    if not queued:
        session.add(
            HouseholdTestCheck(
                test_id=test.id,
                channel="sms",
                result="none",
                reason="no resident has a phone",
                checked_at=now,
            )
        )
    return queued


async def _views(
    session: AsyncSession, tests: list[HouseholdTest], *, now: datetime
) -> list[TestView]:
    if not tests:
        return []
    by_test: dict[int, list[HouseholdTestCheck]] = {t.id: [] for t in tests}
    checks = list(
        await session.scalars(
            select(HouseholdTestCheck)
            .where(HouseholdTestCheck.test_id.in_(sorted(by_test)))
            .order_by(HouseholdTestCheck.id)
        )
    )
    jobs_ids = sorted({c.outbox_id for c in checks if c.outbox_id is not None})
    jobs = (
        {
            j.id: j
            for j in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(jobs_ids))
            )
        }
        if jobs_ids
        else {}
    )
    for check in checks:
        by_test[check.test_id].append(check)
    return [
        TestView(
            id=t.id,
            household_id=t.household_id,
            started_at=t.started_at,
            started_by=t.started_by,
            checks=[
                _settle(
                    c,
                    jobs.get(c.outbox_id) if c.outbox_id is not None else None,
                    started_at=t.started_at,
                    now=now,
                )
                for c in by_test[t.id]
            ],
        )
        for t in tests
    ]


async def of_household(
    session: AsyncSession, *, household_id: int, now: datetime, limit: int = 20
) -> list[TestView]:
    """A household's tests, newest first, with each check as it stands now."""
    tests = list(
        await session.scalars(
            select(HouseholdTest)
            .where(HouseholdTest.household_id == household_id)
            .order_by(HouseholdTest.id.desc())
            .limit(limit)
        )
    )
    return await _views(session, tests, now=now)


async def latest(
    session: AsyncSession, *, households: Iterable[int], now: datetime
) -> dict[int, TestView]:
    """The newest test of each of the households that had one."""
    wanted = sorted(set(households))
    if not wanted:
        return {}
    newest = (
        select(func.max(HouseholdTest.id))
        .where(HouseholdTest.household_id.in_(wanted))
        .group_by(HouseholdTest.household_id)
    )
    tests = list(await session.scalars(select(HouseholdTest).where(HouseholdTest.id.in_(newest))))
    return {v.household_id: v for v in await _views(session, tests, now=now)}
