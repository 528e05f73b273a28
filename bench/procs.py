"""The processes a run starts — its own Redis, the service under uvicorn — and their cleanup."""

import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server (no persistence) on a free port; pub/sub ignores db numbers, so a
    shared Redis would mix other people's `group:N` messages into ours."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; pass --redis-url redis://…")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                stop(process)
                raise RuntimeError("redis-server did not answer within 10 s") from None
            time.sleep(0.05)
    client.close()
    return process, url


def start_server(
    *,
    database_url: str,
    redis_url: str | None,
    log: Path,
    workers: int = 1,
    app: str = "server.web.app:create_app",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """The service (or another app factory) under uvicorn in its own process (or a supervisor
    of `workers` processes sharing one port), with `tenwatch serve`'s uvicorn options
    (bench/serve.py); returns once GET /readyz says ok. Without a redis_url the service runs
    embedded, on its in-process bus."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "TENWATCH_REDIS_URL"},
        "TENWATCH_DATABASE_URL": database_url,
        **({"TENWATCH_REDIS_URL": redis_url} if redis_url else {}),
        **(env or {}),
    }
    command = [sys.executable, "-m", "bench.serve", app, str(port), str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        try:
            ready = httpx.get(f"{base}/readyz", timeout=2, trust_env=False).json()
            if ready.get("status") == "ok":
                return process, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"the server was not ready within 30 s; see {log}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate a process we started, and kill it if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Sample the server with py-spy (pip install py-spy) for seconds; collapsed stacks."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(seconds))),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def fresh_postgres(server_dsn: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at server_dsn (postgresql://…), dropped
    afterwards; yields its SQLAlchemy URL."""
    import asyncpg

    name = f"tenwatch_bench_{os.getpid()}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        base, _, _ = server_dsn.rpartition("/")
        yield base.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def child(target: Any, args: tuple[Any, ...], name: str) -> tuple[BaseProcess, Connection]:
    """Start target(*args, conn) in a spawned daemon process; returns it and our end of conn."""
    ours, theirs = mp.get_context("spawn").Pipe()
    process = mp.get_context("spawn").Process(
        target=target, args=(*args, theirs), name=name, daemon=True
    )
    process.start()
    return process, ours


def expect(conn: Connection, kind: str, process: BaseProcess, timeout: float) -> Any:
    """The next message from a child process, which must be of this kind."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not process.is_alive():
            raise RuntimeError(f"the {process.name} process died (exit {process.exitcode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {kind!r} from the {process.name} process within {timeout} s")
    got, payload = conn.recv()
    if got != kind:
        raise RuntimeError(f"the {process.name} process said {got}: {payload}")
    return payload


def _tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def rss_mib(process: psutil.Process) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MiB."""
    rss: list[int] = [p.memory_info().rss for p in _tree(process)]
    return sum(rss) / 2**20


def cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds so far of a process and its children."""
    seconds: list[float] = [t.user + t.system for t in (p.cpu_times() for p in _tree(process))]
    return sum(seconds)


def clean(workdir: Path, *, keep: bool) -> None:
    """Remove a run's temporary directory, or say where it was kept."""
    if keep:
        print(f"kept {workdir}")
        return
    for path in sorted(workdir.glob("**/*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    workdir.rmdir()
