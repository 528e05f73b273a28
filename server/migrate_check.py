"""Whether the pending schema migrations are safe to run under live traffic
(`tenwatch migrate --check`).

A rolling upgrade migrates while processes of the release before still serve, so a migration
must leave a schema the old code still works with: it **expands** (adds a table, a nullable
column or one with a default, an index). A migration that takes away or tightens what old code
uses **contracts** (drops or renames a table or column, changes a type, makes a column NOT NULL,
drops a default, adds a constraint old writes may break) and runs only once every process runs
the code that no longer needs it — the next release (docs/operate.md, Upgrades).

The rule lives in each revision, `phase = "expand"` or `phase = "contract"`, and is checked
against a static look at its upgrade(): a revision that says expand but does a contract step
is unsafe, and so is one that declares no phase.
"""

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from server.migrate import MIGRATIONS, alembic_config, upgrade
from storage.db import create_engine

PHASES = ("expand", "contract")

_SQL = re.compile(
    r"\b(DROP|RENAME|TRUNCATE)\b|\bSET\s+NOT\s+NULL\b|\bALTER\s+COLUMN\b.*\bTYPE\b",
    re.IGNORECASE | re.DOTALL,
)
_DROPS = {
    "drop_table": "drops table {}",
    "drop_column": "drops column {}",
    "rename_table": "renames table {}",
    "drop_constraint": "drops constraint {} (old code may rely on it)",
    "create_unique_constraint": "adds unique constraint {} (old writes may break it)",
    "create_check_constraint": "adds check constraint {} (old writes may break it)",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One pending revision: whether it is safe under live traffic, and why not."""

    revision: str
    title: str
    phase: str | None
    reasons: tuple[str, ...]

    @property
    def safe(self) -> bool:
        """Safe while processes of the release before still run."""
        return self.phase == "expand" and not self.reasons


def _constant(node: ast.AST | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else ...


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def _name(call: ast.Call) -> str:
    """What an op names: a table's column as 't.c' when called on op (in a batch, the column
    alone), else its first argument."""
    names = [_constant(a) for a in call.args[:2]]
    shown = [n if isinstance(n, str) else "?" for n in names] or ["?"]
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr.endswith("_column")
        and isinstance(func.value, ast.Name)
        and func.value.id == "op"
        and len(shown) == 2
    ):
        return repr(".".join(shown))
    return repr(shown[0])


def _step(call: ast.Call) -> str | None:
    """Why one op call is a contract step, or None."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    op, kw = func.attr, _keywords(call)
    if op in _DROPS:
        return _DROPS[op].format(_name(call))
    if op == "create_index" and _constant(kw.get("unique")) is True:
        return f"adds unique index {_name(call)} (old writes may break it)"
    if op == "alter_column":
        column = _name(call)
        if "new_column_name" in kw:
            return f"renames column {column}"
        if "type_" in kw:
            return f"changes the type of column {column}"
        if _constant(kw.get("nullable")) is False:
            return f"makes column {column} NOT NULL"
        if "server_default" in kw and _constant(kw["server_default"]) is None:
            return f"drops the default of column {column} (old inserts leave it out)"
    if op == "add_column":
        added = next((a for a in call.args if isinstance(a, ast.Call)), None)
        if added is not None:
            ckw = _keywords(added)
            no_default = _constant(ckw.get("server_default", ast.Constant(None))) is None
            if _constant(ckw.get("nullable")) is False and no_default:
                return f"adds NOT NULL column {_name(added)} without a default"
    if op == "execute":
        sql = _constant(call.args[0]) if call.args else ...
        if not isinstance(sql, str):
            return "runs SQL this check cannot read"
        if _SQL.search(sql):
            return f"runs {' '.join(sql.split())[:60]!r}"
    return None


def contract_steps(source: str) -> list[str]:
    """The contract steps a revision's source does outside downgrade(), read statically."""
    tree = ast.parse(source)
    calls = [
        call
        for node in tree.body
        if not (isinstance(node, ast.FunctionDef) and node.name == "downgrade")
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
    ]
    calls.sort(key=lambda call: (call.lineno, call.col_offset))  # in the order of the source
    return [step for step in map(_step, calls) if step is not None]


def verdict(script: Script) -> Verdict:
    """A revision's declared phase checked against its ops."""
    phase = getattr(script.module, "phase", None)
    reasons: list[str] = []
    if phase not in PHASES:
        reasons.append('declares no phase (phase = "expand" or "contract")')
        phase = None
    steps = contract_steps(Path(script.path).read_text(encoding="utf-8"))
    if phase == "contract":
        reasons.append("a contract step: run it once every process runs the release that needs it")
    elif steps:
        reasons.append("declares expand, but:")
    reasons.extend(steps)
    title = (script.doc or "").strip().splitlines()[0] if script.doc else ""
    return Verdict(script.revision, title, phase, tuple(reasons))


def _downs(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def in_order(directory: ScriptDirectory) -> Iterator[Script]:
    """Every revision, oldest first."""
    yield from reversed(list(directory.walk_revisions()))


def _known(directory: ScriptDirectory, revision: str) -> bool:
    try:
        return directory.get_revision(revision) is not None
    except CommandError:
        return False


def _applied(directory: ScriptDirectory, heads: Sequence[str]) -> set[str]:
    applied: set[str] = set()
    stack = list(heads)
    while stack:
        revision = stack.pop()
        if revision in applied:
            continue
        applied.add(revision)
        found = directory.get_revision(revision)
        if found is not None:
            stack.extend(_downs(found))
    return applied


def _heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def current(url: str) -> tuple[str, ...]:
    """The revisions the database at url is at (none for an empty database)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_heads)
    finally:
        await engine.dispose()


async def check(url: str, *, location: Path | None = None) -> tuple[tuple[str, ...], list[Verdict]]:
    """The database's current revisions and a verdict on each pending one, oldest first (of
    the service's migrations, or those at location); none when the database is at a revision
    this code does not know (a newer release's: an older process restarting mid-upgrade)."""
    config = alembic_config(url)
    config.set_main_option("script_location", str(location or MIGRATIONS))
    directory = ScriptDirectory.from_config(config)
    heads = await current(url)
    if not all(_known(directory, head) for head in heads):
        return heads, []  # a newer release migrated it (expanding): nothing is pending here
    applied = _applied(directory, heads)
    return heads, [verdict(s) for s in in_order(directory) if s.revision not in applied]


async def upgrade_unless_contract(url: str) -> list[Verdict]:
    """Bring the database up to date, unless it is in use (it has a schema) and a pending
    revision is unsafe under live traffic: then migrate nothing and return those, for an
    operator to run with `tenwatch migrate` once no process needs what they take away."""
    heads, verdicts = await check(url)
    unsafe = [v for v in verdicts if not v.safe]
    if heads and unsafe:
        return unsafe
    if verdicts:
        await upgrade(url)
    return []
