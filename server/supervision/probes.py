"""The store side of a supervision round: the probe written through the unit of work, its
outbox job read back, old probes pruned.

A probe is one small row and one outbox job of the dedicated `probe` channel, written in one
transaction whose commit announces the probe on this process's supervision channel and wakes
the outbox, as an alarm's commit does. It has no community, no alarm and no event: no socket,
board or phone of a person hears of it. Its job texts `TENWATCH_SUPERVISION_TO` when set (the
provider's answer is the proof); without a number the worker settles it itself. Probes and
their jobs older than KEEP are deleted, so a round every 30 s keeps ≈ 20 rows a process.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from notifier.models import FAILED, PROBE, SENT, OutboxMessage
from server import words
from server.runtime.work import announce_later, texts_queued
from server.supervision.models import Probe
from storage.db import AsyncSession

KEEP = timedelta(minutes=10)
"""How long a process's probes (and their jobs) are kept."""
ORPHANS = timedelta(days=1)
"""How long a probe of a process that went away is kept."""


def channel_of(process: str) -> str:
    """The bus channel one process's probes are announced on (only it listens)."""
    return f"supervision:{process}"


def message(probe_id: int) -> str:
    """A probe's bus message, as its supervisor's connection is sent it."""
    return json.dumps({"type": "supervision", "probe": probe_id}, separators=(",", ":"))


def probe_of(text: str) -> int | None:
    """The probe a message names, or None for any other text (the connection's own hello)."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("type") != "supervision":
        return None
    probe = found.get("probe")
    return probe if isinstance(probe, int) else None


@dataclass(frozen=True, slots=True)
class Written:
    """The probe and its outbox job, as flushed (not yet committed)."""

    probe_id: int
    job_id: int


async def record(
    session: AsyncSession, *, process: str, to: str | None, now: datetime, valid_for: timedelta
) -> Written:
    """Write a round's probe and its outbox job; the caller commits, which announces the probe
    on the process's channel and wakes the outbox. A job not sent within valid_for is not sent
    at all (a worker back after an outage does not text a pile of old probes)."""
    job = OutboxMessage(
        community_id=None,
        channel=PROBE,
        to=to or "",
        body="",
        next_attempt_at=now,
        expires_at=now + valid_for,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    probe = Probe(process=process, outbox_id=job.id, started_at=now)
    session.add(probe)
    await session.flush()
    job.body = words.say("supervision.text", language="zh", probe=probe.id)
    announce_later(session, channel=channel_of(process), message=message(probe.id))
    texts_queued(session, 1)
    return Written(probe_id=probe.id, job_id=job.id)


@dataclass(frozen=True, slots=True)
class Sending:
    """Where a probe's job stands: sent, failed for good, or not yet (with its last error)."""

    done: bool
    ok: bool
    status: str
    error: str | None


async def sending(session: AsyncSession, *, job_id: int) -> Sending:
    """Read how the probe's outbox job stands now."""
    row = (
        await session.execute(
            select(OutboxMessage.status, OutboxMessage.error).where(OutboxMessage.id == job_id)
        )
    ).first()
    if row is None:
        return Sending(done=True, ok=False, status="gone", error="its outbox job is gone")
    status, error = row
    return Sending(done=status in (SENT, FAILED), ok=status == SENT, status=status, error=error)


async def prune(session: AsyncSession, *, process: str, now: datetime) -> None:
    """Delete this process's probes older than KEEP, any process's older than ORPHANS, and
    their outbox jobs; the caller commits."""
    old = (Probe.started_at < now - ORPHANS) | (
        (Probe.process == process) & (Probe.started_at < now - KEEP)
    )
    await session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.id.in_(select(Probe.outbox_id).where(old)))
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Probe).where(old).execution_options(synchronize_session=False))
