"""Was this job taken before? The lookup at the provider of jobs that may have been sent.

A job re-claimed from a dead worker with a start recorded but no provider id, or whose last
attempt got no answer, may have been taken. It is looked up at the provider (to, from, since its
start, every page), matching the body, and identical texts found are counted against the jobs
that may own them: no job is sent twice, and none is settled by another job's message.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import OutboxMessage
from notifier.sms.base import Channel, Outcome, SendError, SendResult, SmsSender

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=2)
"""How far clocks (ours, the other workers', the provider's) may disagree."""

Key = tuple[str, str, str | None]
"""What the provider can tell jobs apart by: channel, phone and (for texts) body."""


def key_of(job: OutboxMessage) -> Key:
    """A job's key: a call's script is not in the provider's list, so calls go by phone only."""
    return (job.channel, job.to, None if job.channel == "voice" else job.body)


async def taken_before(
    sessions: Callable[[], AsyncSession],
    sender: SmsSender,
    jobs: Sequence[OutboxMessage],
    *,
    batch: set[int],
) -> dict[int, Outcome]:
    """Which of these maybe-sent jobs the provider took already, and those it cannot tell.
    `batch` is every job of their claim: none of its others has been sent yet.

    One lookup per phone and body. A message found may be another job's: one whose id is
    recorded, or one whose send started and is not recorded yet (in flight at another worker,
    or itself maybe-sent). What is left is counted out to these jobs, oldest first; the rest
    were not taken and are sent. A failed lookup leaves its jobs unsent for a later try.
    """
    groups: defaultdict[Key, list[OutboxMessage]] = defaultdict(list)
    for job in sorted(jobs, key=lambda j: j.id):
        groups[key_of(job)].append(job)
    found: dict[Key, list[SendResult]] = {}
    out: dict[int, Outcome] = {}
    for key, group in groups.items():
        channel: Channel = "voice" if key[0] == "voice" else "sms"
        since = min(j.send_started_at or j.created_at for j in group)
        try:
            found[key] = await sender.lookup(channel=channel, to=key[1], body=key[2], since=since)
        except SendError as exc:
            out |= dict.fromkeys((j.id for j in group), exc)
    if not any(found.values()):
        return out
    since = min(j.send_started_at or j.created_at for j in jobs) - 2 * CLOCK_SKEW
    async with sessions() as session:
        others = await session.execute(
            select(
                OutboxMessage.channel,
                OutboxMessage.to,
                OutboxMessage.body,
                OutboxMessage.provider_sid,
            ).where(
                OutboxMessage.to.in_({key[1] for key in found}),
                OutboxMessage.send_started_at >= since,
                OutboxMessage.id.not_in(batch),
            )
        )
    recorded: set[str] = set()
    unrecorded: defaultdict[Key, int] = defaultdict(int)
    for channel_, to, body, sid in others:
        key = (channel_, to, None if channel_ == "voice" else body)
        if sid is None:
            unrecorded[key] += 1
        else:
            recorded.add(sid)
    for key, results in found.items():
        free = [r for r in results if r.sid not in recorded]
        free = free[: max(len(free) - unrecorded[key], 0)]
        for job, result in zip(groups[key], free, strict=False):
            log.info("outbox job %s was taken before (%s): not sent again", job.id, result.sid)
            out[job.id] = result
    return out
