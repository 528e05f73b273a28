"""Clients of a fleet of service processes that some of them leave and rejoin, as behind nginx:
presses round-robin and go to the next process when one is refused, and sockets that resume
from the last event they saw on another process when theirs says it is restarting."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.harness import bearer

SERVICE_RESTART = 1012


class Fleet:
    """The processes' base URLs by name; a restarted process comes back under its name."""

    def __init__(self, **bases: str) -> None:
        self.bases = dict(bases)
        self._turn = 0

    def next(self) -> str:
        """The next process in turn (round robin, as nginx's upstream)."""
        self._turn += 1
        names = sorted(self.bases)
        return self.bases[names[self._turn % len(names)]]

    def other(self, base: str) -> str:
        """A process that is not base."""
        return next(b for b in self.bases.values() if b != base)


@dataclass
class Pressed:
    """One press as its household saw it: every try's process and what came back."""

    key: str
    tries: list[str] = field(default_factory=list)  # "refused", "cut" or the HTTP status
    status: int = 0
    alert_id: int | None = None


async def press(client: httpx.AsyncClient, fleet: Fleet, token: str, key: str) -> Pressed:
    """Press help with an Idempotency-Key through the fleet: a process that refuses the
    connection (its listener closed) or closes it before answering (nginx with
    `proxy_next_upstream error timeout non_idempotent`) is passed over for the next."""
    pressed = Pressed(key)
    for _ in range(20):
        try:
            response = await client.post(
                f"{fleet.next()}/api/alerts",
                json={"type": "help"},
                headers={**bearer(token), "Idempotency-Key": key},
            )
        except httpx.ConnectError:
            pressed.tries.append("refused")
            continue
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pressed.tries.append("cut")
            continue
        pressed.tries.append(str(response.status_code))
        pressed.status = response.status_code
        if response.is_success:
            pressed.alert_id = response.json()["alert"]["id"]
        return pressed
    return pressed


@dataclass
class Opened:
    """One connection of a listener: where, from which position, and how it closed."""

    base: str
    last_event_id: int | None
    code: int | None = None
    reason: str = ""


class Listener:
    """A socket of the stream that keeps itself open on the fleet: told 1012 (or refused) it
    resumes at once on another process from the last event id it saw; `move` takes it to a
    process of the test's choosing the same way."""

    def __init__(self, fleet: Fleet, token: str, base: str) -> None:
        self.fleet = fleet
        self.token = token
        self.target = base
        self.start: int | None = None  # the first hello's position
        self.channel = ""
        self.ids: list[int] = []
        self.opened: list[Opened] = []
        self._ws: ClientConnection | None = None
        self._moving = False
        self.ready = asyncio.Event()

    @property
    def last(self) -> int | None:
        """The last event id seen (where the next connection resumes from)."""
        return self.ids[-1] if self.ids else self.start

    @property
    def base(self) -> str:
        """Where the socket is (or goes next)."""
        return self.target

    async def move(self, base: str) -> None:
        """Close the socket and resume on base."""
        self.target, self._moving = base, True
        if self._ws is not None:
            await self._ws.close()

    async def run(self) -> None:
        """Hold the socket until cancelled."""
        while True:
            resume = self.last
            url = self.target.replace("http", "ws", 1) + "/ws"
            if resume is not None:
                url += f"?last_event_id={resume}"
            opened = Opened(self.target, resume)
            self.opened.append(opened)
            try:
                async with connect(
                    url, open_timeout=5, additional_headers=bearer(self.token)
                ) as ws:
                    self._ws, self._moving = ws, False
                    with contextlib.suppress(ConnectionClosed):
                        async for text in ws:
                            self._hear(json.loads(text))
                    opened.code, opened.reason = ws.close_code, ws.close_reason or ""
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                opened.reason = f"not opened: {exc}"
                await asyncio.sleep(0.05)
            finally:
                self._ws = None
            if not self._moving:  # told to go (1012), refused or cut: another process
                self.target = self.fleet.other(self.target)

    def _hear(self, message: dict[str, object]) -> None:
        if message.get("type") == "hello":
            if self.start is None:
                self.start = int(str(message["last_event_id"]))
                self.channel = str(message["channel"])
            self.ready.set()
        elif isinstance(message.get("id"), int):
            self.ids.append(int(str(message["id"])))
