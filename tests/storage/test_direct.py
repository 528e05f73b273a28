"""direct.execute: the same rows as SQLAlchemy's path, in the session's transaction; on SQLite
without SQLAlchemy's execution context."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, event, func, insert, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from groups.models import Community, DutyOverride, Staff
from server.alarms.models import Alert, AlertEvent
from storage import direct
from storage.db import AsyncSession, insert_one, table_of

T0 = datetime(2026, 11, 1, 8, 30, 15, 123456, tzinfo=UTC)


def typed(rows: Sequence[Sequence[Any]]) -> list[tuple[tuple[type, Any], ...]]:
    """Rows with each value's type, so that 1 and True (or a string and a datetime) differ."""
    return [tuple((type(v), v) for v in row) for row in rows]


async def roster(session: AsyncSession) -> tuple[int, list[int]]:
    community = Community(name="东湖社区")
    await insert_one(session, community)
    staff = [
        Staff(community_id=community.id, name=f"队员{i}", phone=f"+8613900000{i:03d}", role=role)
        for i, role in enumerate(["patrol_member", "patrol_leader", "police_office"])
    ]
    session.add_all(staff)
    await session.flush()
    return community.id, [s.id for s in staff]


@pytest.fixture
def contexts(session: AsyncSession) -> list[object]:
    """The execution context of every statement the engine's listeners see."""
    seen: list[object] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[4]))
    return seen


async def test_reads_give_what_sqlalchemy_gives(
    session: AsyncSession, contexts: list[object]
) -> None:
    community_id, staff = await roster(session)
    await direct.execute(
        await session.connection(),
        insert(table_of(DutyOverride)),
        [
            {
                "community_id": community_id,
                "staff_id": s,
                "starts_at": T0,
                "ends_at": T0 + timedelta(hours=1),
                "on_duty": i != 1,
            }
            for i, s in enumerate(staff)
        ],
    )
    overrides = select(
        DutyOverride.staff_id, DutyOverride.starts_at, DutyOverride.on_duty, Community.name
    ).join(Community, Community.id == DutyOverride.community_id)
    reads: list[tuple[Any, dict[str, Any]]] = [
        (
            overrides.where(
                DutyOverride.staff_id.in_(bindparam("ids", expanding=True)),
                DutyOverride.ends_at > bindparam("at"),
            ).order_by(DutyOverride.staff_id),
            {"ids": ids, "at": T0},
        )
        for ids in (staff[:1], staff, [])
    ]
    reads += [
        (
            select(Staff.name).where(Staff.role.in_(["patrol_member", "patrol_leader"])),
            {},
        ),
        (select(func.count()).select_from(DutyOverride).where(DutyOverride.on_duty), {}),
        (select(Community.created_at, Community.timezone), {}),
    ]
    connection = await session.connection()
    for statement, params in reads:
        expected = (await connection.execute(statement, params)).all()
        contexts.clear()
        got: list[tuple[Any, ...]] = await direct.execute(connection, statement, params)
        assert typed(got) == typed(expected)
        if session.bind.dialect.name == "sqlite" and params.get("ids") != []:  # type: ignore[union-attr]
            assert contexts == [None], "past SQLAlchemy's execution context"
    rows: list[tuple[Any, ...]] = await direct.execute(connection, reads[1][0], reads[1][1])
    assert [(s, on) for s, _, on, _ in rows] == list(zip(staff, [True, False, True], strict=True))
    assert rows[0][1] == T0
    assert rows[0][1].tzinfo is not None


async def test_inserts_fill_defaults_and_return_keys(session: AsyncSession) -> None:
    community_id, _ = await roster(session)
    alert = Alert(community_id=community_id, type="help", created_at=T0, updated_at=T0)
    await insert_one(session, alert)
    connection = await session.connection()
    returning = insert(table_of(AlertEvent)).returning(table_of(AlertEvent).c.id)
    ids = [
        (
            await direct.execute(
                connection,
                returning,
                {"alert_id": alert.id, "community_id": community_id, "type": kind, "data": data},
            )
        ).scalar_one()
        for kind, data in [
            ("alert.raised", {"neighbours": 9, "by": "王"}),
            ("alert.acknowledged", {}),
        ]
    ]
    assert ids[1] == ids[0] + 1
    stored = (
        await session.execute(select(AlertEvent).where(AlertEvent.alert_id == alert.id))
    ).scalars()
    assert [(e.id, e.type, e.data, e.actor, e.channel, e.audience) for e in stored] == [
        (ids[0], "alert.raised", {"neighbours": 9, "by": "王"}, "", "app", "all"),
        (ids[1], "alert.acknowledged", {}, "", "app", "all"),
    ]
    created = await session.scalars(select(AlertEvent.created_at))
    assert all(c.tzinfo is not None and c > T0 for c in created), "utcnow filled each one"


async def test_runs_in_the_sessions_transaction(session: AsyncSession) -> None:
    community_id, staff = await roster(session)
    await session.commit()
    connection: AsyncConnection = await session.connection()
    await direct.execute(connection, delete(Staff).where(Staff.id == bindparam("id")), {"id": 0})
    await direct.execute(
        connection,
        insert(table_of(DutyOverride)),
        {"community_id": community_id, "staff_id": staff[0], "starts_at": T0, "ends_at": T0},
    )
    count = select(func.count()).select_from(DutyOverride)
    assert (await direct.execute(connection, count)).scalar_one() == 1
    await session.rollback()
    assert (await direct.execute(await session.connection(), count)).scalar_one() == 0


async def test_compiled_shapes_are_bounded(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct, "PLANS", 3)
    monkeypatch.setattr(direct, "_plans", {})
    connection = await session.connection()
    for n in range(6):  # a statement built per call: six shapes
        rows: direct.Rows[int] = await direct.execute(connection, select(func.count() + n))
        assert rows.scalar_one() == n + 1  # count() of the one row there is, plus n
    assert len(direct._plans) <= 3


async def test_a_missing_value_is_reported_as_sqlalchemy_reports_it(session: AsyncSession) -> None:
    statement = select(Staff.name).where(Staff.id == bindparam("id"))
    with pytest.raises(StatementError, match="required for bind parameter 'id'"):
        await direct.execute(await session.connection(), statement, {})
