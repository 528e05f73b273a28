"""`python -m bench.press`: what one press costs the service itself, in-process and repeatable.

The app runs with its lifespan in this process (SQLite on disk, the in-process bus, no sockets)
and random households press help through raw ASGI calls, without an HTTP client or server in
between. The background workers are held still (the outbox and the scheduler are stopped once
started, the heap worker is off, SQLite checkpoints on commit), so each run does the same work:
the texts a press queues are stored, not sent. It prints the CPU time per press (of every thread
of the process: aiosqlite runs SQLite in a thread of its own) and the statements per press (what
`before_cursor_execute` listeners see: a round trip each on PostgreSQL); `--callgrind` counts
the instructions per press under valgrind, which give the same figure on a busy machine and a
quiet one (within ≈ 0.2 %). `--against REV` measures a git revision the same way in the same run
(a worktree of it, with this file's harness) and prints the ratio. `--database` runs on a fresh
database of that PostgreSQL server (created for each run, dropped after it) instead of SQLite;
`--uvloop` runs on uvloop (what uvicorn picks when it is installed) instead of asyncio's loop.

    .venv/bin/python -m bench.press                                # ≈ 15 s
    .venv/bin/python -m bench.press --callgrind --against HEAD~1   # ≈ 4 min
    .venv/bin/python -m bench.press --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.press --together 100                 # a storm's batches

`--together K` presses K households at once, as a storm does: they queue behind their
community's batch and commit together, and the figures are per press.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from starlette.types import Message

ROOT = Path(__file__).resolve().parent.parent
STILL = {
    "TENWATCH_GC_FREEZE_SECONDS": "0",
    "TENWATCH_SQLITE_CHECKPOINT_SECONDS": "0",
    "TENWATCH_REDIS_URL": "",
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.press", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--households", type=int, default=10_000, help="households seeded")
    parser.add_argument("--presses", type=int, default=1000, help="presses measured")
    parser.add_argument("--warm", type=int, default=300, help="presses before measuring")
    parser.add_argument("--callgrind", action="store_true", help="count instructions (valgrind)")
    parser.add_argument(
        "--together",
        type=int,
        default=1,
        metavar="K",
        help="press K households at once (a storm's shape: they commit as one batch)",
    )
    parser.add_argument("--against", metavar="REV", help="measure this git revision too")
    parser.add_argument(
        "--uvloop", action="store_true", help="on uvloop, the loop `tenwatch serve` runs on"
    )
    parser.add_argument(
        "--database",
        metavar="DSN",
        help="a PostgreSQL server (postgresql://user@host:port/db) to press on instead of SQLite",
    )
    parser.add_argument(
        "--logs",
        choices=["text", "json"],
        help="log at INFO as `tenwatch serve` does, lines to /dev/null (a revision without the"
        " service's logging, server/runtime/logs.py, runs without: the ratio is their cost)",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one child's run
    return parser.parse_args()


class App:
    """The service's ASGI app with its lifespan running, called without a server."""

    def __init__(self) -> None:
        from server.settings import Settings

        try:  # a revision before server/ split into packages
            from server.app import create_app  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            from server.web.app import create_app

        self.app = create_app(Settings())
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run the lifespan's startup."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._lifespan("startup")
        await self.state["outbox"].stop()  # its texts wait in the outbox: no time-driven work
        await self.state["scheduler"].stop()
        self.statements = 0
        event.listen(self.state["engine"].sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    async def stop(self) -> None:
        """Run the lifespan's shutdown."""
        await self._lifespan("shutdown")

    async def _lifespan(self, phase: str) -> None:
        await self._inbox.put({"type": f"lifespan.{phase}"})
        answer = await self._outbox.get()
        if answer["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(f"lifespan {phase} failed: {answer}")

    async def post(self, path: str, token: str, body: bytes) -> int:
        """POST a JSON body as the token's holder; returns the status."""
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", b"Bearer " + token.encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": dict(self.state),
        }
        sent: list[Message] = []
        requests = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Message:
            if requests:
                return requests.pop()
            await asyncio.Event().wait()  # a request never disconnects
            raise AssertionError

        async def send(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return int(sent[0]["status"])


async def _admin(server_dsn: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _measure(args: argparse.Namespace, toggle: Callable[[str], None]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tenwatch-press-"))
    name = f"tenwatch_press_{os.getpid()}"
    if args.database:
        await _admin(args.database, f"CREATE DATABASE {name}")
    try:
        if args.database:
            base = args.database.rpartition("/")[0]
            url = base.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
        else:
            url = f"sqlite+aiosqlite:///{workdir / 'press.db'}"
        return await _presses(args, toggle, url)
    finally:
        if args.database:
            await _admin(args.database, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


async def _presses(
    args: argparse.Namespace, toggle: Callable[[str], None], url: str
) -> dict[str, Any]:
    from bench.seed import seed

    seeded = await seed(url, households=args.households, boards=5)
    os.environ.update({**STILL, "TENWATCH_DATABASE_URL": url})
    app = App()
    await app.start()
    rng = random.Random(1)
    body = json.dumps({"type": "help"}).encode()
    statuses: dict[int, int] = {}
    times: list[float] = []

    async def press() -> None:
        token = seeded.households[rng.randrange(len(seeded.households))][0]
        status = await app.post("/api/alerts", token, body)
        statuses[status] = statuses.get(status, 0) + 1

    async def presses() -> None:  # K at once: the community's batch takes them together
        await asyncio.gather(*(press() for _ in range(args.together)))

    for _ in range(args.warm // args.together):
        await presses()
    statuses.clear()
    app.statements = 0
    walls: list[float] = []
    toggle("on")
    started, loop_started = time.process_time(), time.thread_time()
    for _ in range(args.presses // args.together):
        before, wall = time.process_time(), time.perf_counter()
        await presses()
        times.append((time.process_time() - before) / args.together)
        walls.append((time.perf_counter() - wall) / args.together)
    cpu, loop_cpu = time.process_time() - started, time.thread_time() - loop_started
    toggle("off")
    statements = app.statements
    await app.stop()
    if set(statuses) - {200, 201}:
        raise RuntimeError(f"presses failed: {statuses}")
    return {
        "cpu_ms": 1000 * cpu / args.presses,
        "loop_ms": 1000 * loop_cpu / args.presses,
        "median_ms": 1000 * statistics.median(times),
        "wall_ms": 1000 * statistics.median(walls),
        "statements": statements / args.presses,
        "statuses": statuses,
    }


def _child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints its figures as JSON."""

    def toggle(state: str) -> None:
        if args.callgrind:
            subprocess.run(
                ["callgrind_control", "-i", state, str(os.getpid())],
                check=True,
                capture_output=True,
            )

    if args.logs:
        _log_to_nowhere(args.logs)
    if args.uvloop:
        import uvloop

        print(json.dumps(uvloop.run(_measure(args, toggle))))
    else:
        print(json.dumps(asyncio.run(_measure(args, toggle))))


def _log_to_nowhere(output: str) -> None:
    """The service's logging at INFO, written to /dev/null, if the revision has it."""
    import logging
    import logging.config

    try:
        from server.runtime import logs  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    logging.config.dictConfig(logs.config(output=output, level="INFO"))  # type: ignore[arg-type]
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (the process's, to its end)


def _run(where: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Measure the code at `where` in a fresh process (under valgrind when counting)."""
    command = [  # this file as a script, importing the service from `where`
        sys.executable,
        str(Path(__file__).resolve()),
        "--json",
        f"--households={args.households}",
        f"--presses={args.presses}",
        f"--warm={args.warm}",
        f"--together={args.together}",
        *([f"--database={args.database}"] if args.database else []),
        *(["--uvloop"] if args.uvloop else []),
        *([f"--logs={args.logs}"] if args.logs else []),
    ]
    out = None
    if args.callgrind:
        out = Path(tempfile.mkdtemp(prefix="tenwatch-callgrind-")) / "out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            *command,
            "--callgrind",
        ]
    env = {**os.environ, "PYTHONPATH": str(where)}
    done = subprocess.run(command, cwd=where, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measurement at {where} failed:\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if out is not None:
        figures["instructions"] = _instructions(out) / args.presses
        shutil.rmtree(out.parent, ignore_errors=True)
    return figures


def _instructions(out: Path) -> int:
    counts = {}
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            name, value = line.split()[:2]
            counts[name] = int(value)
    if not any(counts.values()):
        raise RuntimeError(f"no instruction count in {out}")
    return counts.get("totals:") or counts["summary:"]


def _report(name: str, figures: dict[str, Any]) -> str:
    line = (
        f"{name:>12}: {figures['cpu_ms']:.3f} ms CPU a press ({figures['loop_ms']:.3f} on the"
        f" loop's thread; median {figures['median_ms']:.3f}, wall median {figures['wall_ms']:.3f}),"
        f" {figures['statements']:.2f} statements a press"
    )
    if "instructions" in figures:
        line += f", {figures['instructions'] / 1e6:.3f} M instructions a press"
    return line + f"; answers {figures['statuses']}"


def main() -> int:
    """Measure this checkout (and a revision, if asked) and print the figures."""
    args = _arguments()
    if args.json:
        _child(args)
        return 0
    if args.callgrind and shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    runs = {"this checkout": ROOT}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="tenwatch-against-"))
        added = subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.against],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if added.returncode != 0:
            shutil.rmtree(worktree, ignore_errors=True)
            print(f"no worktree of {args.against}: {added.stderr.strip()}", file=sys.stderr)
            return 2
        runs = {args.against: worktree, **runs}
    try:
        print(
            f"{args.presses} presses of {args.households} households after {args.warm} to warm up"
        )
        figures = {}
        for name, where in runs.items():
            figures[name] = _run(where, args)
            print(_report(name, figures[name]), flush=True)
        if args.against:
            key = "instructions" if args.callgrind else "cpu_ms"
            ratio = figures["this checkout"][key] / figures[args.against][key]
            print(f"this checkout / {args.against}: {ratio:.3f} ({key})")
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
