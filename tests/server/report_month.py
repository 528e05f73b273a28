"""A month of alarms with known events, written straight into the store on a controlled clock:
the report tests compare what the service counts with what they worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from groups.models import Household, Resident
from notifier.models import OutboxMessage
from notifier.push.models import PushSubscription
from server.alarms.models import (
    Alert,
    AlertEvent,
    AlertType,
    Audience,
    EventType,
    Outcome,
    Status,
)
from storage.db import create_engine, create_sessionmaker

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(month: int, day: int, hour: int, minute: int, year: int = 2026) -> datetime:
    """A moment of the community's own time (Asia/Shanghai), in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Spec:
    """One alarm: who, what, when, how many seconds after the press each step came."""

    address: str
    type: AlertType
    at: datetime
    coming: int | None = None
    taken: int | None = None
    on_scene: int | None = None
    closed: int | None = None
    cancelled: bool = False
    outcome: Outcome | None = None
    duress: bool = False
    drill: bool = False
    escalations: list[str] = field(default_factory=list)
    jobs: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    """(channel, status, delivery status, the address of the resident it went to)."""


H = AlertType.HELP
MONTH = [
    Spec(
        "B11-1-101",
        H,
        local(11, 2, 8, 15),
        20,
        40,
        300,
        900,
        outcome=Outcome.HANDLED,
        jobs=[("sms", "sent", "delivered", "B11-1-202")] * 3 + [("push", "sent", "201", None)] * 2,
    ),
    Spec(
        "B11-1-102",
        AlertType.MEDICAL,
        local(11, 3, 8, 40),
        35,
        60,
        420,
        1500,
        outcome=Outcome.MEDICAL,
        jobs=[
            ("sms", "sent", "delivered", "B11-1-202"),
            ("sms", "sent", "delivered", "B11-1-202"),
            ("sms", "sent", "undelivered", "B11-1-401"),
            ("voice", "sent", "completed", None),
        ],
    ),
    Spec(
        "B11-1-201",
        AlertType.FIRE,
        local(11, 5, 14, 5),
        50,
        95,
        600,
        2400,
        outcome=Outcome.HANDLED,
        escalations=["neighbours", "patrol"],
        jobs=[("sms", "sent", "sent", None), ("voice", "sent", "no-answer", None)],
    ),
    Spec(
        "B11-2-101",
        H,
        local(11, 9, 21, 30),
        None,
        120,
        700,
        1800,
        outcome=Outcome.HANDLED,
        escalations=["neighbours", "patrol", "patrol"],
        jobs=[("sms", "failed", None, "B11-2-201")],
    ),
    Spec(
        "B11-2-102",
        AlertType.INTRUSION,
        local(11, 12, 2, 10),
        15,
        30,
        None,
        200,
        cancelled=True,
        outcome=Outcome.FALSE_ALARM,
        jobs=[("sms", "withdrawn", None, None)] * 2 + [("sms", "sent", "delivered", None)],
    ),
    Spec(
        "B12-1-101",
        AlertType.DISPUTE,
        local(11, 15, 21, 45),
        40,
        70,
        500,
        1200,
        outcome=Outcome.POLICE,
        escalations=["police"],
        jobs=[("sms", "sent", "delivered", None), ("push", "sent", "201", None)],
    ),
    Spec(
        "B12-1-102",
        AlertType.MEDICAL,
        local(11, 18, 8, 5),
        25,
        45,
        350,
        1000,
        outcome=Outcome.MEDICAL,
        duress=True,
        escalations=["patrol"],
        jobs=[("push", "failed", None, None)],
    ),
    Spec(
        "B12-1-201",
        AlertType.OTHER,
        local(11, 22, 13, 0),
        60,
        150,
        800,
        3000,
        outcome=Outcome.FALSE_ALARM,
        escalations=["patrol"],
        jobs=[("sms", "pending", None, None)],
    ),
    Spec(
        "B12-2-101",
        H,
        local(11, 27, 21, 10),
        30,
        80,
        450,
        1600,
        outcome=Outcome.HANDLED,
        jobs=[("sms", "sent", "delivered", "B11-1-202")] * 2,
    ),
    Spec("B12-2-102", H, local(11, 30, 23, 30)),  # still open at the month's end
]
DRILLS = [
    Spec(
        "B11-1-301",
        H,
        local(11, 10, 10, 0),
        10,
        20,
        None,
        100,
        outcome=Outcome.HANDLED,
        drill=True,
        jobs=[("sms", "sent", "delivered", None)] * 5,
    ),
    Spec(
        "B12-1-301",
        AlertType.FIRE,
        local(11, 20, 10, 0),
        None,
        50,
        None,
        200,
        outcome=Outcome.HANDLED,
        drill=True,
    ),
]
OUTSIDE = [
    Spec("B11-1-101", H, local(10, 31, 23, 50)),  # October, though November 1st is near
    Spec("B11-1-102", H, local(12, 1, 0, 10)),  # December here; still November 30th in UTC
]
NO_PHONE = "B12-2-201"
"""The household whose only resident has no phone (and no app): out of reach."""
WITH_PUSH = "B11-2-201"
"""The household whose last text failed but which has a push subscription: still reachable."""


async def seed_month(url: str, community_id: int) -> None:
    """Write the month's alarms, their events and outbox jobs, oldest first."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Household, Resident.id)
                .join(Resident, Resident.household_id == Household.id)
                .where(Household.community_id == community_id)
                .order_by(Resident.id)
            )
            households: dict[str, Household] = {}
            residents: dict[str, int] = {}
            for household, resident_id in rows:
                households.setdefault(household.address, household)
                residents.setdefault(household.address, resident_id)
            for spec in sorted([*MONTH, *DRILLS, *OUTSIDE], key=lambda s: s.at):
                await _alarm(session, spec, households[spec.address], residents, community_id)
            await session.execute(
                update(Resident)
                .where(Resident.household_id == households[NO_PHONE].id)
                .values(phone=None)
            )
            session.add(
                PushSubscription(
                    community_id=community_id,
                    resident_id=residents[WITH_PUSH],
                    endpoint="https://push.example/one",
                    p256dh="key",
                    auth="auth",
                )
            )
            await session.commit()
    finally:
        await engine.dispose()


async def _alarm(
    session: AsyncSession,
    spec: Spec,
    household: Household,
    residents: dict[str, int],
    community_id: int,
) -> None:
    def after(seconds: int | None) -> datetime | None:
        return None if seconds is None else spec.at + timedelta(seconds=seconds)

    status = Status.OPEN
    if spec.closed is not None:
        status = Status.CANCELLED if spec.cancelled else Status.RESOLVED
    elif spec.on_scene is not None:
        status = Status.ON_SCENE
    elif spec.taken is not None:
        status = Status.ACKNOWLEDGED
    alert = Alert(
        community_id=community_id,
        group_id=household.group_id,
        household_id=household.id,
        grid_id=household.grid_id,
        address=household.address,
        type=spec.type,
        status=status,
        drill=spec.drill,
        duress=spec.duress,
        outcome=spec.outcome,
        taken_at=after(spec.taken),
        on_scene_at=after(spec.on_scene),
        closed_at=after(spec.closed),
        created_at=spec.at,
        updated_at=spec.at,
    )
    session.add(alert)
    await session.flush()

    def event(
        type: EventType, seconds: int, audience: Audience = Audience.ALL, **data: object
    ) -> None:
        session.add(
            AlertEvent(
                alert_id=alert.id,
                community_id=community_id,
                group_id=household.group_id,
                type=type,
                audience=audience,
                data=data,
                created_at=spec.at + timedelta(seconds=seconds),
            )
        )

    event(EventType.RAISED, 0)
    if spec.coming is not None:
        event(EventType.RESPONSE, max(spec.coming - 5, 0), answer="cant")
        event(EventType.RESPONSE, spec.coming, answer="coming")
        event(EventType.RESPONSE, spec.coming + 5, answer="coming")
    if spec.duress:  # the cancel the raiser is shown does not close the alarm
        event(EventType.CANCELLED, 10, Audience.GROUP, status="cancelled")
    for n, level in enumerate(spec.escalations):
        event(EventType.ESCALATED, 45 + n, level=level, reason="test")
    if spec.taken is not None:
        event(EventType.ACKNOWLEDGED, spec.taken)
    if spec.on_scene is not None:
        event(EventType.ON_SCENE, spec.on_scene)
    if spec.closed is not None:
        closing = EventType.CANCELLED if spec.cancelled else EventType.RESOLVED
        event(closing, spec.closed)
    for n, (channel, status_, receipt, to) in enumerate(spec.jobs):
        session.add(
            OutboxMessage(
                community_id=community_id,
                alert_id=alert.id,
                resident_id=residents[to] if to else None,
                channel=channel,
                to="+8613800099999" if channel != "push" else "1",
                body="test",
                status=status_,
                delivery_status=receipt,
                created_at=spec.at + timedelta(seconds=n),
            )
        )
    await session.flush()
