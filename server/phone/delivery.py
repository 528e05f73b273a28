"""Delivery on the board: how each text or call of an alarm went, as a board-only event."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from groups.models import Household, Resident, Staff
from notifier.models import FAILED, OutboxMessage
from server.alarms import store
from server.alarms.change import Change
from server.alarms.models import Alert, Audience, Channel, EventType
from server.alarms.texts import masked_phone
from server.runtime.work import Work
from storage.db import AsyncSession

BOARD_STATUSES = frozenset(
    {
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "in-progress",
        "answered",
        "completed",
        "busy",
        "no-answer",
        "canceled",
    }
)
"""Delivery statuses worth a line on the board; queued, ringing and the like are not."""


async def delivery_events(
    session: AsyncSession, *, jobs: Sequence[OutboxMessage], now: datetime
) -> int:
    """Store one board event per job of an alarm, saying how its text or call went
    ("B11-1-302: delivered"); committing publishes them. Returns how many."""
    jobs = [job for job in jobs if job.alert_id is not None]
    if not jobs:
        return 0
    residents = {job.resident_id for job in jobs if job.resident_id is not None}
    staff_ids = {job.staff_id for job in jobs if job.staff_id is not None}
    addresses = await session.execute(
        select(Resident.id, Household.address)
        .join(Household, Resident.household_id == Household.id)
        .where(Resident.id.in_(residents))
    )
    names: dict[int | None, str] = dict(addresses.all())
    staff_names = await session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))
    staff: dict[int | None, str] = dict(staff_names.all())
    for community_id in sorted({job.community_id for job in jobs}):
        await store.lock(session, community_id)  # events of one community commit in id order
    recorded = 0
    for job in jobs:
        alert = await session.get(Alert, job.alert_id)
        if alert is None:
            continue
        change = Change(alert, outcome=EventType.DELIVERY)
        recipient = names.get(job.resident_id) or staff.get(job.staff_id) or masked_phone(job.to)
        status = FAILED if job.status == FAILED else (job.delivery_status or job.status)
        await store.record(
            session,
            change,
            alert=alert,
            type=EventType.DELIVERY,
            actor="twilio",
            channel=Channel(job.channel),
            now=now,
            audience=Audience.BOARD,
            data={
                "recipient": recipient,
                "to": masked_phone(job.to),
                "channel": job.channel,
                "delivery": status,
                "error_code": job.error_code,
                "text": f"{recipient}: {status}",
            },
        )
        recorded += 1
    return recorded


async def publish_failures(
    sessions: async_sessionmaker[Work], jobs: Sequence[OutboxMessage], *, now: datetime
) -> None:
    """Put texts and calls that failed for good on the board (the outbox worker's hook)."""
    async with sessions() as session:
        await delivery_events(session, jobs=jobs, now=now)
        await session.commit()
