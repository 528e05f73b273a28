"""Reachability: for each household, which channels would reach it now — an app socket open
(on any process), push (a subscribed, signed-in device whose pushes don't fail), a text (a
resident with a phone whose latest text did not fail) — and the latest routine test.

A household that no channel reaches "can't be reached": the board should know before it
matters. Every read here is a handful of grouped queries for a whole community, never one per
household.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select

from groups.models import Credential, Household, Resident
from notifier.models import FAILED, UNDELIVERED, OutboxMessage
from notifier.push.models import PushSubscription
from server.reach import routine
from server.reach.models import ReachPresence, ReachProcess
from server.reach.presence import stale_before
from storage.db import AsyncSession


@dataclass(frozen=True, slots=True)
class LastText:
    """The newest text to a resident of the household: how it went."""

    at: datetime
    status: str
    """delivered, sent, queued, pending, failed, undelivered, …"""
    error: str | None
    failed: bool


@dataclass(frozen=True, slots=True)
class Reach:
    """One household's channels now."""

    household_id: int
    sockets: int = 0
    push_devices: int = 0
    push_failing: int = 0
    phones: int = 0
    last_text: LastText | None = None
    last_test: "routine.TestView | None" = None

    @property
    def connected(self) -> bool:
        """An app socket of a resident is open now."""
        return self.sockets > 0

    @property
    def push_works(self) -> bool:
        """A signed-in device is subscribed and its pushes are not failing."""
        return self.push_devices > self.push_failing

    @property
    def text_works(self) -> bool:
        """A resident has a phone and the latest text did not fail."""
        return self.phones > 0 and not (self.last_text is not None and self.last_text.failed)

    @property
    def reachable(self) -> bool:
        """Some channel works."""
        return self.connected or self.push_works or self.text_works

    def why_not(self) -> list[str]:
        """Each channel that does not work, in a short phrase (for the "can't be reached")."""
        said = []
        if not self.connected:
            said.append("no app open")
        if self.push_devices == 0:
            said.append("no push")
        elif not self.push_works:
            said.append("push failing")
        if self.phones == 0:
            said.append("no phone")
        elif not self.text_works:
            said.append("last text failed")
        return said


def _valid(now: datetime) -> list[object]:
    return [
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > now),
    ]


_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


def _of(query: _Q, households: Collection[int] | None) -> _Q:
    """The query for some households only (None: all of them)."""
    if households is not None:
        return query.where(Resident.household_id.in_(sorted(households)))
    return query


async def sockets(
    session: AsyncSession, *, community_id: int, now: datetime, households: Collection[int] | None
) -> dict[int, int]:
    """Open app sockets per household, on every live process."""
    query = (
        select(Resident.household_id, func.sum(ReachPresence.sockets))
        .select_from(ReachPresence)
        .join(ReachProcess, ReachProcess.name == ReachPresence.process)
        .join(Credential, Credential.id == ReachPresence.credential_id)
        .join(Resident, Resident.id == Credential.resident_id)
        .where(
            Credential.community_id == community_id,
            ReachProcess.seen_at >= stale_before(now),
            *_valid(now),  # type: ignore[arg-type]
        )
        .group_by(Resident.household_id)
    )
    rows = await session.execute(_of(query, households))
    return {household: int(count or 0) for household, count in rows}


async def _push(
    session: AsyncSession, *, community_id: int, now: datetime, households: Collection[int] | None
) -> dict[int, tuple[int, int]]:
    query = (
        select(
            Resident.household_id,
            func.count(PushSubscription.id),
            func.count(PushSubscription.failed_at),
        )
        .select_from(PushSubscription)
        .join(Resident, Resident.id == PushSubscription.resident_id)
        .join(Credential, Credential.id == PushSubscription.credential_id)
        .where(PushSubscription.community_id == community_id, *_valid(now))  # type: ignore[arg-type]
        .group_by(Resident.household_id)
    )
    rows = await session.execute(_of(query, households))
    return {h: (int(n), int(f)) for h, n, f in rows}


async def _phones(
    session: AsyncSession, *, community_id: int, households: Collection[int] | None
) -> dict[int, int]:
    query = (
        select(Resident.household_id, func.count(Resident.phone))
        .join(Household, Household.id == Resident.household_id)
        .where(Household.community_id == community_id)
        .group_by(Resident.household_id)
    )
    rows = await session.execute(_of(query, households))
    return {h: int(n) for h, n in rows}


async def _last_texts(
    session: AsyncSession, *, community_id: int, households: Collection[int] | None
) -> dict[int, LastText]:
    newest = (
        select(Resident.household_id, func.max(OutboxMessage.id))
        .join(Resident, Resident.id == OutboxMessage.resident_id)
        .where(OutboxMessage.community_id == community_id, OutboxMessage.channel == "sms")
        .group_by(Resident.household_id)
    )
    ids: dict[int, int] = dict((await session.execute(_of(newest, households))).all())
    if not ids:
        return {}
    rows = await session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.created_at,
            OutboxMessage.status,
            OutboxMessage.delivery_status,
            OutboxMessage.error,
        ).where(OutboxMessage.id.in_(sorted(ids.values())))
    )
    by_id = {}
    for job_id, at, status, delivery, error in rows:
        failed = status == FAILED or (delivery or "") in UNDELIVERED
        shown = FAILED if status == FAILED else (delivery or status)
        by_id[job_id] = LastText(at=at, status=shown, error=error, failed=failed)
    return {h: by_id[j] for h, j in ids.items() if j in by_id}


async def of_households(
    session: AsyncSession,
    *,
    community_id: int,
    households: Iterable[int],
    now: datetime,
) -> dict[int, Reach]:
    """Each household's reach now (households of the community only)."""
    wanted = set(households)
    scope = wanted if len(wanted) < 500 else None  # a whole community: read it all, once
    open_ = await sockets(session, community_id=community_id, now=now, households=scope)
    push = await _push(session, community_id=community_id, now=now, households=scope)
    phones = await _phones(session, community_id=community_id, households=scope)
    texts = await _last_texts(session, community_id=community_id, households=scope)
    tests = await routine.latest(session, households=wanted, now=now)
    found = {}
    for household in wanted:
        devices, failing = push.get(household, (0, 0))
        found[household] = Reach(
            household_id=household,
            sockets=open_.get(household, 0),
            push_devices=devices,
            push_failing=failing,
            phones=phones.get(household, 0),
            last_text=texts.get(household),
            last_test=tests.get(household),
        )
    return found
