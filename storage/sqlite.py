"""SQLite's write-ahead log, copied into the database on a connection of its own."""

import sqlite3
from typing import Literal

SQLITE_BUSY = 5
SQLITE_BUSY_RECOVERY = 261
CHECKPOINT_WAIT_SECONDS = 0.2


def checkpoint(path: str, mode: Literal["PASSIVE", "RESTART"]) -> tuple[int, int, int]:
    """Copy the write-ahead log into the database on a connection of its own, so any thread may
    run it: PASSIVE copies what it can without waiting for anyone; RESTART copies the rest and
    lets the next write start the log afresh, once nobody is reading or writing (it waits up to
    `CHECKPOINT_WAIT_SECONDS` for another process's write). Returns (busy, frames in the log,
    frames copied)."""
    connection = sqlite3.connect(path, timeout=CHECKPOINT_WAIT_SECONDS)
    try:
        row = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode not in (SQLITE_BUSY, SQLITE_BUSY_RECOVERY):
            raise
        return 1, -1, -1  # another connection is checkpointing
    finally:
        connection.close()
