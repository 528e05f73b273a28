"""Escalation: stored deadlines per alarm, and a scheduler in every process that claims the due
ones under the community's lock, so each fires exactly once however many processes run."""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from groups.models import Group, Household
from notifier.worker import Worker
from server.alarms import recipients, texts, transitions
from server.alarms.change import Change
from server.alarms.events import record
from server.alarms.models import (
    Alert,
    AlertDeadline,
    AlertGroup,
    AlertResponse,
    Audience,
    Channel,
    Deadline,
    EventType,
    Fired,
)
from server.alarms.policy import Locked, lock
from server.alarms.transitions import Action
from server.runtime.clock import Clock
from server.runtime.work import Work
from storage.db import AsyncSession, table_of, update_one, write

log = logging.getLogger(__name__)

_INSERT_DEADLINES = insert(table_of(AlertDeadline))


async def schedule(session: AsyncSession, *, alert: Alert, locked: Locked, now: datetime) -> None:
    """Set an alarm's deadlines: the neighbours' quorum, then the patrol's (one insert)."""
    policy = locked.policy
    due = {Deadline.PATROL: now + timedelta(seconds=policy.patrol_seconds)}
    if alert.neighbours and not alert.duress:
        due[Deadline.QUORUM] = now + timedelta(seconds=policy.quorum_seconds)
    await write(
        session,
        _INSERT_DEADLINES,
        [
            {"community_id": alert.community_id, "alert_id": alert.id, "kind": k, "due_at": at}
            for k, at in sorted(due.items(), key=lambda item: item[1])
        ],
    )


def _patrol_deadline(session: AsyncSession, *, alert: Alert, cycle: int, due: datetime) -> None:
    session.add(
        AlertDeadline(
            community_id=alert.community_id,
            alert_id=alert.id,
            kind=Deadline.PATROL,
            cycle=cycle,
            due_at=due,
        )
    )


async def settle(
    session: AsyncSession,
    *,
    alert_id: int,
    now: datetime,
    kinds: tuple[Deadline, ...] = (Deadline.QUORUM, Deadline.PATROL),
) -> None:
    """Stand down an alarm's pending deadlines (it was taken, closed, or went to the patrol)."""
    await session.execute(
        update(AlertDeadline)
        .where(
            AlertDeadline.alert_id == alert_id,
            AlertDeadline.done_at.is_(None),
            AlertDeadline.kind.in_(kinds),
        )
        .values(done_at=now, outcome=Fired.STOOD_DOWN)
    )


async def to_patrol(
    session: AsyncSession,
    change: Change[Any],
    *,
    locked: Locked,
    alert: Alert,
    now: datetime,
    reason: str,
    patrol: list[recipients.Recipient] | None = None,
) -> None:
    """Alert the on-duty patrol (looked up unless given) again and the police office (never for
    a drill), as an event of the alarm; a duress alarm's escalation is shown on the board only."""
    await update_one(session, alert, patrol_cycles=alert.patrol_cycles + 1, updated_at=now)
    people = (
        list(patrol)
        if patrol is not None
        else await recipients.patrol(session, alert=alert, at=now, timezone=locked.timezone)
    )
    if not alert.drill:
        people += await recipients.police_office(session, community_id=alert.community_id)
    kind: texts.Kind = (
        "duress" if alert.duress else "confirmed" if reason == "confirmed" else "escalated"
    )
    event_id = await record(
        session,
        change,
        alert=alert,
        type=EventType.ESCALATED,
        actor="system",
        channel=Channel.SYSTEM,
        now=now,
        audience=Audience.BOARD if alert.duress else Audience.ALL,
        data={
            "level": "patrol",
            "reason": reason,
            "cycle": alert.patrol_cycles,
            "notified": len({p.to for p in people}),
            "police": not alert.drill,
            **({"duress": True} if alert.duress else {}),
        },
    )
    change.texts += await recipients.tell(
        session,
        alert=alert,
        kind=kind,
        event_id=event_id,
        recipients=people,
        now=now,
        cycle=alert.patrol_cycles,
    )


async def call_out(
    session: AsyncSession, change: Change[Any], *, locked: Locked, alert: Alert, now: datetime
) -> None:
    """Phone the neighbour households that have not answered (one resident each) and the
    on-duty patrol: a voice call that says the alarm and takes 1 for "coming"."""
    if alert.group_id is None:
        return
    people, _ = await recipients.neighbours(
        session, group_ids=[alert.group_id], exclude_household=alert.household_id
    )
    answered = set(
        await session.scalars(
            select(AlertResponse.household_id).where(AlertResponse.alert_id == alert.id)
        )
    )
    households: set[int | None] = set()
    calls = []
    for person in people:
        if person.household_id in answered or person.household_id in households:
            continue
        households.add(person.household_id)
        calls.append(person)
    calls += await recipients.patrol(session, alert=alert, at=now, timezone=locked.timezone)
    change.texts += await recipients.tell(
        session,
        alert=alert,
        kind="callout",
        event_id=change.event_id,
        recipients=calls,
        now=now,
        channel=Channel.VOICE,
    )


async def widen(
    session: AsyncSession, change: Change[Any], *, locked: Locked, alert: Alert, now: datetime
) -> None:
    """Too few neighbours are coming: alert the other groups of the building, its building
    leaders and the grid manager."""
    household = await session.get(Household, alert.household_id) if alert.household_id else None
    if household is None:
        return
    groups = list(
        await session.scalars(
            select(Household.group_id)
            .where(
                Household.community_id == alert.community_id,
                Household.building == household.building,
                Household.group_id.is_not(None),
                Household.group_id != (alert.group_id or 0),
            )
            .distinct()
        )
    )
    group_ids = [g for g in groups if g is not None]
    session.add_all(AlertGroup(alert_id=alert.id, group_id=g) for g in group_ids)
    alert.widened = True
    alert.updated_at = now
    people, households = await recipients.neighbours(
        session, group_ids=group_ids, exclude_household=alert.household_id
    )
    alert.neighbours += households
    people += await recipients.leaders(session, household=household)
    names = list(
        await session.scalars(select(Group.name).where(Group.id.in_(group_ids)).order_by(Group.id))
    )
    event_id = await record(
        session,
        change,
        alert=alert,
        type=EventType.ESCALATED,
        actor="system",
        channel=Channel.SYSTEM,
        now=now,
        data={
            "level": "neighbours",
            "reason": "quorum",
            "quorum": locked.policy.quorum,
            "coming": alert.coming,
            "neighbours": alert.neighbours,
            "groups": names,
            "notified": len({p.to for p in people}),
        },
    )
    change.texts += await recipients.tell(
        session, alert=alert, kind="widened", event_id=event_id, recipients=people, now=now
    )


async def fire(
    session: AsyncSession, deadline: AlertDeadline, *, locked: Locked, now: datetime
) -> Change[Fired]:
    """Act on one due deadline of an alarm, once; marks it done with what came of it."""
    alert = await session.get(Alert, deadline.alert_id)
    assert alert is not None
    change = Change(alert, outcome=Fired.SKIPPED)
    deadline.done_at = now
    deadline.outcome = Fired.SKIPPED
    action = Action.WIDEN if deadline.kind == Deadline.QUORUM else Action.REPEAT
    if not transitions.allows(alert.status, action):  # taken or closed meanwhile
        return change
    if deadline.kind == Deadline.QUORUM:
        if alert.coming >= locked.policy.quorum or alert.duress:
            deadline.outcome = change.outcome = Fired.MET
            return change
        await widen(session, change, locked=locked, alert=alert, now=now)
        await call_out(session, change, locked=locked, alert=alert, now=now)
    else:
        await to_patrol(session, change, locked=locked, alert=alert, now=now, reason="not_taken")
        if deadline.cycle < locked.policy.max_cycles:
            _patrol_deadline(
                session,
                alert=alert,
                cycle=deadline.cycle + 1,
                due=now + timedelta(seconds=locked.policy.repeat_seconds),
            )
    deadline.outcome = change.outcome = Fired.FIRED
    return change


class Scheduler(Worker):
    """Claims due deadlines from the database and fires them; one per process. Its sessions are
    units of work: committing a community's batch publishes what it fired."""

    name = "escalation scheduler"

    def __init__(
        self,
        sessions: async_sessionmaker[Work],
        *,
        clock: Clock,
        poll_seconds: float = 1.0,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._clock = clock

    async def step(self) -> int:
        """Fire what is due; the scheduler then sleeps until the next poll."""
        await self.run_due()
        return 0

    async def run_due(self) -> int:
        """Fire every deadline due by now; returns how many this process fired."""
        now = self._clock()
        due = (AlertDeadline.done_at.is_(None), AlertDeadline.due_at <= now)
        async with self._sessions() as session:
            communities = list(
                await session.scalars(select(AlertDeadline.community_id).where(*due).distinct())
            )
        fired = 0
        for community_id in communities:
            async with self._sessions() as session:
                locked = await lock(session, community_id)
                deadlines = await session.scalars(
                    select(AlertDeadline)
                    .where(AlertDeadline.community_id == community_id, *due)
                    .order_by(AlertDeadline.due_at, AlertDeadline.id)
                    .limit(100)
                )
                for deadline in list(deadlines):
                    await fire(session, deadline, locked=locked, now=now)
                    fired += 1
                await session.commit()
        return fired
