"""The websocket hub: which local sockets hear which channel, each behind a bounded queue."""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from notifier.bus import Bus

log = logging.getLogger(__name__)

Event = tuple[int, str]
"""An event as the hub carries it: its id and its JSON text, rendered once for every socket."""

Fetch = Callable[[str, int], Awaitable[Sequence[Event]]]
"""Reads the stored events of a channel after an id, oldest first."""

HEARTBEAT = '{"type":"heartbeat"}'
_LOOKS, _SLICES = 4, 20  # the heartbeat ticker: looks at each socket per period; slices per look


_PREFIX = '{"id":'


def event_id_of(message: str) -> int:
    """An event's id, read off the front of its JSON text where the wire form puts it (a message
    reaches every process, and parsing all of it for the id cost more than the rest of its
    fan-out to one socket); any other layout is parsed whole."""
    if message.startswith(_PREFIX):
        end = message.find(",", len(_PREFIX))
        digits = message[len(_PREFIX) : end]
        if end > 0 and digits.isdigit():
            return int(digits)
    return int(json.loads(message)["id"])


class Connection:
    """One socket's side of the hub: a bounded send queue and the last event id it was given.

    Until start() is called the connection only collects live events, so that a replay of
    stored events can be put in front of them without loss or duplicate.
    """

    # Thousands of these live at once: a plain list (almost always empty or short, where a
    # deque costs a 64-slot block) and one future at a time, not an asyncio.Queue.
    __slots__ = (
        "_backlog",
        "_early",
        "_maxsize",
        "_waiter",
        "channel",
        "closed",
        "last_id",
        "last_sent",
        "on_overflow",
        "overflowed",
        "queue",
    )

    def __init__(self, channel: str, *, maxsize: int) -> None:
        self.channel = channel
        self.queue: list[str] = []
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self.last_id = 0
        self.overflowed = False
        self.on_overflow: Callable[[], object] | None = None
        self._early: list[Event] | None = []
        self._backlog: list[str] = []
        self.closed = False
        self.last_sent = 0.0

    def push(self, event_id: int, message: str) -> None:
        """Queue a live event; never blocks: a full queue drops the connection instead."""
        if self._early is not None:
            self._early.append((event_id, message))
        else:
            self._put(event_id, message)

    def start(self, hello: str, replay: Sequence[Event], *, head: int) -> None:
        """Send hello, then the replayed events, then live events newer than head.

        The replay goes ahead of the queue, so a long replay never counts against its bound.
        """
        early, self._early = self._early or [], None
        self._backlog = [hello, *(message for _, message in replay)]
        self.last_id = head
        for event_id, message in early:
            if event_id > head:
                self._put(event_id, message)

    @property
    def live(self) -> bool:
        """Started and not dropped: its queue takes events."""
        return self._early is None and not self.overflowed

    def fill(self, events: Sequence[Event]) -> None:
        """Queue those of events that are newer than the last one this connection was given."""
        for event_id, message in events:
            if event_id > self.last_id:
                self._put(event_id, message)

    async def run(self, send: Callable[[str], Awaitable[None]]) -> None:
        """Send the backlog, then queued messages in order, until closed or dropped."""
        loop = asyncio.get_running_loop()
        backlog, self._backlog = self._backlog, []
        for message in backlog:
            await send(message)
        self.last_sent = loop.time()
        queue = self.queue
        while not (self.closed or self.overflowed):
            if not queue:
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            await send(queue.pop(0))
            self.last_sent = loop.time()

    def close(self) -> None:
        """The socket is gone: run() returns."""
        self.closed = True
        self._wake()

    def beat(self, *, idle_since: float) -> None:
        """Queue a heartbeat if nothing was sent since then (and nothing waits to be)."""
        if self.live and not self.closed and not self.queue and self.last_sent <= idle_since:
            self._put(0, HEARTBEAT)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _put(self, event_id: int, message: str) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= self._maxsize:
            self.overflowed = True
            log.warning("dropping a socket of %s: its send queue is full", self.channel)
            if self.on_overflow is not None:
                self.on_overflow()
            self._wake()
            return
        self.queue.append(message)
        self._wake()
        self.last_id = max(self.last_id, event_id)


class Hub:
    """Fans every bus message out to the local connections of its channel, and keeps quiet
    sockets alive with a heartbeat (one ticker for all, not a timer per socket)."""

    def __init__(self, bus: Bus, *, fetch: Fetch, heartbeat_seconds: float = 20.0) -> None:
        self.bus = bus
        self._fetch = fetch
        self._heartbeat = heartbeat_seconds
        self._members: dict[str, set[Connection]] = {}
        self._subscribed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to the bus; start the heartbeat."""
        await self.bus.connect(self.deliver, on_resume=self.catch_up)
        self._ticker = asyncio.create_task(self._beat(), name="heartbeat")

    async def stop(self) -> None:
        """Stop the heartbeat; disconnect from the bus."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.bus.disconnect()

    async def _beat(self) -> None:
        # Each socket is looked at four times a period, in small slices spread over the period,
        # so a quiet socket's beat comes at most a quarter period late and thousands of sockets
        # cost a few thousand cheap checks a second, not a full sweep every tick.
        loop = asyncio.get_running_loop()
        pause = self._heartbeat / _LOOKS / _SLICES
        while True:
            everyone = [c for members in self._members.values() for c in members]
            for start in range(_SLICES):
                await asyncio.sleep(pause)
                idle_since = loop.time() - self._heartbeat
                for connection in everyone[start::_SLICES]:
                    connection.beat(idle_since=idle_since)

    @property
    def connections(self) -> int:
        """How many sockets this process holds."""
        return sum(len(members) for members in self._members.values())

    async def join(self, connection: Connection) -> None:
        """Add a connection; returns once its channel's messages reach this process."""
        self._members.setdefault(connection.channel, set()).add(connection)
        await self._sync(connection.channel)

    async def leave(self, connection: Connection) -> None:
        """Remove a connection; the last one of a channel unsubscribes it."""
        members = self._members.get(connection.channel)
        if members is not None:
            members.discard(connection)
            if not members:
                del self._members[connection.channel]
        await self._sync(connection.channel)

    def deliver(self, channel: str, message: str) -> None:
        """Queue a bus message on every local connection of channel."""
        members = self._members.get(channel)
        if not members:
            return
        event_id = event_id_of(message)
        for connection in tuple(members):
            connection.push(event_id, message)

    async def catch_up(self) -> None:
        """After a bus outage, give every connection the stored events it has not had."""
        for channel, members in list(self._members.items()):
            live = [c for c in members if c.live]
            if live:
                events = await self._fetch(channel, min(c.last_id for c in live))
                for connection in live:
                    connection.fill(events)

    async def _sync(self, channel: str) -> None:
        # A lock per channel: its joins and leaves must not race its subscription, and other
        # channels' subscriptions (a round trip each) need not wait for it, as thousands of
        # sockets reconnecting at once would.
        if channel in self._members and channel in self._subscribed:
            return  # a join of a channel in force, or a leave of one of its several sockets
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wanted, held = channel in self._members, channel in self._subscribed
            if wanted and not held:
                await self.bus.subscribe(channel)
                self._subscribed.add(channel)
            elif held and not wanted:
                self._subscribed.discard(channel)
                with contextlib.suppress(Exception):
                    await self.bus.unsubscribe(channel)
