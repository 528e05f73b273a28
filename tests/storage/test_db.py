"""update_one and read: rows changed or read by statements, then ordinary
persistent objects."""

import gc
import weakref

from sqlalchemy import event, select

from groups.models import Community
from storage.db import (
    AsyncSession,
    read,
    update_one,
)


async def test_update_one_writes_the_row_and_leaves_nothing_to_flush(
    session: AsyncSession,
) -> None:
    community = Community(name="东湖社区")
    session.add(community)
    await session.flush()
    other = Community(name="西湖社区")
    session.add(other)
    await session.flush()
    statements: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    community.name = "东湖新社区"  # an ordinary change beside it still flushes
    update_one(session, community, timezone="Asia/Urumqi")
    assert community.timezone == "Asia/Urumqi"
    assert statements == [], "written with the transaction's other changes"
    await session.commit()
    assert [s.split()[0].upper() for s in statements] == ["UPDATE", "UPDATE"]
    assert "timezone" in statements[0]
    assert "name" not in statements[0]
    assert "name" in statements[1]
    assert "timezone" not in statements[1], "timezone is written already"

    session.expunge_all()
    stored = await read(session, select(Community.name, Community.timezone).order_by(Community.id))
    assert stored == [("东湖新社区", "Asia/Urumqi"), ("西湖社区", "Asia/Shanghai")]


async def test_update_one_of_a_new_object_is_an_ordinary_change(session: AsyncSession) -> None:
    community = Community(name="东湖社区")
    session.add(community)
    update_one(session, community, timezone="Asia/Urumqi")
    await session.commit()
    session.expunge_all()
    stored = await read(session, select(Community.name, Community.timezone))
    assert stored == [("东湖社区", "Asia/Urumqi")]


async def test_update_one_is_undone_by_a_rollback(session: AsyncSession) -> None:
    community = Community(name="东湖社区")
    session.add(community)
    await session.commit()
    update_one(session, community, timezone="Asia/Urumqi")
    await session.rollback()
    session.expunge_all()
    assert await read(session, select(Community.timezone)) == [("Asia/Shanghai",)]


async def test_the_connection_follows_the_sessions_transactions(session: AsyncSession) -> None:
    session.add(Community(name="东湖社区"))
    await session.commit()
    session.add(Community(name="西湖社区"))
    await session.rollback()
    assert await read(session, select(Community.name)) == [("东湖社区",)]


async def test_a_closed_session_keeps_no_transaction_alive(session: AsyncSession) -> None:
    await read(session, select(Community.name))
    transaction = weakref.ref(session.sync_session.get_transaction())
    assert transaction() is not None
    await session.close()
    gc.collect()
    assert transaction() is None, "a socket holds its closed session for hours"
