"""A SQLite database backed up while the service writes it, and restored while it is stopped.

Backup: one read transaction on the live database, copied page by page through SQLite's backup
API into a temporary file beside the target. Under WAL a reader blocks no writer, and every step
reads the same snapshot, so the copy is the database as of one commit while presses go on (a
stepped copy without that transaction starts over whenever another process commits, so under a
steady stream of presses it never ends). The copy is put in rollback-journal mode (one file,
nothing beside it), checked (`PRAGMA integrity_check`), synced, and only then given its name: a
half-written backup never has it.

Restore: the backup is checked first (a SQLite file, TenWatch's schema, its integrity). The
database's own WAL is then folded into it by leaving WAL mode, which SQLite refuses while any
other connection, of any process, has the database open: that refusal is how a running service
is found ("stop the service first"). Holding the database's exclusive lock from then on, the
old contents are copied aside (`<name>.before-restore-<UTC time>`) and the backup copied in, by
the backup API, not a file copy under a log. The caller migrates it up if it is older.

PostgreSQL has pg_dump and pg_restore for all this (docs/operate.md, "Backup and restore").
"""

import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import is_sqlite

STEP_PAGES = 1024  # 4 MiB a step at SQLite's default page size
BUSY_SECONDS = 10.0
IN_USE_SECONDS = 0.5


class Refused(Exception):
    """A backup or restore that cannot be done, with one sentence that says why."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What a backup file holds: its size, its schema revision, its alarms, its newest event."""

    path: Path
    size: int
    revision: str
    alarms: int
    last_event_id: int

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.size:,} bytes, schema {self.revision}, {self.alarms} alarms,"
            f" last event id {self.last_event_id}"
        )


@dataclass(frozen=True, slots=True)
class Restored:
    """A restore done: what was restored, and where the database it replaced was kept."""

    backup: Summary
    kept: Path | None


def sqlite_path(url: str) -> Path:
    """The file of a SQLite database URL; a PostgreSQL URL or an in-memory database is
    refused."""
    if not is_sqlite(url):
        raise Refused(
            "the database is PostgreSQL: back it up with pg_dump and restore it with pg_restore"
            " (docs/operate.md, Backup and restore)"
        )
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Refused("the database is in memory: there is no file to back up or restore")
    return Path(database)


def _open(path: Path, mode: str) -> sqlite3.Connection:
    """A connection to an existing file only (sqlite3 would make an empty database of a
    mistyped name), mode "ro" or "rw"."""
    uri = f"{path.absolute().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None)


def _summary(connection: sqlite3.Connection, path: Path) -> Summary:
    """Check a database's integrity and TenWatch's schema in it; what it holds."""
    try:
        checked = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{path} is not a SQLite database ({exc})") from exc
    if checked != ["ok"]:
        raise Refused(f"{path} fails SQLite's integrity check: {'; '.join(checked[:3])}")
    if not {"alembic_version", "alerts", "alert_events"} <= tables:
        raise Refused(f"{path} is a SQLite database but not TenWatch's (no alembic_version)")
    revisions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    if len(revisions) != 1:
        raise Refused(f"{path} has {len(revisions)} schema revisions, not one")
    alarms, last = connection.execute(
        "SELECT (SELECT count(*) FROM alerts), (SELECT coalesce(max(id), 0) FROM alert_events)"
    ).fetchone()
    return Summary(path, path.stat().st_size, revisions[0], int(alarms), int(last))


def check(path: Path) -> Summary:
    """A backup file's summary, once it is found whole: a SQLite database with TenWatch's
    schema that passes SQLite's integrity check."""
    if not path.is_file():
        raise Refused(f"there is no backup file {path}")
    try:
        connection = _open(path, "ro")
    except sqlite3.Error as exc:
        raise Refused(f"{path} cannot be opened as a SQLite database ({exc})") from exc
    try:
        return _summary(connection, path)
    finally:
        connection.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy source's database, as it stands in source's transaction, to a new file target."""
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(copy, pages=STEP_PAGES)
        copy.execute("PRAGMA journal_mode=DELETE")  # one file: no log beside it to lose
    finally:
        copy.close()


def _install(temporary: Path, target: Path, *, replace: bool) -> None:
    """Give a finished, synced file its name; without replace, an existing target stays."""
    _fsync(temporary)
    if replace:
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)  # fails, atomically, if target appeared meanwhile
        except FileExistsError as exc:
            raise Refused(f"{target} exists: give another name, or --force") from exc
        finally:
            temporary.unlink(missing_ok=True)
    _fsync(target.parent)


def _temporary(target: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    return Path(name)


def backup(*, database: Path, target: Path, force: bool = False) -> Summary:
    """Back up the database file to target while the service runs; an existing target is
    refused unless force. Returns what the backup holds."""
    if not database.is_file():
        raise Refused(f"there is no database {database} to back up")
    if target.exists() and not force:
        raise Refused(f"{target} exists: give another name, or --force")
    if not target.parent.is_dir():
        raise Refused(f"there is no directory {target.parent} to write {target.name} in")
    if target.resolve() == database.resolve():
        raise Refused(f"{target} is the database itself")
    temporary = _temporary(target)
    try:
        source = _open(database, "ro")
        try:
            source.execute("BEGIN")  # one snapshot for every step of the copy
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            _copy(source, temporary)
            source.execute("COMMIT")
        except sqlite3.Error as exc:  # not a database, a full disk, …
            raise Refused(f"cannot copy the database {database} to {target} ({exc})") from exc
        finally:
            source.close()
        copy = _open(temporary, "ro")
        try:
            summary = _summary(copy, temporary)
        finally:
            copy.close()
        _install(temporary, target, replace=force)
    finally:
        temporary.unlink(missing_ok=True)
    return replace(summary, path=target)


def _lock(database: Path) -> sqlite3.Connection:
    """The database, opened (made, if there is none) and held: its log folded in, in rollback
    mode, under an exclusive lock kept until the connection closes. Refused while any other
    connection has it open; a file that is no database raises sqlite3.DatabaseError."""
    connection = sqlite3.connect(database, timeout=IN_USE_SECONDS, isolation_level=None)
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")  # no lock is let go once taken
        (mode,) = connection.execute("PRAGMA journal_mode=DELETE").fetchone()
        if mode != "delete":  # what SQLite answers when it cannot change it
            raise sqlite3.OperationalError(f"still in {mode} mode")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        connection.close()
        raise Refused(
            f"the database {database} is in use ({exc}): stop the service first, then restore"
        ) from exc
    except sqlite3.DatabaseError:
        connection.close()
        raise
    return connection


def _set_aside(database: Path, kept: Path) -> None:
    """Move a database SQLite cannot read (and its log) to kept, whole, as it is."""
    for suffix in ("-wal", "-shm", ""):
        found = Path(f"{database}{suffix}")
        if found.exists():
            os.replace(found, Path(f"{kept}{suffix}"))


def restore(
    *, source: Path, database: Path, known: Callable[[str], bool], now: datetime | None = None
) -> Restored:
    """Replace the database file with the backup source, checked first (whole, and at a schema
    revision the caller knows), while nothing has the database open; the database it replaces
    is kept beside it (one SQLite cannot read, as it is). The caller migrates it up. The copy
    in is one transaction: if it fails, the database is as it was."""
    summary = check(source)
    if not known(summary.revision):
        raise Refused(
            f"{source} has schema revision {summary.revision}, unknown to this release of"
            " TenWatch (a backup of a newer one?): restore it with that release"
        )
    if database.exists() and source.resolve() == database.resolve():
        raise Refused(f"{source} is the database itself")
    if not database.parent.is_dir():
        raise Refused(f"there is no directory {database.parent} for the database")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    existed = database.is_file() and database.stat().st_size > 0
    try:
        held = _lock(database)
    except sqlite3.DatabaseError:  # corrupt, or no database at all: keep it as it is
        _set_aside(database, kept)
        held, existed = _lock(database), False
    try:
        if existed:
            temporary = _temporary(kept)
            try:
                _copy(held, temporary)
                _install(temporary, kept, replace=False)
            finally:
                temporary.unlink(missing_ok=True)
        backup_file = _open(source, "ro")
        try:
            backup_file.backup(held, pages=STEP_PAGES)
        finally:
            backup_file.close()
        _summary(held, database)  # what was written reads back whole
    except sqlite3.Error as exc:
        raise Refused(f"cannot restore {source} into {database} ({exc})") from exc
    finally:
        held.close()
    return Restored(summary, kept if kept.exists() else None)
