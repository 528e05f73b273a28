"""Delivery on the board: each step of an alarm's text or call that changes what a person reads
of it (queued → sent → delivered / failed) is one board-only `alert.delivery` event, naming its
recipient, channel, state and the provider's reason, with where the alarm's texts stand.

The board folds every one into the recipient table (server/web/static/js/recipients.js); its
log shows only those marked `log`: a failure, and the step that settles the last text ("all 9
delivered"). A provider's step that changes nothing a person reads (queued → sending, a late
receipt) is no event at all."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from notifier.models import OutboxMessage
from server.alarms import deliveries, store
from server.alarms.change import Change
from server.alarms.models import Alert, Audience, Channel, EventType
from server.alarms.texts import masked_phone
from server.runtime.work import Work
from storage.db import AsyncSession


def changed(job: OutboxMessage, *, before: str | None) -> bool:
    """Whether a receipt that moved a job from `before` changed what a person reads of it."""
    was = deliveries.state_of(channel=job.channel, status=job.status, delivery_status=before)
    now = deliveries.state_of(
        channel=job.channel, status=job.status, delivery_status=job.delivery_status
    )
    return was != now


async def delivery_events(
    session: AsyncSession, *, jobs: Sequence[OutboxMessage], now: datetime
) -> int:
    """Store one board event per job of an alarm, saying how its text or call stands now
    ("B11-1-302: delivered"); committing publishes them. Returns how many."""
    jobs = [job for job in jobs if job.alert_id is not None]
    if not jobs:
        return 0
    for community_id in sorted({job.community_id for job in jobs if job.community_id}):
        await store.lock(session, community_id)  # events of one community commit in id order
    recorded = 0
    for alert_id in sorted({job.alert_id for job in jobs if job.alert_id is not None}):
        alert = await session.get(Alert, alert_id)
        if alert is None:
            continue
        mine = [job for job in jobs if job.alert_id == alert_id]
        groups = await store.audience_groups(session, alert)
        whose = await deliveries.owners(session, jobs=mine, groups=groups)
        await session.flush()  # the tally reads the jobs as changed
        tally = await deliveries.tally(session, alert_id=alert_id)
        settled = tally.pending == 0 and tally.total > 0
        for at, job in enumerate(mine):
            last = at == len(mine) - 1
            await store.record(
                session,
                Change(alert, outcome=EventType.DELIVERY),
                alert=alert,
                type=EventType.DELIVERY,
                actor="twilio",
                channel=Channel(job.channel) if job.channel in ("sms", "voice") else Channel.SYSTEM,
                now=now,
                audience=Audience.BOARD,
                data=_data(job, whose[job.id], tally=tally, settled=settled and last),
            )
            recorded += 1
    return recorded


def _data(
    job: OutboxMessage, owner: deliveries.Owner, *, tally: deliveries.Tally, settled: bool
) -> dict[str, Any]:
    shown = deliveries.delivery_of(job)
    recipient = owner.household or owner.name or masked_phone(job.to)
    failed = shown.state == "failed"
    reason = f" ({job.error_code or shown.reason})" if failed else ""
    delivered = "failed" if job.status == "failed" else (job.delivery_status or job.status)
    return {
        "job_id": job.id,
        "recipient": recipient,
        "recipient_key": owner.key,
        "recipient_kind": owner.kind,
        "recipient_name": owner.name,
        "role": owner.role,
        "cell": shown.cell,
        "to": shown.to,
        "channel": job.channel,
        "state": shown.state,
        "delivery": delivered,
        "error_code": job.error_code,
        "reason": shown.reason,
        "sent_at": _at(job.sent_at),
        "settled_at": _at(job.settled_at),
        "tally": {
            "total": tally.total,
            "delivered": tally.delivered,
            "failed": tally.failed,
            "pending": tally.pending,
        },
        "settled": settled,
        "log": failed or settled,
        "text": f"{recipient}: {delivered}{reason}",
    }


def _at(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def publish_failures(
    sessions: async_sessionmaker[Work], jobs: Sequence[OutboxMessage], *, now: datetime
) -> None:
    """Put texts and calls that failed for good on the board (the outbox worker's hook)."""
    async with sessions() as session:
        await delivery_events(session, jobs=jobs, now=now)
        await session.commit()
