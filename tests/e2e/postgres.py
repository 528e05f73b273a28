"""A private PostgreSQL server for one test, which the test may stop and start again.

The machine's shared server (5432) is never touched: `initdb` makes a cluster in a fresh
directory under the system's temp dir, and `pg_ctl` runs it on a free loopback port with its
socket in that directory. PostgreSQL refuses to run as root, so as root (CI, containers) every
command runs as the `postgres` OS user (`runuser -u postgres --`), which owns the directory;
that user exists wherever Debian's `postgresql` package is installed. The binaries are found on
PATH or in Debian's /usr/lib/postgresql/<version>/bin."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from tests.services import POSTGRES_HINT, free_port

StopMode = Literal["smart", "fast", "immediate"]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(POSTGRES_HINT)


class PostgresServer:
    """One private cluster: its port, its DSNs, and verbs to stop and start it."""

    def __init__(self, datadir: Path, port: int) -> None:
        self.datadir = datadir
        self.port = port
        self._pg_ctl = _binary("pg_ctl")
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def dsn(self, database: str = "postgres") -> str:
        """A plain (asyncpg) DSN of a database (the maintenance one by default), as the
        superuser `postgres`."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *command: str) -> None:
        """Run a PostgreSQL command as the user that owns the cluster; its output goes in the
        error when it fails."""
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def initdb(self) -> None:
        """Make the cluster in the (empty) data directory: trust authentication, superuser
        `postgres`."""
        if self._as:
            shutil.chown(self.datadir, "postgres")
        self.run(_binary("initdb"), "-A", "trust", "-U", "postgres", "-D", str(self.datadir))

    @property
    def running(self) -> bool:
        """Whether the server is up (pg_ctl status exits 0), or stopped (3)."""
        status = [*self._as, self._pg_ctl, "-D", str(self.datadir), "status"]
        return subprocess.run(status, capture_output=True, check=False).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1"
        log = str(self.datadir / "server.log")
        self.run(self._pg_ctl, "-D", str(self.datadir), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server and wait until it is down: "fast" ends every session with an error
        (a restart by an administrator), "immediate" kills them (a crash)."""
        self.run(self._pg_ctl, "-D", str(self.datadir), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A fresh cluster with trust authentication on loopback, started; stopped and removed
    afterwards."""
    datadir = Path(tempfile.mkdtemp(prefix="tenwatch-pg-"))
    server = PostgresServer(datadir, free_port())
    try:
        server.initdb()
        server.start()
        try:
            yield server
        finally:
            if server.running:
                server.stop("immediate")
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
