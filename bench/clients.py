"""The client process: every household's socket plus the boards, and an open-loop presser that
presses in steps (a rate for a duration each) on the same connected sockets.

Times are time.perf_counter() (CLOCK_MONOTONIC, one clock for every process on the machine).
Arrivals are indexed by event id as they come, because a socket may hear an event before the
POST that raised it has returned its id.
"""

import asyncio
import gc
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import psutil
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.procs import raise_nofile

CONNECT_CONCURRENCY = 200
WARMUP_PRESSES = 20
DRAIN_SECONDS = 5.0
RECONNECT_PAUSE = 0.05  # between failed tries to open a socket the server closed
HTTP_CONNECTIONS = 1000  # presses never wait for a connection unless the server lags


@dataclass(frozen=True)
class Plan:
    """Whom the client process connects and presses as; each step's rate and length come as
    commands (main)."""

    base: str  # http://127.0.0.1:P
    households: list[tuple[str, int]]  # (token, group id), one per household
    boards: list[str]
    deflate: bool = True
    seed: int = 1


@dataclass
class Press:
    """One press: when it was due, when its POST answered, and with what."""

    household: int
    due: float
    answered: float = 0.0
    status: int = 0
    event_id: int | None = None
    error: str | None = None


@dataclass
class Arrivals:
    """What the sockets heard, by event id."""

    households: dict[int, list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # event id → (household index, time)
    boards: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0
    closes: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # by the server

    def heard(self, sock: int, event_id: int, at: float, seen: set[int]) -> None:
        """Record one arrival; sock < 0 is board number -sock-1."""
        if event_id in seen:
            self.duplicates += 1
            return
        seen.add(event_id)
        if sock >= 0:
            self.households[event_id].append((sock, at))
        else:
            self.boards[event_id].append(at)


def event_id(message: str | bytes) -> int | None:
    """An event's id off the front of its wire form ({"id":123,…); None for hello and heartbeat
    ({"type":…)."""
    text = message if isinstance(message, str) else message.decode()
    if not text.startswith('{"id":'):
        return None
    return int(text[6 : text.index(",", 6)])


async def _read(
    url: str,
    token: str,
    held: list[ClientConnection],
    i: int,
    sock: int,
    arrivals: Arrivals,
    *,
    deflate: bool,
) -> None:
    """Record what socket held[i] hears until cancelled. A socket the server closes (1013: too
    slow) is counted and opened again at once, without replay: what it missed in a step is that
    step's loss, and the next step starts with every socket connected."""
    seen: set[int] = set()
    clock = time.perf_counter
    while True:
        try:
            async for message in held[i]:
                at = clock()
                found = event_id(message)
                if found is not None:
                    arrivals.heard(sock, found, at, seen)
        except ConnectionClosed:
            pass
        closed = held[i].close_code
        arrivals.closes[str(closed)] += 1
        while True:
            try:
                held[i], _ = await dial(url, token, deflate=deflate)
                break
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
                await asyncio.sleep(RECONNECT_PAUSE)


async def dial(
    url: str, token: str, *, deflate: bool, timeout: float = 30, source: str | None = None
) -> tuple[ClientConnection, str]:
    """Open a stream socket as the bench's clients do (no proxy, no client pings, an unbounded
    receive queue; the token in its Authorization header) and read its first message, the
    hello. source: the local address to connect from (a loopback address has ≈ 28 000
    ephemeral ports towards one server port)."""
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        ping_interval=None,
        compression="deflate" if deflate else None,
        open_timeout=timeout,
        max_queue=None,
        max_size=None,
        local_addr=(source, 0) if source else None,  # passed on to create_connection
    )
    hello = await asyncio.wait_for(ws.recv(), timeout)
    if '"type":"hello"' not in hello:
        raise RuntimeError(f"expected hello, got {hello!r}")
    return ws, str(hello)


async def _open(
    url: str, token: str, *, deflate: bool, gate: asyncio.Semaphore
) -> ClientConnection:
    async with gate:
        ws, _ = await dial(url, token, deflate=deflate)
        return ws


async def _post(http: aiohttp.ClientSession, base: str, token: str, press: Press) -> None:
    try:
        async with http.post(
            f"{base}/api/alerts",
            json={"type": "help"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            press.answered = time.perf_counter()
            press.status = response.status
            # 201 a new alarm; 200 a press merged into the household's open one (its own event).
            if response.status in (200, 201) and body.get("event_id") is not None:
                press.event_id = int(body["event_id"])
            else:
                press.error = f"HTTP {response.status}: {str(body)[:120]}"
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        press.answered = time.perf_counter()
        press.error = f"{type(exc).__name__}: {exc}"


def _complete(
    plan: Plan, presses: list[Press], arrivals: Arrivals, members: dict[int, int]
) -> bool:
    for press in presses:
        if press.event_id is None:
            continue
        if len(arrivals.households.get(press.event_id, ())) < members[press.household]:
            return False
        if len(arrivals.boards.get(press.event_id, ())) < len(plan.boards):
            return False
    return True


async def _run(plan: Plan, parent: Connection) -> None:
    ws_url = plan.base.replace("http://", "ws://", 1) + "/ws"
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()
    tokens = [token for token, _ in plan.households] + plan.boards
    sockets = list(
        await asyncio.gather(
            *(_open(ws_url, token, deflate=plan.deflate, gate=gate) for token in tokens)
        )
    )
    connect_seconds = time.perf_counter() - started
    arrivals = Arrivals()
    n = len(plan.households)
    readers = [
        asyncio.create_task(
            _read(
                ws_url,
                tokens[i],
                sockets,
                i,
                i if i < n else n - 1 - i,
                arrivals,
                deflate=plan.deflate,
            )
        )
        for i in range(len(sockets))
    ]
    group_of = [group for _, group in plan.households]
    per_group: dict[int, int] = defaultdict(int)
    for group in group_of:
        per_group[group] += 1
    members = {i: per_group[group] for i, group in enumerate(group_of)}  # sockets of its group

    rng = random.Random(plan.seed)
    connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS)  # keep-alive pool
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:
        # Warm up the server's code paths and our pool.
        warm = [Press(rng.randrange(n), time.perf_counter()) for _ in range(WARMUP_PRESSES)]
        await asyncio.gather(
            *(_post(http, plan.base, plan.households[p.household][0], p) for p in warm)
        )
        await asyncio.sleep(0.5)
        known = {p.event_id for p in warm if p.event_id is not None}
        parent.send(("connected", {"sockets": len(sockets), "connect_seconds": connect_seconds}))
        loop = asyncio.get_running_loop()
        while True:  # ("press", (rate, duration)) any number of times, then ("close", None)
            command, payload = await loop.run_in_executor(None, parent.recv)
            if command == "close":
                break
            rate, duration = payload
            presses, client = await _step(
                plan, http, rng, rate, duration, arrivals, members, parent
            )
            known.update(p.event_id for p in presses if p.event_id is not None)
            result = {**client, **_measure(plan, presses, arrivals, group_of, known)}
            arrivals.households.clear()  # counted: a late arrival now is a known id, not stray
            arrivals.boards.clear()
            arrivals.duplicates = 0
            arrivals.closes.clear()
            parent.send(("step", result))
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)


async def _step(
    plan: Plan,
    http: aiohttp.ClientSession,
    rng: random.Random,
    rate: float,
    duration: float,
    arrivals: Arrivals,
    members: dict[int, int],
    parent: Connection,
) -> tuple[list[Press], dict[str, float]]:
    """Press at rate for duration (open loop), then wait a bounded time for the arrivals; the
    presses, and this process's CPU and the generator's worst lag while pressing. Sends
    "pressing" before the first press is due and "pressed" once every press has its answer."""
    # Freeze what survived so far, and no collection while measuring: at 10 000 sockets this
    # process's own young collections took 12-15 ms about once a second, and every arrival
    # they held up was counted as the server's latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    me = psutil.Process()
    cpu0, wall0 = me.cpu_times(), time.perf_counter()
    parent.send(("pressing", None))
    total = int(rate * duration)
    t0 = time.perf_counter() + 0.05
    presses: list[Press] = []
    posts: list[asyncio.Task[None]] = []
    late = 0.0
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        press = Press(rng.randrange(len(plan.households)), due)
        presses.append(press)
        token = plan.households[press.household][0]
        posts.append(asyncio.create_task(_post(http, plan.base, token, press)))
    await asyncio.gather(*posts)
    cpu1, wall1 = me.cpu_times(), time.perf_counter()
    parent.send(("pressed", None))
    for _ in range(int(DRAIN_SECONDS / 0.05)):  # bounded wait for the last arrivals
        if _complete(plan, presses, arrivals, members):
            break
        await asyncio.sleep(0.05)
    gc.enable()
    used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return presses, {
        "client_cpu_percent": 100 * used / (wall1 - wall0),
        "generator_max_lag_ms": late * 1000,
    }


def _measure(
    plan: Plan, presses: list[Press], arrivals: Arrivals, group_of: list[int], known: set[int]
) -> dict[str, Any]:
    """One step's figures: its presses' latencies (seconds) and what was heard of them; known is
    every event id the presses so far have been answered with (others heard are stray)."""
    size: dict[int, int] = defaultdict(int)
    for group in group_of:
        size[group] += 1
    accepted: list[float] = []
    neighbour: list[float] = []
    board: list[float] = []
    last: list[float] = []
    errors: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    expected = delivered = leaked = 0
    for press in presses:
        if press.event_id is None:
            errors[press.error or "no event id"] += 1
            continue
        answered[str(press.status)] += 1
        accepted.append(press.answered - press.due)
        group = group_of[press.household]
        heard = arrivals.households.get(press.event_id, [])
        others = [at for sock, at in heard if sock != press.household and group_of[sock] == group]
        leaked += sum(1 for sock, _ in heard if group_of[sock] != group)
        want = size[group] - 1
        boards = arrivals.boards.get(press.event_id, [])
        expected += want + len(plan.boards)
        delivered += len(others) + len(boards)
        if len(others) == want and others:
            neighbour.append(max(others) - press.due)
        if len(boards) == len(plan.boards) and boards:
            board.append(max(boards) - press.due)
        if len(others) == want and len(boards) == len(plan.boards) and (others or boards):
            last.append(max(others + boards) - press.due)
    stray = sum(1 for e in arrivals.households if e not in known)
    return {
        "presses": len(presses),
        "press_errors": dict(errors),
        "answered": dict(answered),
        "accepted_s": accepted,
        "neighbour_s": neighbour,
        "board_s": board,
        "last_s": last,
        "expected": expected,
        "delivered": delivered,
        "duplicates": arrivals.duplicates,
        "closed_by_server": dict(arrivals.closes),
        "leaked": leaked,
        "stray_events": stray,
    }


def main(plan: Plan, parent: Connection) -> None:
    """Process entry point: connect, then press a step and send its figures back for each
    ("press", (rate, duration)) until ("close", None)."""
    raise_nofile()
    try:
        uvloop.run(_run(plan, parent))
    except Exception as exc:
        parent.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    parent.send(("done", None))
