"""Write-behind inserts: rows and objects added are written together when something reads
through the session, flushes or commits; their ids are reserved at once; a rollback forgets."""

from sqlalchemy import event, func, select

from groups.models import Community
from storage import deferred
from storage.db import AsyncSession, read, table_of

COMMUNITIES = table_of(Community)


def _inserts(session: AsyncSession) -> list[str]:
    statements: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(
        engine,
        "before_cursor_execute",
        lambda *a: statements.append(a[2]) if a[2].upper().startswith("INSERT") else None,
    )
    return statements


async def test_rows_are_written_together_when_the_session_reads(session: AsyncSession) -> None:
    inserts = _inserts(session)
    ids = [await deferred.next_id(session, COMMUNITIES) for _ in range(20)]
    assert ids == sorted(set(ids)), "distinct ids, in increasing order"
    for i, ident in enumerate(ids[:10]):
        deferred.add(session, COMMUNITIES, {"id": ident, "name": f"社区{i}", "timezone": "UTC"})
    obj = Community(id=ids[10], name="东湖社区")
    deferred.add_object(session, obj)
    assert obj.timezone == "Asia/Shanghai", "an added object reads with its defaults"
    assert inserts == [], "nothing written yet"

    counted = (await read(session, select(func.count()).select_from(COMMUNITIES))).scalar_one()
    assert counted == 11
    assert len(inserts) == 2, "one statement for the rows, one for the object (other keys)"
    assert await session.get(Community, ids[10]) is obj, "the object joined the session"

    deferred.add(session, COMMUNITIES, {"id": ids[11], "name": "西湖社区", "timezone": "UTC"})
    names = await session.scalars(select(Community.name).order_by(Community.id))
    assert "西湖社区" in list(names), "an ORM query is a barrier too"
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(COMMUNITIES)) == 12


async def test_a_rollback_forgets_what_was_added(session: AsyncSession) -> None:
    ident = await deferred.next_id(session, COMMUNITIES)
    deferred.add(session, COMMUNITIES, {"id": ident, "name": "南湖社区", "timezone": "UTC"})
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(COMMUNITIES)) == 0
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(COMMUNITIES)) == 0


async def test_a_commit_writes_what_was_added(session: AsyncSession) -> None:
    ident = await deferred.next_id(session, COMMUNITIES)
    deferred.add(session, COMMUNITIES, {"id": ident, "name": "北湖社区", "timezone": "UTC"})
    await session.commit()
    found = await session.scalar(select(Community.name).where(Community.id == ident))
    assert found == "北湖社区"
    later = await deferred.next_id(session, COMMUNITIES)
    assert later > ident, "the next transaction's ids come after the stored ones"
