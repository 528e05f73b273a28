"""Reports: how a community's (or one grid's) alarms went over a period, real alarms and drills
counted apart.

`summary` is the board's glance over the last days; `monthly` is the monthly meeting's
(每月治安形势分析) figures for one calendar month of the community's own time zone: counts by
type, group, grid and hour of day, false alarms and duress, response times from the alarms'
events (median and p90), escalations by level, delivery by channel from the outbox and its
receipts, and the households the service cannot reach. docs/report.md says how each is counted.
"""

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select

from groups.models import Community, Credential, Grid, Group, Household, Resident
from notifier.models import FAILED, PENDING, SENDING, SENT, UNDELIVERED, WITHDRAWN, OutboxMessage
from notifier.push.models import PushSubscription
from server.alarms.models import Alert, AlertEvent, AlertType, Answer, Audience, EventType, Outcome
from server.errors import Invalid, NotFound
from storage.db import AsyncSession


async def summary(
    session: AsyncSession,
    *,
    community_id: int,
    since: datetime,
    until: datetime,
    grid_id: int | None = None,
) -> dict[str, Any]:
    """Counts by type, status and outcome, confirmed and duress alarms, and how fast the patrol
    took them — for real alarms and for drills separately (of one grid, if given)."""
    query = select(Alert).where(
        Alert.community_id == community_id,
        Alert.created_at >= since,
        Alert.created_at < until,
    )
    if grid_id is not None:
        query = query.where(Alert.grid_id == grid_id)
    rows = await session.scalars(query)
    report: dict[str, Any] = {"since": since, "until": until}
    kinds: dict[str, list[Alert]] = {"real": [], "drills": []}
    for alert in rows:
        kinds["drills" if alert.drill else "real"].append(alert)
    for name, alerts in kinds.items():
        waits = [(a.taken_at - a.created_at).total_seconds() for a in alerts if a.taken_at]
        report[name] = {
            "total": len(alerts),
            "by_type": _count(a.type for a in alerts),
            "by_status": _count(a.status for a in alerts),
            "by_outcome": _count(a.outcome for a in alerts if a.outcome),
            "confirmed": sum(a.confirmed for a in alerts),
            "duress": sum(a.duress for a in alerts),
            "escalated": sum(a.widened or a.patrol_cycles > 0 for a in alerts),
            "median_seconds_to_take": statistics.median(waits) if waits else None,
        }
    return report


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


# -- the monthly report ----------------------------------------------------------------------

RESPONSES = ("first_coming", "taken", "on_scene", "closed")
"""The response times, each from the alarm's raising to its first event of that kind."""
LEVELS = ("neighbours", "patrol", "police")
"""Escalation levels, as `alert.escalated` events name them."""
CHANNELS = ("sms", "voice", "push")
DELIVERED = {
    "sms": frozenset({"delivered", "read"}),
    "voice": frozenset({"in-progress", "answered", "completed"}),
}
"""The receipts that say a text arrived or a call was picked up. A push service says nothing
after accepting a push, so a push it accepted counts as delivered."""
_WANTED = (
    EventType.RESPONSE,
    EventType.ACKNOWLEDGED,
    EventType.ON_SCENE,
    EventType.ESCALATED,
    EventType.RESOLVED,
    EventType.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month of the community's time zone, and the UTC instants it spans."""

    year: int
    month: int
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, *, timezone: str) -> "Month":
        """`YYYY-MM`; Invalid for anything else."""
        year, _, month = text.partition("-")
        if not (len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
            raise Invalid("month {month} is not YYYY-MM (for example 2026-11)", month=text[:20])
        if not 1 <= int(month) <= 12 or not 2000 <= int(year) <= 2999:
            raise Invalid("month {month} is not a month", month=text[:20])
        return cls(int(year), int(month), ZoneInfo(timezone))

    @classmethod
    def of(cls, moment: datetime, *, timezone: str) -> "Month":
        """The month a moment falls in, in that time zone."""
        local = moment.astimezone(ZoneInfo(timezone))
        return cls(local.year, local.month, ZoneInfo(timezone))

    @property
    def since(self) -> datetime:
        """The month's first local midnight, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=self.zone).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The next month's first local midnight, in UTC."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=self.zone).astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of them at or
    below it (p90 of ten values is the ninth smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """How many, the median and the p90 of some durations in seconds."""
    return {
        "count": len(values),
        "median_seconds": statistics.median(values) if values else None,
        "p90_seconds": percentile(values, 0.9),
    }


async def monthly(
    session: AsyncSession,
    *,
    community_id: int,
    month: str | None,
    grid_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The monthly meeting's figures for a month (this month when None) of the community, or
    of one of its grids; drills are counted apart with the same figures. NotFound for a grid
    that is not the community's."""
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound("no such community")
    span = (
        Month.parse(month, timezone=community.timezone)
        if month
        else Month.of(now, timezone=community.timezone)
    )
    grid = None
    if grid_id is not None:
        grid = await session.scalar(
            select(Grid).where(Grid.id == grid_id, Grid.community_id == community_id)
        )
        if grid is None:
            raise NotFound("no grid {grid} in this community", grid=grid_id)
    scope = [
        Alert.community_id == community_id,
        Alert.created_at >= span.since,
        Alert.created_at < span.until,
    ]
    if grid_id is not None:
        scope.append(Alert.grid_id == grid_id)
    alerts = list(await session.scalars(select(Alert).where(*scope).order_by(Alert.id)))
    events = await _events(session, scope)
    jobs = await _jobs(session, scope)
    names = await _names(session, community_id=community_id)
    real = [a for a in alerts if not a.drill]
    drills = [a for a in alerts if a.drill]
    return {
        "month": str(span),
        "community": community.name,
        "timezone": community.timezone,
        "grid": {"id": grid.id, "name": grid.name} if grid is not None else None,
        "grids": [{"id": k, "name": v} for k, v in sorted(names.grids.items(), key=lambda g: g[1])],
        "since": span.since,
        "until": span.until,
        "generated_at": now,
        "figures": _figures(real, events, jobs, names, span.zone),
        "drills": _figures(drills, events, jobs, names, span.zone),
        "unreachable": await unreachable(
            session, community_id=community_id, grid_id=grid_id, until=span.until, now=now
        ),
    }


@dataclass(frozen=True, slots=True)
class _Names:
    groups: dict[int, str]
    grids: dict[int, str]


async def _names(session: AsyncSession, *, community_id: int) -> _Names:
    groups = await session.execute(
        select(Group.id, Group.name).where(Group.community_id == community_id)
    )
    grids = await session.execute(
        select(Grid.id, Grid.name).where(Grid.community_id == community_id)
    )
    return _Names(groups=dict(groups.all()), grids=dict(grids.all()))


async def _events(
    session: AsyncSession, scope: list[ColumnElement[bool]]
) -> dict[int, list[AlertEvent]]:
    """The events that time the alarms in scope, by alarm, oldest first."""
    rows = await session.scalars(
        select(AlertEvent)
        .join(Alert, Alert.id == AlertEvent.alert_id)
        .where(*scope, AlertEvent.type.in_(_WANTED))
        .order_by(AlertEvent.id)
    )
    found: dict[int, list[AlertEvent]] = defaultdict(list)
    for event in rows:
        if event.alert_id is not None:  # the join keeps alarms' events only (not roll calls')
            found[event.alert_id].append(event)
    return found


async def _jobs(
    session: AsyncSession, scope: list[ColumnElement[bool]]
) -> dict[int, list[tuple[str, str, str | None]]]:
    """(channel, status, delivery status) of every outbox job of the alarms in scope, by alarm."""
    rows = await session.execute(
        select(
            OutboxMessage.alert_id,
            OutboxMessage.channel,
            OutboxMessage.status,
            OutboxMessage.delivery_status,
        )
        .join(Alert, Alert.id == OutboxMessage.alert_id)
        .where(*scope)
    )
    found: dict[int, list[tuple[str, str, str | None]]] = defaultdict(list)
    for alert_id, channel, status, delivery in rows:
        if alert_id is not None:  # always, by the join
            found[alert_id].append((channel, status, delivery))
    return found


def _figures(
    alerts: list[Alert],
    events: dict[int, list[AlertEvent]],
    jobs: dict[int, list[tuple[str, str, str | None]]],
    names: _Names,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The figures of some alarms: counts, response times, escalations and delivery."""
    by_group = Counter(a.group_id for a in alerts)
    by_grid = Counter(a.grid_id for a in alerts)
    hours = [0] * 24
    for alert in alerts:
        hours[alert.created_at.astimezone(zone).hour] += 1
    waits: dict[str, list[float]] = {name: [] for name in RESPONSES}
    escalations = {level: {"events": 0, "alarms": 0} for level in LEVELS}
    for alert in alerts:
        for name, at in _firsts(events.get(alert.id, [])).items():
            waits[name].append((at - alert.created_at).total_seconds())
        levels = [
            str(e.data.get("level"))
            for e in events.get(alert.id, [])
            if e.type == EventType.ESCALATED
        ]
        for level in levels:
            escalations.setdefault(level, {"events": 0, "alarms": 0})["events"] += 1
        for level in set(levels):
            escalations[level]["alarms"] += 1
    return {
        "total": len(alerts),
        "by_type": {kind.value: sum(a.type == kind for a in alerts) for kind in AlertType},
        "by_group": _ranked(by_group, names.groups),
        "by_grid": _ranked(by_grid, names.grids),
        "by_hour": hours,
        "by_outcome": {o.value: sum(a.outcome == o for a in alerts) for o in Outcome},
        "false_alarms": sum(a.outcome == Outcome.FALSE_ALARM for a in alerts),
        "duress": sum(a.duress for a in alerts),
        "response": {name: spread(values) for name, values in waits.items()},
        "escalations": escalations,
        "delivery": delivery(job for a in alerts for job in jobs.get(a.id, [])),
    }


def _firsts(events: Iterable[AlertEvent]) -> dict[str, datetime]:
    """When an alarm's first neighbour said coming, it was taken (or someone arrived, which
    takes it), someone was on scene, and it was closed (resolved or cancelled; the cancel a
    raiser under duress is shown does not close it)."""
    firsts: dict[str, datetime] = {}

    def first(name: str, at: datetime) -> None:
        firsts.setdefault(name, at)

    for event in events:
        if event.type == EventType.RESPONSE and event.data.get("answer") == Answer.COMING:
            first("first_coming", event.created_at)
        elif event.type == EventType.ACKNOWLEDGED:
            first("taken", event.created_at)
        elif event.type == EventType.ON_SCENE:
            first("taken", event.created_at)
            first("on_scene", event.created_at)
        elif event.type == EventType.RESOLVED or (
            event.type == EventType.CANCELLED and event.audience != Audience.GROUP
        ):
            first("closed", event.created_at)
    return firsts


def _ranked(counts: Counter[int | None], names: dict[int, str]) -> list[dict[str, Any]]:
    """[{id, name, count}], most first, then by name; the alarms of no group or grid (a
    caller the register does not know) as id None."""
    rows = [
        {"id": key, "name": names.get(key, "") if key is not None else None, "count": n}
        for key, n in counts.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["name"] is None, r["name"] or ""))


def delivery(jobs: Iterable[tuple[str, str, str | None]]) -> dict[str, dict[str, Any]]:
    """Per channel, how the outbox jobs went, each job counted once: delivered (its receipt
    says so; a push once its push service took it), failed (the provider refused it, or its
    receipt says undelivered), sent (taken by the provider, no receipt yet), pending (not yet
    sent), withdrawn (an all clear came first); `rate` = delivered / (delivered + sent +
    failed), None when nothing left."""
    table = {
        channel: {"total": 0, "delivered": 0, "sent": 0, "failed": 0, "pending": 0, "withdrawn": 0}
        for channel in CHANNELS
    }
    for channel, status, receipt in jobs:
        counts = table.setdefault(
            channel,
            {"total": 0, "delivered": 0, "sent": 0, "failed": 0, "pending": 0, "withdrawn": 0},
        )
        counts["total"] += 1
        counts[_outcome(channel, status, receipt)] += 1
    result: dict[str, dict[str, Any]] = {}
    for channel, counts in table.items():
        left = counts["delivered"] + counts["sent"] + counts["failed"]
        rate = counts["delivered"] / left if left else None
        result[channel] = {**counts, "rate": rate}
    return result


def _outcome(channel: str, status: str, receipt: str | None) -> str:
    if status == FAILED or receipt in UNDELIVERED:
        return "failed"
    if status == WITHDRAWN:
        return "withdrawn"
    if status in (PENDING, SENDING):
        return "pending"
    if status == SENT and (channel == "push" or receipt in DELIVERED.get(channel, ())):
        return "delivered"
    return "sent"


async def unreachable(
    session: AsyncSession, *, community_id: int, grid_id: int | None, until: datetime, now: datetime
) -> dict[str, Any]:
    """The households (of a grid, if given) the service cannot reach, counted simply.

    By text: a household is out of reach when none of its residents has a phone, or when the
    last text sent to any of them before `until` failed. By the app: when none of its residents
    has a push subscription or a live app session (as of now: the service keeps no history of
    them). Unreachable: out of reach by text and by the app. The addresses are listed."""
    query = select(Household.id, Household.address).where(Household.community_id == community_id)
    if grid_id is not None:
        query = query.where(Household.grid_id == grid_id)
    households = dict((await session.execute(query)).all())
    in_scope = query.with_only_columns(Household.id).scalar_subquery()
    people = await session.execute(
        select(Resident.id, Resident.household_id, Resident.phone).where(
            Resident.household_id.in_(in_scope)
        )
    )
    household_of: dict[int, int] = {}
    phoned: set[int] = set()
    for resident_id, household_id, phone in people:
        household_of[resident_id] = household_id
        if phone:
            phoned.add(household_id)
    last = (
        select(Resident.household_id, func.max(OutboxMessage.id).label("job_id"))
        .join(OutboxMessage, OutboxMessage.resident_id == Resident.id)
        .where(
            Resident.household_id.in_(in_scope),
            OutboxMessage.channel == "sms",
            OutboxMessage.created_at < until,
            OutboxMessage.status.in_((SENT, FAILED)),
        )
        .group_by(Resident.household_id)
        .subquery()
    )
    outcomes = await session.execute(
        select(last.c.household_id, OutboxMessage.status, OutboxMessage.delivery_status).join(
            OutboxMessage, OutboxMessage.id == last.c.job_id
        )
    )
    text_failed = {
        household_id
        for household_id, status, receipt in outcomes
        if _outcome("sms", status, receipt) == "failed"
    }
    pushed = await session.scalars(
        select(PushSubscription.resident_id).where(PushSubscription.community_id == community_id)
    )
    sessions = await session.scalars(
        select(Credential.resident_id).where(
            Credential.community_id == community_id,
            Credential.kind == "session",
            Credential.resident_id.is_not(None),
            Credential.revoked_at.is_(None),
            (Credential.expires_at.is_(None)) | (Credential.expires_at > now),
        )
    )
    with_app = {household_of[r] for r in [*pushed, *sessions] if r in household_of}
    no_phone = set(households) - phoned
    no_text = no_phone | text_failed
    out_of_reach = no_text - with_app
    return {
        "households": len(households),
        "no_phone": len(no_phone),
        "last_text_failed": len(text_failed),
        "no_app": len(set(households) - with_app),
        "unreachable": len(out_of_reach),
        "addresses": sorted(households[h] for h in out_of_reach),
    }
