"""Escalation: stored deadlines per alarm, and a scheduler in every process that claims the due
ones under the community's lock, so each fires exactly once however many processes run."""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from notifier.worker import Worker
from server.alarms import metrics, recipients, store, texts, transitions
from server.alarms.change import Change
from server.alarms.models import Alert, AlertDeadline, Audience, Channel, Deadline, EventType, Fired
from server.alarms.policy import Locked
from server.alarms.transitions import Action
from server.runtime.clock import Clock
from server.runtime.work import Work
from storage.db import AsyncSession

log = logging.getLogger(__name__)


def first_deadlines(alert: Alert, locked: Locked, now: datetime) -> dict[Deadline, datetime]:
    """When a new alarm escalates unless someone acts: the neighbours' quorum (when it has
    neighbours and is not under duress), then the patrol's turn."""
    policy = locked.policy
    due = {Deadline.PATROL: now + timedelta(seconds=policy.patrol_seconds)}
    if alert.neighbours and not alert.duress:
        due[Deadline.QUORUM] = now + timedelta(seconds=policy.quorum_seconds)
    return due


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
    await store.change_alarm(session, alert, patrol_cycles=alert.patrol_cycles + 1, updated_at=now)
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
    event_id = await store.record(
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
    answered = await store.answered(session, alert_id=alert.id)
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
    household = await store.household(session, household_id=alert.household_id)
    if household is None:
        return
    group_ids, names = await store.widen(session, alert=alert, household=household)
    alert.widened = True
    alert.updated_at = now
    people, households = await recipients.neighbours(
        session, group_ids=group_ids, exclude_household=alert.household_id
    )
    alert.neighbours += households
    people += await recipients.leaders(session, household=household)
    event_id = await store.record(
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
    name = await store.raiser_name(session, alert=alert)
    change.texts += await recipients.tell(
        session,
        alert=alert,
        kind="widened",
        event_id=event_id,
        recipients=people,
        now=now,
        name=name,
    )
    # The widened groups' phones are woken as the group's were (their own answer tokens).
    await recipients.push_alarm(
        session,
        alert=alert,
        event_id=event_id,
        raised_by=name or "",
        now=now,
        group_ids=group_ids,
        kind="widened",
    )


async def fire(
    session: AsyncSession, deadline: AlertDeadline, *, locked: Locked, now: datetime
) -> Change[Fired]:
    """Act on one due deadline of an alarm, once; marks it done with what came of it."""
    alert = await store.alarm(session, alert_id=deadline.alert_id)
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
            await store.schedule(
                session,
                alert=alert,
                due={Deadline.PATROL: now + timedelta(seconds=locked.policy.repeat_seconds)},
                cycle=deadline.cycle + 1,
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
        async with self._sessions() as session:
            communities = await store.due_communities(session, now=now)
        fired = 0
        for community_id in communities:
            async with self._sessions() as session:
                locked = await store.lock(session, community_id)
                done = await store.due(session, community_id=community_id, now=now)
                outcomes = [await fire(session, d, locked=locked, now=now) for d in done]
                await session.commit()
            for deadline, change in zip(done, outcomes, strict=True):
                metrics.fired(deadline.kind, change.outcome, due=deadline.due_at, now=now)
            fired += len(done)
        return fired
