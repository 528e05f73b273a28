"""Delivery receipts: the provider's word on a job, recorded on it only ever forward.

A receipt names its job (`?job=ID` on the callback URL), so even a receipt that arrives before
the worker recorded the send settles the job: its provider id is stored and it is never sent
again. A final word (delivered, undelivered, failed, a call's end) is timed (`settled_at`), and
what the job said before is handed back, so the caller can tell a step that changes what a
person reads (queued → sent → delivered / failed) from one that does not.
"""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import UNDELIVERED, OutboxMessage, moves_forward
from storage.db import utcnow

FINAL = frozenset({"delivered", "read", "completed"}) | UNDELIVERED
"""Provider statuses after which nothing more is expected of a job."""


class Applied(NamedTuple):
    """A receipt that was news: the job as it is now, and its delivery status before."""

    job: OutboxMessage
    before: str | None


async def apply_receipt(
    session: AsyncSession,
    *,
    job_id: int,
    sid: str,
    status: str,
    error_code: str | None = None,
    now: datetime | None = None,
) -> Applied | None:
    """Record a delivery receipt on its job, only ever forward; the job and its status before
    if this was news.

    A receipt for a job whose send is not recorded yet (the worker crashed, or is slower than
    the provider) records the provider's id: the job is then never sent again.
    """
    job = await session.get(OutboxMessage, job_id, with_for_update=True)
    if job is None or (job.provider_sid is not None and job.provider_sid != sid):
        return None
    if job.provider_sid is None:
        job.provider_sid = sid
    before = job.delivery_status
    if not moves_forward(channel=job.channel, current=before, new=status):
        return None
    job.delivery_status = status
    if status in UNDELIVERED:
        job.error_code = error_code or job.error_code
        job.error = f"{status}" + (f" (Twilio error {error_code})" if error_code else "")
    if status in FINAL and job.settled_at is None:
        job.settled_at = now or utcnow()
    return Applied(job, before)
