"""Seen: a resident's device showed an alarm — the app displayed it, or the service worker
showed its notification. The first time per household and way is stored and put on the board
(`alert.seen`, staff only); later ones change nothing, so a device may say it as often as it
shows the alarm."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from server.accounts import Principal
from server.alarms import store, views
from server.alarms.change import Change
from server.alarms.models import AlertSeen, Audience, Channel, EventType, SeenVia
from server.errors import Forbidden
from storage.db import AsyncSession


@dataclass(frozen=True, slots=True)
class Seen:
    """A first sighting, as stored."""

    alert_id: int
    household: str | None
    via: SeenVia
    seen_at: datetime


async def mark(
    session: AsyncSession, *, principal: Principal, alert_id: int, via: SeenVia, now: datetime
) -> Seen | None:
    """Record that the principal's household saw an alarm it may read, the first time per way;
    None when it was known already (or it is the household's own alarm: nothing to tell).
    NotFound for an alarm outside the caller's scope. The caller commits."""
    if principal.kind != "resident" or principal.household_id is None:
        raise Forbidden("only a resident's device says it showed an alarm")
    await views.one(session, principal=principal, alert_id=alert_id)
    await store.lock(session, principal.community_id)  # one first sighting, its event in order
    alert = await store.alarm(session, alert_id=alert_id)
    if alert is None or alert.household_id == principal.household_id:
        return None
    known = await session.scalar(
        select(AlertSeen.id).where(
            AlertSeen.alert_id == alert_id,
            AlertSeen.household_id == principal.household_id,
            AlertSeen.via == via,
        )
    )
    if known is not None:
        return None
    session.add(
        AlertSeen(
            alert_id=alert_id,
            household_id=principal.household_id,
            resident_id=principal.resident_id,
            via=via,
            seen_at=now,
        )
    )
    await store.record(
        session,
        Change(alert, outcome=via),
        type=EventType.SEEN,
        actor=f"resident:{principal.resident_id}",
        channel=Channel.APP,
        now=now,
        audience=Audience.BOARD,
        data={
            "seen_by": principal.address,
            "recipient_key": f"household:{principal.household_id}",
            "via": via,
        },
    )
    return Seen(alert_id=alert_id, household=principal.address, via=via, seen_at=now)
