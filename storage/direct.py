"""Core statements run straight on SQLite's driver, compiled once.

Our SQLite connection runs on the event loop's thread (`storage.sqlite`), so a statement costs
SQLite ≈ 3 µs and SQLAlchemy's execution machinery ≈ 60 µs around it. Here a statement is
compiled once per shape (which insert keys, how long each IN list), its parameters and results
go through the same type processors SQLAlchemy would use, and it runs on the session's own
connection inside its transaction. Engine listeners of `before_cursor_execute` still see every
statement. Any other database, and the few shapes this does not handle, take SQLAlchemy's path.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVarTuple, cast

from sqlalchemy import ColumnDefault
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import TypedReturnsRows

from storage.sqlite import InlineConnection

_Ts = TypeVarTuple("_Ts")
Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None


class Rows(list[tuple[*_Ts]], Generic[*_Ts]):
    """A statement's rows, fetched: a list of tuples with the few accessors callers use."""

    def all(self) -> list[tuple[*_Ts]]:
        """Every row."""
        return list(self)

    def one_or_none(self) -> tuple[*_Ts] | None:
        """The only row, or None; more than one is an error."""
        if len(self) > 1:
            raise LookupError(f"expected at most one row, got {len(self)}")
        return self[0] if self else None

    def one(self) -> tuple[*_Ts]:
        """The only row; none or more than one is an error."""
        row = self.one_or_none()
        if row is None:
            raise LookupError("expected one row, got none")
        return row

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        row: tuple[Any, ...] = self.one()
        return row[0]


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a key of _expanded
class _Plan:
    """One shape of a statement, compiled for SQLite: its SQL, where each parameter comes from
    and how it is converted, and how each result column is converted."""

    sql: str
    slots: tuple[tuple[str, Processor, bool, Any], ...]
    """Each ? of the SQL in order: its parameter's name, converter, whether it is an IN list,
    and the value bound in the statement (REQUIRED when the caller must give one)."""
    defaults: tuple[tuple[str, ColumnDefault], ...]
    results: tuple[Processor, ...]


REQUIRED = object()


PLANS = 512
"""Shapes kept compiled; past that the oldest is dropped. Statements are meant to be built once
(module constants): one built per call would be compiled per call."""
_plans: dict[tuple[ClauseElement, tuple[str, ...], str], _Plan | None] = {}
_expanded: dict[tuple[_Plan, tuple[int, ...]], str] = {}


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= PLANS:
        del cache[next(iter(cache))]
    cache[key] = value


def _plan(statement: ClauseElement, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    cache_key = (statement, keys, dialect.name)
    if cache_key in _plans:
        return _plans[cache_key]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
    assert isinstance(compiled, SQLCompiler)
    plan = None
    defaults: list[tuple[str, ColumnDefault]] = []
    simple = not (compiled.literal_execute_params or compiled.escaped_bind_names)
    for column in compiled.insert_prefetch:
        if isinstance(column.default, ColumnDefault) and not column.default.is_clause_element:
            defaults.append((column.key, column.default))
        else:
            simple = False
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    if simple and compiled.positiontup is not None and not any(b.callable for b in binds):
        expanding = {compiled.bind_names[b] for b in compiled.post_compile_params}
        columns = getattr(statement, "exported_columns", ())
        plan = _Plan(
            sql=compiled.string,
            slots=tuple(
                (
                    name,
                    bind.type.dialect_impl(dialect).bind_processor(dialect),
                    name in expanding,
                    REQUIRED if bind.required else bind.value,
                )
                for name, bind in zip(names, binds, strict=True)
            ),
            defaults=tuple(defaults),
            results=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ),
        )
    _keep(_plans, cache_key, plan)
    return plan


def _arguments(
    plan: _Plan, params: Params, memo: dict[tuple[Processor, datetime], Any]
) -> tuple[str, list[Any]] | None:
    """The SQL and its arguments for one parameter set; None sends the statement to SQLAlchemy
    (an empty IN list, which it renders specially, or a missing value, which it reports). The
    memo converts each datetime once per statement: a batch's rows share the same instants."""
    if plan.defaults:
        params = dict(params)
        for key, default in plan.defaults:
            if key not in params:
                params[key] = default.arg(None) if default.is_callable else default.arg
    arguments: list[Any] = []
    lengths: list[int] = []
    for name, process, expanding, bound in plan.slots:
        value = params.get(name, bound)
        if value is REQUIRED:
            return None
        if expanding:
            if not value:
                return None
            lengths.append(len(value))
            arguments.extend(value if process is None else map(process, value))
        elif process is None:
            arguments.append(value)
        elif type(value) is datetime:
            instant = (process, value)
            if instant not in memo:
                memo[instant] = process(value)
            arguments.append(memo[instant])
        else:
            arguments.append(process(value))
    if not lengths:
        return plan.sql, arguments
    shape = (plan, tuple(lengths))
    sql = _expanded.get(shape)
    if sql is None:
        sql = plan.sql
        lists = (name for name, _, expanding, _ in plan.slots if expanding)
        for name, length in zip(lists, lengths, strict=True):
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * length), 1)
        _keep(_expanded, shape, sql)
    return sql, arguments


def _convert(plan: _Plan, rows: list[Any]) -> list[Any]:
    if not any(plan.results):
        return rows
    processors = plan.results
    return [
        tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
        for row in rows
    ]


def _announce(connection: Connection, sql: str, parameters: Any, *, many: bool) -> None:
    listeners = connection.dispatch.before_cursor_execute
    if listeners:
        for listener in listeners:
            listener(connection, None, sql, parameters, None, many)


async def execute(
    connection: AsyncConnection,
    statement: TypedReturnsRows[*_Ts] | Executable,
    params: Params | Sequence[Params] | None = None,
) -> Rows[*_Ts]:
    """Run a Core statement in the connection's transaction and fetch its rows (a list of
    parameter sets runs it once per set)."""
    if params is None or type(params) is dict:
        sets: list[Params] = [params or {}]
    else:
        sets = list(params) if isinstance(params, Sequence) else [params]
    sync = connection.sync_connection
    driver = sync.connection.driver_connection if sync is not None else None
    plan = None
    if sync is not None and isinstance(driver, InlineConnection) and sets:
        assert isinstance(statement, ClauseElement)
        keys = tuple(sets[0]) if isinstance(statement, Insert) else ()
        plan = _plan(statement, keys, connection.dialect)
    memo: dict[tuple[Processor, datetime], Any] = {}
    if plan is not None and len(sets) == 1:  # most statements: past the batch's bookkeeping
        one = _arguments(plan, sets[0], memo)
        if one is not None:
            assert sync is not None
            assert isinstance(driver, InlineConnection)
            _announce(sync, one[0], one[1], many=False)
            return Rows(_convert(plan, await driver.fetch(*one)))
    prepared = [_arguments(plan, p, memo) for p in sets] if plan is not None else []
    if plan is None or not all(prepared):
        result = await connection.execute(statement, params)
        return Rows(result.all() if result.returns_rows else [])
    assert sync is not None
    assert isinstance(driver, InlineConnection)
    statements = cast(list[tuple[str, list[Any]]], prepared)  # none is None: checked above
    if len(statements) > 1 and not plan.results and len({sql for sql, _ in statements}) == 1:
        sql, arguments = statements[0][0], [a for _, a in statements]
        _announce(sync, sql, arguments, many=True)
        await driver.execute_many(sql, arguments)
        return Rows()
    rows: list[Any] = []
    for sql, arguments in statements:
        _announce(sync, sql, arguments, many=False)
        rows += await driver.fetch(sql, arguments)
    return Rows(_convert(plan, rows))
