"""An operator backs up and restores the SQLite database with `tenwatch backup` and `restore`;
what cannot be done is refused in one sentence, and nothing is lost by a mistake."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from server.cli import app
from server.migrate import head, known, upgrade
from server.settings import get_settings
from storage import backup
from tests.server.conftest import SAMPLE


@pytest.fixture
def database(runner: CliRunner, tmp_path: Path) -> Path:
    """The CLI's SQLite file, with a register imported."""
    imported = runner.invoke(app, ["import", str(SAMPLE), "--community", "丰乐社区"])
    assert imported.exit_code == 0, imported.output
    return tmp_path / "cli.db"


def households(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        count: int = db.execute("SELECT count(*) FROM households").fetchone()[0]
        return count


def refused(result: Result) -> str:
    """The output of a refused command, on one line: exit 1, a sentence, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.output.split())


def test_a_backup_holds_the_database_and_says_what_it_wrote(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "nightly.db"
    result = runner.invoke(app, ["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "integrity check ok" in result.output
    assert "0 alarms" in result.output
    assert households(target) == households(database) > 0
    summary = backup.check(target)
    assert f"{summary.size:,} bytes" in " ".join(result.output.split())
    assert not list(tmp_path.glob("*.partial"))
    assert not Path(f"{target}-wal").exists()  # one file, nothing beside it to lose


def test_an_existing_backup_file_is_kept_unless_forced(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "nightly.db"
    target.write_text("last week's")
    said = refused(runner.invoke(app, ["backup", str(target)]))
    assert "exists" in said
    assert "--force" in said
    assert target.read_text() == "last week's"
    forced = runner.invoke(app, ["backup", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert households(target) == households(database)


def test_a_postgresql_database_is_sent_to_pg_dump(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENWATCH_DATABASE_URL", "postgresql+asyncpg://tenwatch@db/tenwatch")
    get_settings.cache_clear()
    for command in (["backup", str(tmp_path / "b.db")], ["restore", str(SAMPLE)]):
        said = refused(runner.invoke(app, command))
        assert "pg_dump" in said
        assert "docs/operate.md" in said
    assert not (tmp_path / "b.db").exists()


def test_a_backup_that_fails_leaves_no_file_behind(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "cli.db").write_text("not a database at all, but long enough to look like one" * 99)
    said = refused(runner.invoke(app, ["backup", str(tmp_path / "b.db")]))
    assert "cannot copy" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.db"]  # no b.db, no .partial


def test_a_backup_is_for_its_owner_alone(runner: CliRunner, database: Path, tmp_path: Path) -> None:
    target = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    assert target.stat().st_mode & 0o777 == 0o600  # phones and names: not for everyone


def test_a_missing_database_is_refused_and_not_made(runner: CliRunner, tmp_path: Path) -> None:
    said = refused(runner.invoke(app, ["backup", str(tmp_path / "b.db")]))
    assert "no database" in said
    assert not (tmp_path / "cli.db").exists()
    assert not (tmp_path / "b.db").exists()


def test_a_restore_brings_back_the_backup_and_keeps_what_it_replaced(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "before.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    before = households(database)
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("DELETE FROM households")  # the mistake the backup undoes
    restored = runner.invoke(app, ["restore", str(target)])
    assert restored.exit_code == 0, restored.output
    assert households(database) == before
    kept = list(tmp_path.glob("cli.db.before-restore-*"))
    assert len(kept) == 1
    assert households(kept[0]) == 0
    assert str(kept[0].name) in restored.output
    assert backup.check(database).revision == backup.check(target).revision


def test_a_restore_is_refused_while_the_service_has_the_database_open(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")  # as the service's idle connection has it
        db.execute("DELETE FROM groups")
        said = refused(runner.invoke(app, ["restore", str(target)]))
        assert "stop the service first" in said
    assert not list(tmp_path.glob("cli.db.before-restore-*"))
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT count(*) FROM groups").fetchone()[0] == 0


@pytest.fixture
def not_ours(tmp_path: Path) -> list[Path]:
    """Files that are no TenWatch backup: text, another SQLite database, a missing file."""
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, but long enough to look like one" * 100)
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE t (x)")
    return [text, other, tmp_path / "missing.db"]


def test_a_file_that_is_not_a_tenwatch_backup_is_refused_and_nothing_changes(
    runner: CliRunner, database: Path, not_ours: list[Path]
) -> None:
    before = database.read_bytes()
    reasons = [refused(runner.invoke(app, ["restore", str(path)])) for path in not_ours]
    assert "not a SQLite database" in reasons[0]
    assert "not TenWatch's" in reasons[1]
    assert "no backup file" in reasons[2]
    assert database.read_bytes() == before
    assert not list(database.parent.glob("cli.db.before-restore-*"))


def test_a_backup_of_a_newer_release_is_refused(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    with closing(sqlite3.connect(target)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    assert not known("0099")
    said = refused(runner.invoke(app, ["restore", str(target)]))
    assert "0099" in said
    assert "newer" in said


def test_an_older_backup_is_migrated_up_on_restore(runner: CliRunner, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{old}", "0015"))
    assert backup.check(old).revision == "0015"
    restored = runner.invoke(app, ["restore", str(old)])
    assert restored.exit_code == 0, restored.output
    assert backup.check(tmp_path / "cli.db").revision == head()
    with closing(sqlite3.connect(tmp_path / "cli.db")) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"hardware", "hardware_unknown"} <= tables  # what 0016 adds


def test_a_log_left_by_a_killed_service_is_in_a_backup_and_kept_by_a_restore(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    # A process writes into the log and dies before anything copies it into the database.
    script = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA wal_autocheckpoint=0')\n"
        "db.execute(\"UPDATE households SET address = 'X' || address\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(database)], check=True)
    assert Path(f"{database}-wal").stat().st_size > 0
    left = tmp_path / "left.db"
    assert runner.invoke(app, ["backup", str(left)]).exit_code == 0
    with closing(sqlite3.connect(left)) as db:
        assert db.execute("SELECT count(*) FROM households WHERE address LIKE 'X%'").fetchone()[0]
    assert runner.invoke(app, ["restore", str(target)]).exit_code == 0
    (kept,) = tmp_path.glob("cli.db.before-restore-*")
    with closing(sqlite3.connect(kept)) as db:
        addresses = [row[0] for row in db.execute("SELECT address FROM households")]
    assert addresses
    assert all(a.startswith("X") for a in addresses)
    with closing(sqlite3.connect(database)) as db:
        assert not db.execute("SELECT count(*) FROM households WHERE address LIKE 'X%'").fetchone()[
            0
        ]


def test_a_database_sqlite_cannot_read_is_kept_as_it_is_and_replaced(
    runner: CliRunner, database: Path, tmp_path: Path
) -> None:
    target = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(target)]).exit_code == 0
    ruined = b"ruined by a disk" * 1000
    database.write_bytes(ruined)
    restored = runner.invoke(app, ["restore", str(target)])
    assert restored.exit_code == 0, restored.output
    (kept,) = tmp_path.glob("cli.db.before-restore-*Z")  # with the log beside it, if any
    assert kept.read_bytes() == ruined
    assert households(database) == households(target) > 0
