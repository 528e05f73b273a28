"""Write-behind inserts and updates: the rows a transaction adds, and the columns it changes by
`storage.db.update_one`, are written together — one statement per table and shape — when
something needs them: a read or a change through the session, a flush, the commit.

A row that others refer to gets its id at once, reserved ahead (`next_id`), so an alarm's id can
go on its texts and an event's on its wire form before either is written. A batch of presses
then costs a handful of statements, not a handful per press: on aiosqlite every statement is
several thread hand-offs, on PostgreSQL a round trip.

The barrier is in the session's own paths (`storage.db`'s helpers, every ORM execute, flush and
commit): code that reads through the session sees what it added. A rollback forgets it.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, event, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached
from sqlalchemy.orm import object_mapper as mapper_of

_KEY = "tenwatch.deferred"
_BLOCK, _MAX_BLOCK = 8, 1024


@dataclass(slots=True)
class _Ids:
    """Ids reserved for one table in this transaction, handed out in increasing order."""

    free: list[int] = field(default_factory=list)
    block: int = _BLOCK
    last: int | None = None  # SQLite: the highest id handed out (the write lock is held)


@dataclass(slots=True)
class _Pending:
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    objects: list[Any] = field(default_factory=list)
    changes: dict[tuple[Table, int], dict[str, Any]] = field(default_factory=dict)
    ids: dict[Table, _Ids] = field(default_factory=dict)


def _pending(session: Session) -> _Pending:
    found: _Pending | None = session.info.get(_KEY)
    if found is None:
        if not session.in_transaction():
            session.begin()  # so that a rollback, even before any statement, forgets these
        found = session.info[_KEY] = _Pending()
    return found


def add(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert this row with the transaction's other rows of the table (those with the same keys
    go in one statement)."""
    _pending(session.sync_session).rows.setdefault(table, []).append(row)


def add_all(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """`add` for several rows."""
    if rows:
        _pending(session.sync_session).rows.setdefault(table, []).extend(rows)


def add_object(session: AsyncSession, obj: Any) -> None:
    """Insert an ORM object (its id set by `next_id`) with the transaction's other rows; every
    column it was not given takes its Python default (or None) now, so it reads as stored. Once
    written it joins the session as a persistent object, and later changes flush as usual."""
    for attribute in mapper_of(obj).column_attrs:
        key = attribute.key
        if getattr(obj, key) is None:
            default = attribute.columns[0].default
            value = None
            if default is not None and getattr(default, "is_scalar", False):
                value = default.arg
            elif default is not None and getattr(default, "is_callable", False):
                value = default.arg(None)
            setattr(obj, key, value)
    _pending(session.sync_session).objects.append(obj)


def change(session: AsyncSession, table: Table, *, key: int, values: dict[str, Any]) -> None:
    """Update columns of a stored row (by its id) with the transaction's other changes; changes
    to one row merge, the later value winning."""
    _pending(session.sync_session).changes.setdefault((table, key), {}).update(values)


@functools.cache
def _update_of(table: Table, keys: tuple[str, ...]) -> Any:
    return (
        update(table)
        .where(table.c.id == bindparam("key_"))
        .values({key: bindparam(f"new_{key}") for key in keys})
    )


async def next_id(session: AsyncSession, table: Table) -> int:
    """An id for a new row of the table, reserved in this transaction: on PostgreSQL from the
    table's sequence, a block at a time; on SQLite one above the highest stored, which is safe
    because every writing SQLite transaction here holds the database's write lock from BEGIN."""
    ids = _pending(session.sync_session).ids.setdefault(table, _Ids())
    if not ids.free and ids.last is None:
        await reserve(session, {table: ids.block})
    if ids.free:
        return ids.free.pop()
    assert ids.last is not None
    ids.last += 1
    return ids.last


async def reserve(session: AsyncSession, wanted: dict[Table, int]) -> None:
    """Reserve ids ahead for several tables in one statement (a batch knows how many rows it
    will add); `next_id` hands them out, and reserves more if they run short. Reserve under
    the lock that orders the rows' commits: ids reserved before it could commit after higher
    ones that another transaction reserved later."""
    pending = _pending(session.sync_session)
    connection = await session.connection()
    tables = list(wanted)
    if connection.dialect.name == "sqlite":
        fresh = [t for t in tables if pending.ids.setdefault(t, _Ids()).last is None]
        if fresh:
            highest = select(*(select(func.max(t.c.id)).scalar_subquery() for t in fresh))
            stored = (await connection.execute(highest)).one()
            for table, last in zip(fresh, stored, strict=True):
                pending.ids[table].last = int(last or 0)
        return
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, table in enumerate(tables):
        ids = pending.ids.setdefault(table, _Ids())
        params[f"t{i}"], params[f"n{i}"] = table.name, max(wanted[table], ids.block)
        ids.block = min(ids.block * 2, _MAX_BLOCK)
        parts.append(
            f"SELECT {i}, nextval(pg_get_serial_sequence(:t{i}, 'id'))"
            f" FROM generate_series(1, :n{i})"
        )
    for i, ident in (await connection.execute(text(" UNION ALL ".join(parts)), params)).all():
        pending.ids[tables[i]].free.append(int(ident))
    for table in tables:
        pending.ids[table].free.sort(reverse=True)


def _table(obj: Any) -> Any:
    return mapper_of(obj).local_table


def _row(obj: Any) -> dict[str, Any]:
    return {a.columns[0].key: getattr(obj, a.key) for a in mapper_of(obj).column_attrs}


def write(session: Session) -> None:
    """Write every pending row now, parents before children (the metadata's order); the
    barrier the session's paths call. Runs in the session's sync context."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None or not (pending.rows or pending.objects or pending.changes):
        return
    rows, objects, changes = pending.rows, pending.objects, pending.changes
    pending.rows, pending.objects, pending.changes = {}, [], {}
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for obj in objects:
        by_table.setdefault(_table(obj), []).append(_row(obj))
    for table, table_rows in rows.items():
        by_table.setdefault(table, []).extend(table_rows)
    connection = session.connection()
    for table in _sorted(by_table):
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in by_table.get(table, ()):
            shapes.setdefault(tuple(row), []).append(row)
        for same_keys in shapes.values():  # one executemany per set of keys
            connection.execute(insert(table), same_keys)
    updates: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for (table, key), values in changes.items():
        row = {"key_": key, **{f"new_{k}": v for k, v in values.items()}}
        updates.setdefault((table, tuple(values)), []).append(row)
    for (table, keys), same_keys in updates.items():
        connection.execute(_update_of(table, keys), same_keys)
    for obj in objects:
        make_transient_to_detached(obj)
        session.add(obj)


def _sorted(tables: dict[Any, Any]) -> list[Table]:
    """The tables, parents before children."""
    if not tables:
        return []
    return [t for t in next(iter(tables)).metadata.sorted_tables if t in tables]


async def flush(session: AsyncSession) -> None:
    """`write` from async code (the helpers in `storage.db` that run past the ORM)."""
    pending: _Pending | None = session.sync_session.info.get(_KEY)
    if pending is not None and (pending.rows or pending.objects or pending.changes):
        await session.run_sync(write)


@event.listens_for(Session, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    write(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_KEY, None)
