"""`tenwatch migrate --check`: before a rolling upgrade, an operator learns whether each pending
migration is safe while processes of the release before still serve — an expand step is, a
contract step is not — from the phase each revision declares, checked against its ops."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from server import migrate_check
from server.cli import app
from server.migrate import MIGRATIONS, alembic_config, upgrade
from server.settings import get_settings

HEAD = '''"""{title}

Revision ID: {revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = None
depends_on = None
{phase}

def upgrade() -> None:
{ops}


def downgrade() -> None:
    op.drop_table("anything")  # never looked at: only upgrade() runs under traffic
'''

REVISIONS = {
    "a1": ("a table", 'phase = "expand"', '    op.create_table("t", sa.Column("id", sa.Integer))'),
    "b2": (
        "a nullable column and an index",
        'phase = "expand"',
        '    op.add_column("t", sa.Column("note", sa.Text(), nullable=True))\n'
        '    op.add_column("t", sa.Column("n", sa.Integer(), nullable=False, server_default="0"))\n'
        '    op.create_index("ix_t_note", "t", ["note"])',
    ),
    "c3": ("the old column goes", 'phase = "contract"', '    op.drop_column("t", "old")'),
    "d4": (
        "says expand, is not",
        'phase = "expand"',
        '    with op.batch_alter_table("t") as batch:\n'
        '        batch.alter_column("note", new_column_name="remark")\n'
        '        batch.add_column(sa.Column("m", sa.Integer(), nullable=False))\n'
        '    op.execute("ALTER TABLE t ALTER COLUMN n TYPE bigint")',
    ),
    "e5": ("declares nothing", "", '    op.create_table("u", sa.Column("id", sa.Integer))'),
}


HEAD_REVISION = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def scripts(tmp_path: Path, *names: str) -> Path:
    """A script location holding these test revisions, chained in order."""
    versions = tmp_path / "scripts" / "versions"
    versions.mkdir(parents=True)
    down = None
    for name in names:
        title, phase, ops = REVISIONS[name]
        text = HEAD.format(title=title, revision=name, down=down, phase=phase, ops=ops)
        (versions / f"{name}.py").write_text(text, encoding="utf-8")
        down = name
    return versions.parent


def stamped(tmp_path: Path, revision: str) -> str:
    """A SQLite database that says it is at revision (what `alembic stamp` leaves)."""
    path = tmp_path / "live.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        db.commit()
    return f"sqlite+aiosqlite:///{path}"


def test_a_pending_expand_revision_is_safe_under_live_traffic(tmp_path: Path) -> None:
    location = scripts(tmp_path, "a1", "b2")
    heads, verdicts = asyncio.run(migrate_check.check(stamped(tmp_path, "a1"), location=location))
    assert heads == ("a1",)
    assert [(v.revision, v.phase, v.safe, v.reasons) for v in verdicts] == [
        ("b2", "expand", True, ())
    ]


def test_a_contract_revision_a_false_expand_and_a_silent_one_are_flagged(tmp_path: Path) -> None:
    location = scripts(tmp_path, "a1", "b2", "c3", "d4", "e5")
    _, verdicts = asyncio.run(migrate_check.check(stamped(tmp_path, "a1"), location=location))
    found = {v.revision: v for v in verdicts}
    assert list(found) == ["b2", "c3", "d4", "e5"]
    assert found["b2"].safe
    assert not found["c3"].safe
    assert "drops column 't.old'" in found["c3"].reasons
    assert not found["d4"].safe
    assert found["d4"].reasons == (
        "declares expand, but:",
        "renames column 'note'",
        "adds NOT NULL column 'm' without a default",
        "runs 'ALTER TABLE t ALTER COLUMN n TYPE bigint'",
    )
    assert not found["e5"].safe
    assert found["e5"].phase is None


def test_the_command_says_which_and_why_and_exits_1_when_one_is_unsafe(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = scripts(tmp_path, "a1", "b2", "c3")
    monkeypatch.setattr(migrate_check, "MIGRATIONS", location)
    monkeypatch.setenv("TENWATCH_DATABASE_URL", stamped(tmp_path, "a1"))
    unsafe = runner.invoke(app, ["migrate", "--check"])
    assert unsafe.exit_code == 1, unsafe.output
    assert "b2  expand  safe under live traffic" in unsafe.output
    assert "c3  contract  UNSAFE under live traffic" in unsafe.output
    assert "drops column 't.old'" in unsafe.output
    monkeypatch.setattr(migrate_check, "MIGRATIONS", scripts(tmp_path / "b", "a1", "b2"))
    safe = runner.invoke(app, ["migrate", "--check"])
    assert safe.exit_code == 0, safe.output
    assert "UNSAFE" not in safe.output


def test_every_revision_of_the_service_declares_a_phase_its_ops_bear_out() -> None:
    directory = ScriptDirectory.from_config(alembic_config("sqlite://"))
    verdicts = [migrate_check.verdict(s) for s in migrate_check.in_order(directory)]
    assert len(verdicts) == len(list((MIGRATIONS / "versions").glob("*.py")))
    assert all(v.phase in migrate_check.PHASES for v in verdicts), [
        v.revision for v in verdicts if v.phase is None
    ]
    assert [v.revision for v in verdicts if not v.safe] == ["0008"], "only 0008 contracts"
    assert all(v.reasons == () for v in verdicts if v.phase == "expand")


def test_a_database_at_head_has_nothing_to_check_and_one_before_0008_is_told_to_wait(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(upgrade(url))
    at_head = runner.invoke(app, ["migrate", "--check"])
    assert at_head.exit_code == 0, at_head.output
    assert "nothing to migrate" in at_head.output
    monkeypatch.setenv("TENWATCH_DATABASE_URL", stamped(tmp_path, "0007"))
    get_settings.cache_clear()
    before = runner.invoke(app, ["migrate", "--check"])
    assert before.exit_code == 1, before.output
    assert "0008  contract  UNSAFE" in before.output
    assert f"{HEAD_REVISION}  expand  safe" in before.output


def test_with_several_processes_serve_leaves_a_contract_step_to_tenwatch_migrate(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"  # the runner's database
    asyncio.run(upgrade(url, "0007"))
    monkeypatch.setenv("TENWATCH_REDIS_URL", redis_url)  # a deployment of several processes
    get_settings.cache_clear()
    refused = runner.invoke(app, ["serve"])
    assert refused.exit_code == 1, refused.output
    assert "not migrating: 0008" in refused.output
    assert "run `tenwatch migrate`" in refused.output
    assert asyncio.run(migrate_check.current(url)) == ("0007",), "nothing was migrated"
    assert runner.invoke(app, ["groups", "--community", "丰乐社区"]).exit_code == 1
    assert asyncio.run(migrate_check.current(url)) == ("0007",), "nor by an admin's command"
    migrated = runner.invoke(app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert asyncio.run(migrate_check.current(url)) == (HEAD_REVISION,)


def test_a_process_alone_migrates_through_a_contract_step_as_before(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(upgrade(url, "0007"))
    runner.invoke(app, ["groups", "--community", "丰乐社区"])  # no such community: exit 1
    assert asyncio.run(migrate_check.current(url)) == (HEAD_REVISION,)


def test_a_database_a_newer_release_migrated_has_nothing_pending_for_an_older_process(
    tmp_path: Path,
) -> None:
    location = scripts(tmp_path, "a1", "b2")
    heads, verdicts = asyncio.run(migrate_check.check(stamped(tmp_path, "z9"), location=location))
    assert (heads, verdicts) == (("z9",), [])  # so it starts, as old code must mid-upgrade
