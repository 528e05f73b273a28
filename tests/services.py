"""Find or start the real Redis and PostgreSQL servers the tests talk to."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

REDIS_HINT = (
    "Redis is needed: run one at 127.0.0.1:6379 (or set TENWATCH_TEST_REDIS_URL), "
    "or install the binary (apt-get install redis-server) so the tests can start one."
)
POSTGRES_HINT = (
    "PostgreSQL is needed: run one at 127.0.0.1:5432 with trust auth (or set "
    "TENWATCH_TEST_POSTGRES_URL), or install it (apt-get install postgresql) so the tests "
    "can start one."
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at url."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@contextmanager
def redis_server(port: int | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a private redis-server on a free port; yields its URL and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(REDIS_HINT)
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(url):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def shared_redis() -> Iterator[str]:
    """A Redis URL for the test session: the running server, else a private one."""
    url = os.environ.get("TENWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    if redis_answers(url):
        yield url
        return
    with redis_server() as (private_url, _proc):
        yield private_url


def _pg_answers(dsn: str) -> bool:
    import asyncio

    import asyncpg

    async def ping() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=2)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(ping())


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@contextmanager
def _private_postgres() -> Iterator[str]:
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError(POSTGRES_HINT)
    port = free_port()
    datadir = Path(tempfile.mkdtemp(prefix="tenwatch-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(datadir, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*prefix, initdb, "-A", "trust", "-U", "postgres", "-D", str(datadir)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(datadir),
            "-w",
            "-o",
            f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(datadir), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(datadir, ignore_errors=True)


@contextmanager
def shared_postgres() -> Iterator[str]:
    """A plain asyncpg DSN of a PostgreSQL server: the running one, else a private one."""
    dsn = os.environ.get(
        "TENWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    if _pg_answers(dsn):
        yield dsn
        return
    with _private_postgres() as private:
        yield private
