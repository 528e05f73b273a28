"""`python -m bench --storm N --within T`: N households of one community press once each
within T seconds, and every socket of the community must hear every alarm.

The schedule is fixed before the first press (random times in [0, T), each household once) and
kept whatever the server answers (open loop): a press's latency runs from its scheduled time.
Every household holds a socket (its group's channel) and a few staff hold board sockets (the
whole community). A socket the server closes reconnects at once with the highest event id it
has seen, as docs/protocol.md says; what the replay brings counts as delivered, at the time it
arrives. The truth is the database: after the presses settle the bench reads every stored press
event (alert.raised, alert.pressed) and checks which sockets heard each one.

Sockets and presses are dealt over as many client processes as the open-file limit needs
(FILES_PER_PROCESS each: a socket or an HTTP connection is one file).
"""

import argparse
import asyncio
import gc
import json
import math
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop
from sqlalchemy import func, or_, select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench import procs, report
from bench.clients import CONNECT_CONCURRENCY, dial, event_id
from bench.seed import Seeded, seed
from notifier.models import SENT, OutboxMessage
from server.alarms.models import Alert, AlertEvent, Audience, EventType
from storage.db import create_engine, create_sessionmaker

RESULTS = Path(__file__).parent / "results" / "storm-latest.json"
FILES_PER_PROCESS = 18_000  # a process may hold 20 000 open files; room for Python and churn
PATIENCE_SECONDS = 120.0  # the client's HTTP timeout: the server's own refusals show first
DRAIN_SECONDS = 30.0  # after the presses settle, how long sockets may take to hear the rest
SETTLE_SECONDS = 2.0  # the stored press count must hold this long before it is the truth
RECONNECT_PAUSE = 0.05  # between a server's close and the reconnect, and between failed tries
PRESS_EVENTS = (EventType.RAISED, EventType.PRESSED)


@dataclass(frozen=True)
class Share:
    """One client process's part of the storm: some sockets, some presses."""

    base: str  # http://127.0.0.1:P
    sockets: list[tuple[int, str, int | None]]  # (socket index, token, group id; None: board)
    presses: list[tuple[int, str, float]]  # (household index, token, seconds after t0)
    deflate: bool
    patience: float
    source: str  # the local address this process connects from (127.0.0.2, 127.0.0.3, …)


@dataclass
class Press:
    """One press as the client saw it."""

    household: int
    due: float
    answered: float = 0.0
    status: str = ""  # "201", "200", "HTTP 503", "TimeoutError", …
    event_id: int | None = None


@dataclass
class Heard:
    """One logical socket across its reconnects: what it heard, and how the server treated it."""

    index: int
    token: str
    group: int | None
    arrivals: dict[int, tuple[float, bool]] = field(default_factory=dict)  # id → (at, replayed)
    position: int = 0  # the highest event id seen (or the first hello's start)
    duplicates: int = 0
    closes: Counter[str] = field(default_factory=Counter)  # close code (or error) → times
    replayed: int = 0
    truncated: int = 0
    connects: int = 0
    ws: ClientConnection | None = None  # the connection it holds now

    def hear(self, message: str | bytes, at: float, *, replayed: bool) -> None:
        """Record one message: an event once (a second time is a duplicate), others ignored."""
        found = event_id(message)
        if found is None:
            return
        if found in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[found] = (at, replayed)
        self.position = max(self.position, found)


async def _connect(
    url: str, token: str, *, deflate: bool, source: str
) -> tuple[ClientConnection, dict[str, Any]]:
    ws, hello = await dial(url, token, deflate=deflate, timeout=60, source=source)
    return ws, json.loads(hello)


async def _listen(
    ws_base: str,
    sock: Heard,
    first: tuple[ClientConnection, dict[str, Any]],
    *,
    deflate: bool,
    source: str,
    stopping: asyncio.Event,
) -> None:
    """Hear one socket until stopping; when the server closes it, reconnect from the highest id
    seen. Every close not of our own making is counted by its code."""
    ws, hello = first
    clock = time.perf_counter
    while True:
        sock.ws = ws
        owed = int(hello.get("replayed", 0))
        sock.replayed += owed
        sock.truncated += bool(hello.get("truncated"))
        if not sock.connects:
            sock.position = int(hello["last_event_id"])
        sock.connects += 1
        try:
            async for message in ws:
                sock.hear(message, clock(), replayed=owed > 0)
                owed = max(owed - 1, 0)
        except ConnectionClosed:
            pass
        if stopping.is_set():
            return
        sock.closes[str(ws.close_code)] += 1  # the server's close code; 1006 without a frame
        while not stopping.is_set():
            await asyncio.sleep(RECONNECT_PAUSE)
            try:
                ws, hello = await _connect(
                    f"{ws_base}?last_event_id={sock.position}",
                    sock.token,
                    deflate=deflate,
                    source=source,
                )
                break
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                reason = (
                    f"HTTP {exc.response.status_code}"
                    if isinstance(exc, InvalidStatus)
                    else type(exc).__name__
                )
                sock.closes[f"reconnect failed: {reason}"] += 1
        else:
            return


async def _press(http: aiohttp.ClientSession, base: str, token: str, press: Press) -> None:
    try:
        async with http.post(
            f"{base}/api/alerts",
            json={"type": "help"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            # The status first: an error's body need not be JSON (Starlette's own 500 is text).
            text = await response.text()
            press.answered = time.perf_counter()
            if not 200 <= response.status < 300:
                press.status = f"HTTP {response.status}: {' '.join(text.split())[:60]}"
                return
            press.status = str(response.status)
            body = json.loads(text)
            if isinstance(body, dict) and body.get("event_id") is not None:
                press.event_id = int(body["event_id"])
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        press.answered = time.perf_counter()
        press.status = type(exc).__name__


def _owed(expected: list[tuple[int, int, str]]) -> tuple[dict[int, set[int]], set[int]]:
    """The press events each group's sockets must hear, and those a board must hear."""
    groups: dict[int, set[int]] = defaultdict(set)
    board: set[int] = set()
    for event, group, audience in expected:
        if audience != Audience.BOARD:
            groups[group].add(event)
        if audience != Audience.GROUP:
            board.add(event)
    return groups, board


def _complete(socks: list[Heard], owed: tuple[dict[int, set[int]], set[int]]) -> bool:
    """Whether every socket here heard every press event it should (its group's, or all)."""
    groups, board = owed
    return all(
        (board if s.group is None else groups.get(s.group, set())) <= s.arrivals.keys()
        for s in socks
    )


async def _client(share: Share, parent: Connection) -> dict[str, Any]:
    ws_base = share.base.replace("http://", "ws://", 1) + "/ws"
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    stopping = asyncio.Event()
    socks = [Heard(i, token, group) for i, token, group in share.sockets]

    async def first(sock: Heard) -> tuple[ClientConnection, dict[str, Any]]:
        async with gate:
            return await _connect(ws_base, sock.token, deflate=share.deflate, source=share.source)

    started = time.perf_counter()
    opened = await asyncio.gather(*(first(s) for s in socks))
    connect_seconds = time.perf_counter() - started
    listeners = [
        asyncio.create_task(
            _listen(ws_base, s, o, deflate=share.deflate, source=share.source, stopping=stopping)
        )
        for s, o in zip(socks, opened, strict=True)
    ]
    loop = asyncio.get_running_loop()
    # Open loop: every press its own connection.
    connector = aiohttp.TCPConnector(limit=0, local_addr=(share.source, 0))
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=share.patience)
    ) as http:
        gc.collect()
        gc.freeze()
        gc.disable()  # no collector pauses stamped on arrivals (see clients.py)
        parent.send(("connected", {"sockets": len(socks), "connect_seconds": connect_seconds}))
        kind, t0 = await loop.run_in_executor(None, parent.recv)
        assert kind == "go"
        me = psutil.Process()
        cpu0 = me.cpu_times()
        presses: list[Press] = []
        posts: list[asyncio.Task[None]] = []
        late = 0.0
        for household, token, offset in share.presses:
            due = t0 + offset
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            press = Press(household, due)
            presses.append(press)
            posts.append(asyncio.create_task(_press(http, share.base, token, press)))
        await asyncio.gather(*posts)
        cpu1 = me.cpu_times()
        parent.send(
            ("pressed", [(p.household, p.due, p.answered, p.status, p.event_id) for p in presses])
        )
        kind, expected = await loop.run_in_executor(None, parent.recv)
        assert kind == "expect"
        deadline = time.perf_counter() + DRAIN_SECONDS
        # Polled: the arrivals come from thousands of sockets; checking them 10 times a second
        # costs less than an event per arrival.
        owed = _owed(expected)
        while not _complete(socks, owed) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        gc.enable()
    stopping.set()
    await asyncio.gather(*(s.ws.close() for s in socks if s.ws), return_exceptions=True)
    await asyncio.wait(listeners, timeout=10)
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    wanted = {event for event, _, _ in expected}
    return {
        "connect_seconds": connect_seconds,
        "client_cpu_seconds": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "generator_max_lag_ms": late * 1000,
        "sockets": [
            {
                "index": s.index,
                "group": s.group,
                "arrivals": {e: a for e, a in s.arrivals.items() if e in wanted},
                "duplicates": s.duplicates,
                "closes": dict(s.closes),
                "replayed": s.replayed,
                "truncated": s.truncated,
                "connects": s.connects,
            }
            for s in socks
        ],
    }


def client_main(share: Share, parent: Connection) -> None:
    """Process entry point: connect, wait for ("go", t0), press, wait for the expected press
    events, send back what every socket heard."""
    procs.raise_nofile()
    try:
        result = uvloop.run(_client(share, parent))
    except Exception as exc:
        parent.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    parent.send(("done", result))


# --- the parent: seed, serve, deal the work, read the truth from the database -----------------


@dataclass(frozen=True)
class Stored:
    """What the database holds after the storm."""

    alarms: int
    press_events: list[tuple[int, str, int, int, str]]  # (id, type, household id, group, audience)
    events_by_type: dict[str, int]
    outbox: dict[str, int]  # status → jobs
    sent_twice: int  # (alert, channel, to) with two or more sent jobs


async def _stored(url: str, community_id: int, residents: dict[int, int]) -> Stored:
    """Read the storm's alarms, press events and texts (residents: resident id → household id,
    for a press merged into an open alarm, whose event names the resident)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            alarms = await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.community_id == community_id)
            )
            rows = await session.execute(
                select(
                    AlertEvent.id,
                    AlertEvent.type,
                    AlertEvent.actor,
                    AlertEvent.audience,
                    Alert.household_id,
                    Alert.group_id,
                )
                .join(Alert, Alert.id == AlertEvent.alert_id)
                .where(AlertEvent.community_id == community_id, AlertEvent.type.in_(PRESS_EVENTS))
                .order_by(AlertEvent.id)
            )
            press_events = []
            for event, kind, actor, audience, household, group in rows.all():
                if kind == EventType.PRESSED and actor.startswith("resident:"):
                    household = residents.get(int(actor.split(":", 1)[1]), household)
                press_events.append((event, str(kind), household or 0, group or 0, str(audience)))
            by_type = await session.execute(
                select(AlertEvent.type, func.count())
                .where(AlertEvent.community_id == community_id)
                .group_by(AlertEvent.type)
            )
            outbox = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            twice = (
                select(OutboxMessage.alert_id)
                .where(or_(OutboxMessage.status == SENT, OutboxMessage.sent_at.is_not(None)))
                .group_by(OutboxMessage.alert_id, OutboxMessage.channel, OutboxMessage.to)
                .having(func.count() > 1)
                .subquery()
            )
            sent_twice = await session.scalar(select(func.count()).select_from(twice))
            return Stored(
                alarms=alarms or 0,
                press_events=press_events,
                events_by_type={str(k): n for k, n in by_type.all()},
                outbox={str(k): n for k, n in outbox.all()},
                sent_twice=sent_twice or 0,
            )
    finally:
        await engine.dispose()


async def _settled_count(url: str, community_id: int) -> int:
    """Poll the stored press events until their count holds for SETTLE_SECONDS."""
    engine = create_engine(url)
    try:
        count, since = -1, time.monotonic()
        while True:
            async with create_sessionmaker(engine)() as session:
                now = await session.scalar(
                    select(func.count())
                    .select_from(AlertEvent)
                    .where(
                        AlertEvent.community_id == community_id, AlertEvent.type.in_(PRESS_EVENTS)
                    )
                )
            if now != count:
                count, since = now or 0, time.monotonic()
            elif time.monotonic() - since >= SETTLE_SECONDS:
                return count
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def _schedule(args: argparse.Namespace, households: int) -> list[tuple[int, float]]:
    """Who presses when: args.storm distinct households, each at a random time in [0, within)."""
    rng = random.Random(1)
    who = rng.sample(range(households), args.storm)
    return sorted(((h, rng.uniform(0, args.within)) for h in who), key=lambda p: p[1])


def _backends(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving our database (the server's pools;
    other people's databases on the same server are not ours to count)."""
    if not database_url.startswith("postgresql"):
        return {}

    async def pids() -> list[int]:
        import asyncpg

        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conn = await asyncpg.connect(dsn)
        try:
            found = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            return [int(row["pid"]) for row in found]
        finally:
            await conn.close()

    cpu: dict[int, float] = {}
    for pid in asyncio.run(pids()):
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        cpu[pid] = times.user + times.system
    return cpu


def _other_cpu(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the backends spent between two snapshots (a backend that ended between them
    is missed: a lower bound)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def run(args: argparse.Namespace, *, database_url: str | None) -> int:
    """Run one storm on this database (None: a SQLite file of its own) and print its figures."""
    households = max(args.sockets or args.storm, args.storm)
    workdir = Path(tempfile.mkdtemp(prefix="tenwatch-storm-"))
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    redis_process: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    children: list[tuple[mp.process.BaseProcess, Connection]] = []
    try:
        print(f"seeding {households} households and {args.boards} board tokens in {workdir} …")
        seeded = asyncio.run(
            seed(database_url, households=households, boards=args.boards, phones=not args.no_phones)
        )
        redis_url = args.redis_url
        if redis_url is None and (args.redis or args.workers > 1):
            redis_process, redis_url = procs.start_redis(workdir)
        print(
            f"starting the service: {args.workers} worker(s), "
            f"{'PostgreSQL' if args.postgres else 'SQLite'}, bus {redis_url or 'memory://'} …"
        )
        server, base = procs.start_server(
            database_url=database_url,
            redis_url=redis_url,
            log=workdir / "server.log",
            workers=args.workers,
        )
        served = psutil.Process(server.pid)
        rss_before = procs.rss_mib(served)
        schedule = _schedule(args, len(seeded.households))
        sockets: list[tuple[int, str, int | None]] = [
            (i, token, group) for i, (token, group) in enumerate(seeded.households)
        ]
        n = len(sockets)
        sockets += [(n + b, token, None) for b, token in enumerate(seeded.boards)]
        k = max(args.clients, math.ceil((len(sockets) + len(schedule)) / FILES_PER_PROCESS))
        context = mp.get_context("spawn")
        for part in range(k):
            share = Share(
                base=base,
                sockets=sockets[part::k],
                presses=[(h, seeded.households[h][0], at) for h, at in schedule[part::k]],
                deflate=not args.no_deflate,
                patience=args.patience,
                source=f"127.0.0.{2 + part}",  # its own ephemeral ports: 50 000 sockets fit
            )
            ours, theirs = context.Pipe()
            process: mp.process.BaseProcess = context.Process(
                target=client_main, args=(share, theirs), name=f"client {part}", daemon=True
            )
            process.start()
            children.append((process, ours))
        print(f"connecting {len(sockets)} sockets from {k} client process(es) …")
        connected = [procs.expect(c, "connected", p, 600) for p, c in children]
        rss_after = procs.rss_mib(served)
        print(f"  connected in {max(c['connect_seconds'] for c in connected):.1f} s; storm …")
        t0 = time.perf_counter() + 0.5
        for _, conn in children:
            conn.send(("go", t0))
        cpu0 = procs.cpu_seconds(served)
        redis_cpu0 = procs.cpu_seconds(psutil.Process(redis_process.pid)) if redis_process else 0.0
        backends0 = _backends(database_url)
        pressed = [
            procs.expect(c, "pressed", p, args.within + args.patience + 60) for p, c in children
        ]
        settled_at = time.perf_counter()
        cpu1 = procs.cpu_seconds(served)
        redis_cpu1 = procs.cpu_seconds(psutil.Process(redis_process.pid)) if redis_process else 0.0
        backends1 = _backends(database_url)
        count = asyncio.run(_settled_count(database_url, seeded.community_id))
        residents = dict(zip(seeded.resident_ids, seeded.household_ids, strict=True))
        stored = asyncio.run(_stored(database_url, seeded.community_id, residents))
        print(f"  {count} press events stored; waiting for the sockets to hear them …")
        expected = [(e, g, a) for e, _, _, g, a in stored.press_events]
        for _, conn in children:
            conn.send(("expect", expected))
        done = [procs.expect(c, "done", p, DRAIN_SECONDS + 60) for p, c in children]
        for process, _ in children:
            process.join(10)
        stored = asyncio.run(_stored(database_url, seeded.community_id, residents))
        figures = _figures(
            args,
            seeded,
            stored,
            [p for part in pressed for p in part],
            done,
            cpu_seconds={
                "server": cpu1 - cpu0,
                "redis": redis_cpu1 - redis_cpu0 if redis_process else None,
                "postgresql": _other_cpu(backends0, backends1) if args.postgres else None,
            },
            seconds=settled_at - t0,
            rss_kib_per_socket=(rss_after - rss_before) * 1024 / max(len(sockets), 1),
            processes=k,
        )
        print(render(figures))
        report.save(figures, RESULTS)
        print(f"figures written to {RESULTS}")
        return 0
    finally:
        for process, _ in children:
            if process.is_alive():
                process.kill()
        procs.stop(server)
        procs.stop(redis_process)
        procs.clean(workdir, keep=args.keep)


def _figures(
    args: argparse.Namespace,
    seeded: Seeded,
    stored: Stored,
    presses: list[tuple[int, float, float, str, int | None]],
    done: list[dict[str, Any]],
    *,
    cpu_seconds: dict[str, float | None],
    seconds: float,
    rss_kib_per_socket: float,
    processes: int,
) -> dict[str, Any]:
    sockets = [s for part in done for s in part["sockets"]]
    boards = [s for s in sockets if s["group"] is None]
    by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in sockets:
        if s["group"] is not None:
            by_group[s["group"]].append(s)
    household_of = {hid: i for i, hid in enumerate(seeded.household_ids)}
    due_of = {household: due for household, due, _, _, _ in presses}
    answered_ids = {event for *_, event in presses if event is not None}

    neighbour_s: list[float] = []
    board_s: list[float] = []
    lost: list[int] = []
    missing = 0
    last_arrival = 0.0
    for event, _kind, household_id, group, audience in stored.press_events:
        presser = household_of.get(household_id)
        due = due_of.get(presser) if presser is not None else None
        groups = by_group[group] if audience != Audience.BOARD else []
        neighbours = [s for s in groups if s["index"] != presser]
        hearers = boards if audience != Audience.GROUP else []
        heard_n = [s["arrivals"][event][0] for s in neighbours if event in s["arrivals"]]
        heard_b = [s["arrivals"][event][0] for s in hearers if event in s["arrivals"]]
        short = len(neighbours) - len(heard_n) + len(hearers) - len(heard_b)
        missing += short
        if short:
            lost.append(event)
        last_arrival = max([last_arrival, *heard_n, *heard_b])
        if due is None:
            continue  # not a press of this storm's schedule (none are expected)
        if heard_n and len(heard_n) == len(neighbours):
            neighbour_s.append(max(heard_n) - due)
        if heard_b and len(heard_b) == len(hearers):
            board_s.append(max(heard_b) - due)

    statuses = Counter(status for _, _, _, status, _ in presses)
    answered = sum(n for s, n in statuses.items() if s.isdigit())
    stored_ids = {e for e, *_ in stored.press_events}
    last_due = max(due for _, due, _, _, _ in presses)
    closes: dict[str, Counter[str]] = {"board": Counter(), "neighbour": Counter()}
    for s in sockets:
        closes["board" if s["group"] is None else "neighbour"].update(s["closes"])
    total_cpu = sum(part["client_cpu_seconds"] for part in done)
    return {
        "run": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "storm": args.storm,
            "within": args.within,
            "households": len(seeded.households),
            "groups": seeded.groups,
            "boards": len(seeded.boards),
            "sockets": len(sockets),
            "client_processes": processes,
            "workers": args.workers,
            "database": "postgresql" if args.postgres else "sqlite",
            "bus": "redis" if (args.redis_url or args.redis or args.workers > 1) else "memory",
            "deflate": not args.no_deflate,
            "phones": not args.no_phones,
            "patience_s": args.patience,
        },
        "counts": {
            "scheduled": len(presses),
            "answered": answered,
            "statuses": dict(statuses),
            "refused": {s: n for s, n in statuses.items() if not s.isdigit()},
            "alarms_stored": stored.alarms,
            "press_events_stored": len(stored.press_events),
            "answered_not_stored": len(answered_ids - stored_ids),
            "lost": len(lost),
            "lost_deliveries": missing,
            "duplicated": sum(s["duplicates"] for s in sockets),
            "replayed": sum(s["replayed"] for s in sockets),
            "press_deliveries_by_replay": sum(
                1 for s in sockets for _, by_replay in s["arrivals"].values() if by_replay
            ),
            "truncated_replays": sum(s["truncated"] for s in sockets),
            "reconnects": sum(s["connects"] - 1 for s in sockets),
            "closes": {k: dict(v) for k, v in closes.items()},
            "events_by_type": stored.events_by_type,
            "outbox": stored.outbox,
            "texts_sent_twice": stored.sent_twice if not args.no_phones else None,
        },
        "latency_ms": {
            "answered": report.quantiles(
                [answered_at - due for _, due, answered_at, s, _ in presses if s.isdigit()]
            ),
            "refused": report.quantiles(
                [answered_at - due for _, due, answered_at, s, _ in presses if not s.isdigit()]
            ),
            "neighbour": report.quantiles(neighbour_s),
            "board": report.quantiles(board_s),
            "last_press_to_last_delivery": (last_arrival - last_due) * 1000
            if last_arrival
            else None,
        },
        "server": {
            "storm_seconds": seconds,  # the first press until every press settled
            "cpu_seconds": cpu_seconds,  # server: every worker; redis and postgresql: ours
            "cpu_percent": 100 * (cpu_seconds["server"] or 0.0) / max(seconds, 1e-9),
            "kib_per_socket": rss_kib_per_socket,
        },
        "client": {
            "cpu_seconds": total_cpu,
            "connect_seconds": max(part["connect_seconds"] for part in done),
            "generator_max_lag_ms": max(part["generator_max_lag_ms"] for part in done),
        },
    }


def render(figures: dict[str, Any]) -> str:
    """The human report of one storm."""
    run, counts, lat = figures["run"], figures["counts"], figures["latency_ms"]
    server, client = figures["server"], figures["client"]
    last = lat["last_press_to_last_delivery"]
    refused = counts["refused"]
    outbox = counts["outbox"]
    twice = counts["texts_sent_twice"]
    lines = [
        "",
        f"TenWatch storm — {run['storm']} households press within {run['within']:g} s;"
        f" {run['households']} households in {run['groups']} groups, {run['boards']} board"
        f" sockets; {run['workers']} worker(s) on {run['database']}, {run['bus']} bus;"
        f" {run['client_processes']} client process(es); {run['cpus']} CPUs",
        "",
        f"  stored      {counts['alarms_stored']} alarms, {counts['press_events_stored']} press"
        f" events (of {counts['scheduled']} presses)",
        f"  answered    {counts['answered']} (2xx: "
        + ", ".join(f"{n} × {s}" for s, n in sorted(counts["statuses"].items()) if s.isdigit())
        + ")",
        f"  refused     {sum(refused.values())}"
        + (
            " (" + ", ".join(f"{n} × {s}" for s, n in sorted(refused.items())) + ")"
            if refused
            else ""
        ),
        f"  answered but not stored {counts['answered_not_stored']}",
        "",
        f"  press → answered         {report.ms(lat['answered'])}",
        f"  press → refused          {report.ms(lat['refused'])}",
        f"  press → last neighbour   {report.ms(lat['neighbour'])}",
        f"  press → last board       {report.ms(lat['board'])}",
        "  last press → last delivery "
        + (f"{last / 1000:.2f} s" if last is not None else "n/a (nothing delivered)"),
        "",
        f"  lost        {counts['lost']} alarms some neighbour or board never heard"
        f" ({counts['lost_deliveries']} deliveries missing)",
        f"  duplicated  {counts['duplicated']}",
        f"  closed by the server: boards {counts['closes']['board'] or 'none'};"
        f" neighbours {counts['closes']['neighbour'] or 'none'}",
        f"  reconnects {counts['reconnects']}, replayed {counts['replayed']} events"
        f" ({counts['press_deliveries_by_replay']} of them press events the sockets needed),"
        f" truncated replays {counts['truncated_replays']}",
        "  texts sent twice "
        + (
            f"{twice} (of {outbox.get('sent', 0)} sent; outbox {outbox})"
            if twice is not None
            else "n/a (no phones)"
        ),
        f"  events stored by type {counts['events_by_type']}",
        "",
        f"  from the first press until every press settled ({server['storm_seconds']:.1f} s):"
        f" server CPU {server['cpu_percent']:.0f} % of one core"
        + "".join(
            f", {name} {seconds:.1f} s"
            for name, seconds in server["cpu_seconds"].items()
            if seconds is not None
        )
        + f" of CPU; {server['kib_per_socket']:.1f} KiB per socket",
        f"  client CPU {client['cpu_seconds']:.1f} s; generator lag max"
        f" {client['generator_max_lag_ms']:.1f} ms; sockets opened in"
        f" {client['connect_seconds']:.1f} s",
        "",
    ]
    return "\n".join(lines)
