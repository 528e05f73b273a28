"""What a channel holds: its newest event id and the events after one, as sockets resume."""

import pytest

from groups.models import Community, Group
from server.alarms import events
from server.alarms.models import Alert, AlertEvent, AlertGroup
from storage.db import AsyncSession


async def _event(session: AsyncSession, alert: Alert, audience: str = "all") -> int:
    event = AlertEvent(
        alert_id=alert.id,
        community_id=alert.community_id,
        group_id=alert.group_id,
        type="alert.raised",
        actor="resident:1",
        audience=audience,
        data={"status": "open", "household": "B11-1-301", "by": "李磊"},
    )
    session.add(event)
    await session.flush()
    return event.id


@pytest.mark.postgres
async def test_head_and_after_follow_groups_widened_alarms_and_audiences(
    session: AsyncSession,
) -> None:
    community = Community(name="丰乐社区")
    session.add(community)
    await session.flush()
    a, b, c = (Group(community_id=community.id, name=name) for name in "ABC")
    session.add_all([a, b, c])
    await session.flush()
    in_a = Alert(community_id=community.id, group_id=a.id, type="help")
    in_c = Alert(community_id=community.id, group_id=c.id, type="fire")
    session.add_all([in_a, in_c])
    await session.flush()
    session.add(AlertGroup(alert_id=in_a.id, group_id=b.id))  # A's alarm widened to B
    first = await _event(session, in_a)
    other = await _event(session, in_c)
    duress = await _event(session, in_a, audience="board")
    shown = await _event(session, in_a, audience="group")
    last = await _event(session, in_c)

    async def after(channel: str, event_id: int = 0, limit: int = 10) -> list[int]:
        found = await events.after(session, channel=channel, event_id=event_id, limit=limit)
        return [event_id for event_id, _ in found]

    assert await after(f"group:{a.id}") == [first, shown]
    assert await after(f"group:{b.id}") == [first, shown]
    assert await after(f"group:{c.id}") == [other, last]
    assert await after(f"board:{community.id}") == [first, other, duress, last]
    assert await after(f"board:{community.id}", other) == [duress, last]
    assert await after(f"board:{community.id}", limit=1) == [first]
    replayed = dict(await events.after(session, channel=f"board:{community.id}", event_id=0))
    stored = await session.get(AlertEvent, duress)
    assert stored is not None
    assert replayed[duress] == events.render(stored)  # the wire form live events have
    assert await events.head(session, channel=f"group:{a.id}") == shown
    assert await events.head(session, channel=f"group:{b.id}") == shown
    assert await events.head(session, channel=f"group:{c.id}") == last
    assert await events.head(session, channel=f"board:{community.id}") == last
    assert await events.head(session, channel=f"group:{c.id + 100}") == 0
    assert await events.head(session) == last
    for channel in ("street:1", "group:x", "group"):
        with pytest.raises(ValueError, match="unknown channel"):
            await events.head(session, channel=channel)
