"""insert_one: a new row by one INSERT, then an ordinary persistent object of the session."""

from datetime import datetime

from sqlalchemy import event, select

from groups.db import AsyncSession, insert_one
from groups.models import Community


async def test_insert_one_stores_defaults_and_later_changes_flush_as_an_update(
    session: AsyncSession,
) -> None:
    statements: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    community = Community(name="东湖社区")
    await insert_one(session, community)
    assert community.id is not None
    assert [s.split()[0].upper() for s in statements if "communities" in s] == ["INSERT"]
    assert community.timezone == "Asia/Shanghai", "a scalar default is on the object"
    assert isinstance(community.created_at, datetime), "so is a callable one"
    assert community in session
    assert community not in session.new, "persistent, not pending"

    community.timezone = "Asia/Urumqi"
    await session.commit()
    assert [s.split()[0].upper() for s in statements if "communities" in s] == [
        "INSERT",
        "UPDATE",
    ]
    session.expunge_all()
    stored = (await session.execute(select(Community.name, Community.timezone))).one()
    assert tuple(stored) == ("东湖社区", "Asia/Urumqi")
