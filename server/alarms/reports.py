"""Reports: how a community's alarms went over a period, real alarms and drills counted apart."""

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import select

from server.alarms.models import Alert
from storage.db import AsyncSession


async def summary(
    session: AsyncSession, *, community_id: int, since: datetime, until: datetime
) -> dict[str, Any]:
    """Counts by type, status and outcome, confirmed and duress alarms, and how fast the patrol
    took them — for real alarms and for drills separately."""
    rows = await session.scalars(
        select(Alert).where(
            Alert.community_id == community_id,
            Alert.created_at >= since,
            Alert.created_at < until,
        )
    )
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
