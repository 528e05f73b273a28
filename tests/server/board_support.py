"""What the board's tests share: a second patrol member, alarms moved back in time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from groups import directory
from server import accounts
from server.alarms.models import Alert
from storage.db import create_engine, create_sessionmaker

SECOND_MEMBER = "巡逻队员 周涛"


async def add_patrol_member(
    url: str, community_id: int, *, name: str = SECOND_MEMBER
) -> tuple[int, str]:
    """Another patrol member of the community: (staff id, credential)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            staff = await directory.add_staff(
                session,
                community_id=community_id,
                name=name,
                phone="+8613900000099" if name == SECOND_MEMBER else "+8613900000098",
                role="patrol_member",
            )
            token = await accounts.issue(session, community_id=community_id, staff_id=staff.id)
            await session.commit()
            return staff.id, token
    finally:
        await engine.dispose()


async def raised_at(url: str, alert_id: int, at: datetime) -> None:
    """Say an alarm was raised at another time (history's date range)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(update(Alert).where(Alert.id == alert_id).values(created_at=at))
            await session.commit()
    finally:
        await engine.dispose()
