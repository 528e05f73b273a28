"""Persistence plumbing shared by every package: the declarative base, engines, sessions."""

import functools
import weakref
from datetime import UTC, datetime
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import (
    BigInteger,
    ColumnDefault,
    DateTime,
    Integer,
    MetaData,
    Select,
    Table,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.orm import DeclarativeBase, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import TypedReturnsRows
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from storage import direct, sqlite

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BUSY_SECONDS = 30.0
_Ts = TypeVarTuple("_Ts")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """The one declarative base; its metadata is what the migrations describe."""

    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements that skip the session's unit of work (a bulk
    insert through the ORM costs several times the SQL it runs)."""
    return Base.metadata.tables[model.__tablename__]


@functools.cache
def _insert_of(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


@functools.cache
def _defaults_of(table: Table) -> tuple[tuple[str, ColumnDefault | None], ...]:
    """Each column but the key, with its Python default if it has one."""
    return tuple(
        (column.key, column.default if isinstance(column.default, ColumnDefault) else None)
        for column in table.c
        if column.key != "id"
    )


_connections: "weakref.WeakKeyDictionary[SessionTransaction, AsyncConnection]" = (
    weakref.WeakKeyDictionary()
)


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """The session's connection in its transaction (begun if need be), as `session.connection()`
    gives, remembered as long as the transaction lives (asking the session again costs a
    greenlet hop), and no longer: a closed session keeps nothing alive."""
    transaction = session.sync_session.get_transaction()
    connection = _connections.get(transaction) if transaction is not None else None
    if connection is None:
        connection = await session.connection()
        transaction = session.sync_session.get_transaction()
        assert transaction is not None
        _connections[transaction] = connection
    return connection


async def insert_one(session: AsyncSession, obj: Base) -> None:
    """Store a new object (with an `id` key) by one INSERT … RETURNING instead of the unit of
    work's flush, and keep it in the session as persistent: later changes to it flush as usual.
    Unset columns take their Python defaults, so no attribute is left to load."""
    table = table_of(type(obj))
    values = {}
    held = obj.__dict__  # the object's loaded state: new, so nothing to record as history
    for key, default in _defaults_of(table):
        if key not in held:
            value = None
            if default is not None:
                value = default.arg(None) if default.is_callable else default.arg
            held[key] = value
        values[key] = held[key]
    rows: direct.Rows[Any] = await direct.execute(
        await connection_of(session), _insert_of(table), values
    )
    obj.id = rows.scalar_one()  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)


@functools.cache
def _update_of(table: Table, keys: tuple[str, ...]) -> Executable:
    return (
        update(table)
        .where(table.c.id == bindparam("key_"))
        .values({key: bindparam(f"new_{key}") for key in keys})
    )


async def update_one(session: AsyncSession, obj: Base, **values: Any) -> None:
    """Change columns of a stored object by one UPDATE of its row instead of the unit of work's
    flush (a flush of one changed row costs several times the SQL it runs); the object shows the
    new values, with nothing left to flush for them. An object not yet stored takes them as
    ordinary changes."""
    if not sa_inspect(obj).persistent:
        for key, value in values.items():
            setattr(obj, key, value)
        return
    for key, value in values.items():
        set_committed_value(obj, key, value)
    statement = _update_of(table_of(type(obj)), tuple(values))
    await direct.execute(
        await connection_of(session),
        statement,
        {"key_": obj.id, **{f"new_{key}": value for key, value in values.items()}},  # type: ignore[attr-defined]
    )


async def read(
    session: AsyncSession,
    statement: TypedReturnsRows[*_Ts],
    params: dict[str, Any] | None = None,
) -> direct.Rows[*_Ts]:
    """Run a select of plain columns, built once, on the session's connection, past the ORM's
    autoflush and result machinery (tens of µs a statement; on SQLite, past SQLAlchemy's
    execution too, `storage.direct`): only for rows this transaction has not changed in memory,
    which a read here would not see."""
    return await direct.execute(await connection_of(session), statement, params)


async def write(
    session: AsyncSession, statement: Executable, rows: dict[str, Any] | list[dict[str, Any]]
) -> direct.Rows[Any]:
    """Run a Core insert, built once, of one row or many (each with the same keys) in the
    session's transaction, past the unit of work; returns what it returns."""
    return await direct.execute(await connection_of(session), statement, rows)


_M = TypeVar("_M", bound=Base)


def columns_of(model: type[Base]) -> Select[Any]:
    """A select of every column of a mapped class's table, in order, for `load`."""
    return select(*table_of(model).c)


@functools.cache
def _attributes(model: type[Base]) -> tuple[str, ...]:
    mapper = sa_inspect(model)
    return tuple(mapper.get_property_by_column(column).key for column in table_of(model).c)


async def load(
    session: AsyncSession,
    model: type[_M],
    statement: Select[Any],
    params: dict[str, Any] | None = None,
) -> list[_M]:
    """Objects of a mapped class from a `columns_of` select, run by `read` and put in the
    session as if the ORM had loaded them (changes to them flush as usual), past the ORM's
    loading. An object the session already holds is returned as it is."""
    keys = _attributes(model)
    found = []
    for row in await read(session, statement, params):
        values: dict[str, Any] = dict(zip(keys, row, strict=True))
        held = session.identity_map.get(session.sync_session.identity_key(model, values["id"]))
        if held is not None:
            found.append(held)
            continue
        obj = manager_of_class(model).new_instance()  # as the ORM's loading does: no __init__
        obj.__dict__.update(values)
        make_transient_to_detached(obj)
        session.add(obj)
        found.append(obj)
    return found


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """An aware datetime, in UTC, to store; a naive one is refused."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """A stored timestamp as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite."""
    return url.startswith("sqlite")


def create_engine(url: str, *, autocheckpoint: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, one connection and write-locking transactions. Without
    autocheckpoint a SQLite commit never copies the log into the database (with its fsync, on
    the event loop): the caller runs `sqlite.checkpoint` elsewhere."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)

    # One connection per process: SQLite has one writer anyway, and waiting for the pool is an
    # asyncio queue, where waiting for SQLite's lock is a busy handler that sleeps. The
    # connection runs on the event loop's thread (storage.sqlite).
    kwargs.setdefault("pool_size", 1)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", 60)
    path = make_url(url).database or ":memory:"
    engine = create_async_engine(
        url, async_creator=sqlite.connector(path, busy_seconds=BUSY_SECONDS), **kwargs
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so that it can be BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred read that later writes can fail with
        # SQLITE_BUSY under WAL instead of waiting its turn. Straight on our driver, past
        # SQLAlchemy's execution machinery (≈ 40 µs of a transaction's ≈ 150).
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite.InlineConnection)
        await_only(driver.fetch("BEGIN IMMEDIATE", ()))

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory every request and worker uses; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
