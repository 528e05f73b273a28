"""Sirens, strobes and loudspeakers as outbox jobs of the `device` channel (`to` = the device's
id): an alarm's "on" (or a loudspeaker's words) is queued in the press's own transaction, due
at the end of the cancel window, so a cancel inside the window withdraws it before it sounds;
the alarm's close (resolved, cancelled, or a duress cancel shown as one) withdraws what has
not gone and queues "off" to each siren that was turned on. The outbox worker publishes the
body's payload to its topic through the device link: once, across restarts, like a text.

A batch of presses reads the community's sounders once (`prefetch`, in the batch's memo).
"""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from groups.address import parse_address
from groups.hardware import SOUNDERS, Device, Kind
from notifier.models import PENDING, SENDING, SENT, WITHDRAWN, OutboxMessage
from server import words
from server.alarms import texts
from server.alarms.models import Alert
from server.runtime.work import texts_queued
from storage import deferred
from storage.db import AsyncSession, memo, read, table_of

CHANNEL = "device"
SOUND_FOR = timedelta(minutes=30)
"""How long after its due time an "on" may still go out (a broker away longer: it is stale)."""

_OUTBOX = table_of(OutboxMessage)
_SOUNDERS = select(
    Device.id, Device.kind, Device.building, Device.group_id, Device.command_topic
).where(
    Device.community_id == bindparam("community_id"),
    Device.kind.in_(sorted(SOUNDERS)),
    Device.command_topic.is_not(None),
)


async def prefetch(session: AsyncSession, *, community_id: int) -> list[Any]:
    """The community's sounders, read once a transaction."""
    cache = memo(session)
    rows: list[Any] | None = cache.get(("sounders", community_id))
    if rows is None:
        found = await read(session, _SOUNDERS, {"community_id": community_id})
        rows = cache[("sounders", community_id)] = list(found.all())
    return rows


def _body(topic: str, command: str, payload: dict[str, Any]) -> str:
    return json.dumps(
        {"topic": topic, "command": command, "payload": payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def spoken(alert: Alert, *, language: str = "zh") -> str:
    """What a loudspeaker says of an alarm: "B11 栋 3 单元 301 求助" (a drill says so)."""
    kind = texts.type_name(alert.type, language=language)
    try:
        place = parse_address(alert.address or "")
        text = words.say(
            "hardware.say",
            language=language,
            building=place.building,
            unit=place.unit,
            room=place.room,
            type=kind,
        )
    except ValueError:
        text = f"{alert.address or ''} {kind}".strip()
    return words.say("hardware.say.drill", language=language, text=text) if alert.drill else text


async def sound(
    session: AsyncSession,
    *,
    alert: Alert,
    building: str | None,
    event_id: int | None,
    now: datetime,
    cancel_seconds: int,
) -> int:
    """Queue "on" for the sirens and strobes and the words for the loudspeakers that sound for
    the alarm's building (and group), due when its cancel window ends; returns how many."""
    due = now + timedelta(seconds=cancel_seconds)
    rows = []
    for device_id, kind, of_building, of_group, topic in await prefetch(
        session, community_id=alert.community_id
    ):
        if of_building is not None and of_building != building:
            continue
        if of_group is not None and of_group != alert.group_id:
            continue
        facts = {"alert_id": alert.id, "type": str(alert.type), "drill": alert.drill}
        if kind == Kind.SPEAKER:
            body = _body(topic, "say", {"text": spoken(alert), **facts})
        else:
            body = _body(topic, "on", {"state": "ON", **facts})
        rows.append(_row(alert, device_id=device_id, body=body, event_id=event_id, at=due, now=now))
    if rows:
        deferred.add_all(session, _OUTBOX, rows)
        texts_queued(session, len(rows))
    return len(rows)


def _row(
    alert: Alert, *, device_id: int, body: str, event_id: int | None, at: datetime, now: datetime
) -> Any:
    return {
        "community_id": alert.community_id,
        "alert_id": alert.id,
        "event_id": event_id,
        "resident_id": None,
        "staff_id": None,
        "to": str(device_id),
        "channel": CHANNEL,
        "body": body,
        "next_attempt_at": at,
        "expires_at": at + SOUND_FOR,
        "created_at": now,
    }


async def silence(session: AsyncSession, *, alert: Alert, event_id: int, now: datetime) -> int:
    """The alarm closed: withdraw its device jobs not yet sent, and queue "off" to each siren
    or strobe turned on for it (and not yet turned off); returns how many offs."""
    mine = (OutboxMessage.alert_id == alert.id, OutboxMessage.channel == CHANNEL)
    await session.execute(
        update(OutboxMessage).where(*mine, OutboxMessage.status == PENDING).values(status=WITHDRAWN)
    )
    found = await session.execute(
        select(OutboxMessage.to, OutboxMessage.body, OutboxMessage.status)
        .where(*mine, OutboxMessage.status.in_((PENDING, SENDING, SENT)))
        .order_by(OutboxMessage.id)
    )
    on: dict[str, str] = {}
    off: set[str] = set()
    for to, body, status in found:
        job = json.loads(body)
        if job.get("command") == "on" and status != PENDING:
            on[to] = job["topic"]
        elif job.get("command") == "off":
            off.add(to)
    rows = [
        _row(
            alert,
            device_id=int(to),
            body=_body(topic, "off", {"state": "OFF", "alert_id": alert.id, "drill": alert.drill}),
            event_id=event_id,
            at=now,
            now=now,
        )
        for to, topic in on.items()
        if to not in off
    ]
    if rows:
        deferred.add_all(session, _OUTBOX, rows)
        texts_queued(session, len(rows))
    return len(rows)
