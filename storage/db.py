"""Persistence plumbing shared by every package: the declarative base, engines, sessions."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVarTuple

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Row,
    Table,
    event,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.selectable import TypedReturnsRows
from sqlalchemy.types import TypeDecorator

from storage import deferred
from storage.pool import ReadPool, TimedPool

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BUSY_SECONDS = 30.0
CONNECT_SECONDS = 10.0
_Ts = TypeVarTuple("_Ts")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """The one declarative base; its metadata is what the migrations describe."""

    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements that skip the session's unit of work (a bulk
    insert through the ORM costs several times the SQL it runs)."""
    return Base.metadata.tables[model.__tablename__]


class Rows(list[Row[*_Ts]], Generic[*_Ts]):
    """A statement's rows, fetched: a list of rows with the few accessors callers use."""

    def all(self) -> list[Row[*_Ts]]:
        """Every row."""
        return list(self)

    def one_or_none(self) -> Row[*_Ts] | None:
        """The only row, or None; more than one is an error."""
        if len(self) > 1:
            raise LookupError(f"expected at most one row, got {len(self)}")
        return self[0] if self else None

    def one(self) -> Row[*_Ts]:
        """The only row; none or more than one is an error."""
        row = self.one_or_none()
        if row is None:
            raise LookupError("expected one row, got none")
        return row

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        row: Sequence[Any] = self.one()
        return row[0]


_MEMO = "tenwatch.memo"


def memo(session: AsyncSession) -> dict[Any, Any]:
    """What this transaction read and may read again (a community's lock, its roster), kept
    until it commits or rolls back: a batch of presses reads each once."""
    found: dict[Any, Any] | None = session.sync_session.info.get(_MEMO)
    if found is None:
        found = session.sync_session.info[_MEMO] = {}
    return found


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_memo(session: Session, *_: Any) -> None:
    session.info.pop(_MEMO, None)


async def _run(session: AsyncSession, statement: Executable, params: Any = None) -> Rows[Any]:
    await deferred.flush(session)
    result = await (await session.connection()).execute(statement, params)
    return Rows(result.all() if result.returns_rows else ())


async def read(
    session: AsyncSession,
    statement: TypedReturnsRows[*_Ts],
    params: dict[str, Any] | None = None,
) -> Rows[*_Ts]:
    """Run a select of plain columns, built once (so compiled once, in SQLAlchemy's cache), on
    the session's connection, past the ORM's autoflush and result machinery: only for rows
    this transaction has not changed in memory, which a read here would not see."""
    return await _run(session, statement, params)


def update_one(session: AsyncSession, obj: Base, **values: Any) -> None:
    """Change columns of a stored object by an UPDATE of its row instead of the unit of work's
    flush (which would write every other change too, and costs several times the SQL it runs),
    written with the transaction's other changes (`storage.deferred`); the object shows the new
    values as stored, with nothing left to flush for them. An object not yet stored takes them
    as ordinary changes."""
    if not sa_inspect(obj).persistent:
        for key, value in values.items():
            setattr(obj, key, value)
        return
    deferred.change(session, table_of(type(obj)), key=obj.id, values=values)  # type: ignore[attr-defined]
    for key, value in values.items():
        set_committed_value(obj, key, value)


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


def _is_file(url: str) -> bool:
    """Whether a SQLite URL names a file (not an in-memory database)."""
    parsed = make_url(url)
    return parsed.database not in (None, "", ":memory:") and "memory" not in str(
        parsed.query.get("mode", "")
    )


def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Connect as SQLAlchemy would, but let a refused, unresolvable or timed-out connection
    fail as the driver's OperationalError, which SQLAlchemy wraps like any other: its asyncio
    adapters pass such an OSError through bare (sqlalchemy#11956)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise dialect.loaded_dbapi.OperationalError(str(exc) or type(exc).__name__, exc) from exc


def create_engine(
    url: str, *, autocheckpoint: bool = True, read_only: bool = False, **kwargs: Any
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, one connection and write-locking transactions. Without
    autocheckpoint a SQLite commit never copies the log into the database (with its fsync): the
    caller runs `sqlite.checkpoint` elsewhere. A read-only SQLite engine (`read_only`) has two
    connections that never write and begin plain (deferred) transactions: under WAL they read
    beside the writer instead of queueing for its one connection and its lock."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        # No ping before every checkout (a round trip each: an eighth of a worker's CPU in a
        # storm): a connection found dead invalidates the whole pool, so after a restart one
        # statement fails (a press's batch is run again, a read answers 503) and the rest
        # connect afresh.
        kwargs.setdefault("pool_pre_ping", False)
        # An unreachable host fails within this, rather than hanging a request for minutes.
        kwargs.setdefault("connect_args", {}).setdefault("timeout", CONNECT_SECONDS)
        kwargs.setdefault("poolclass", TimedPool)  # its waits are a metric (storage.pool)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "do_connect", _connect)
        return engine

    # One connection per process: SQLite has one writer anyway, and waiting for the pool is an
    # asyncio queue. Waiting for another process's write lock is SQLite's own busy handler,
    # which sleeps in aiosqlite's thread while the event loop runs on.
    kwargs.setdefault("pool_size", 2 if read_only else 1)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", 60)
    kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_SECONDS)
    if _is_file(url):  # an in-memory database keeps SQLAlchemy's one static connection
        kwargs.setdefault("poolclass", ReadPool if read_only else TimedPool)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # sqlite3 begins no transaction of its own, so that the "begin" event below can.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a commit answered survives a power cut
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint or read_only:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock up front: a deferred read that later writes can fail with
        # SQLITE_BUSY under WAL instead of waiting its turn. (SQLAlchemy's documented recipe,
        # "Enabling Non-Legacy SQLite Transactional Modes".)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory every request and worker uses; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
