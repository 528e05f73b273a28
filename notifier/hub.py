"""The websocket hub: every local socket hears its channel's events in id order, none twice,
none silently missed.

A community's events commit in id order (its row lock), and each is published with `prev`, the
id of the community's event before it, on one bus channel per community (`community:{id}`),
naming the socket channels it is for. The hub keeps, per community it holds sockets of, the
last event it delivered. A message that does not follow on from it shows a gap (a message the
bus lost, an outage, this process's own delivery racing ahead of another's): the hub holds
what arrives, reads the missing events from the store in order, delivers them, then what it
held. After a bus outage, every few seconds, and often while the bus is degraded, it compares
each community's newest stored id with its own and fills any gap the same way.

A bus message of a format this process cannot read (`notifier.bus.format`: a newer release's)
is not guessed at: it is logged once, and its community's events are read from the store at
once, as for a gap.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from notifier.bus import format as bus_format
from notifier.bus.base import Bus
from notifier.connection import PAGE, Connection, Event, event_id_of
from notifier.metrics import Arrivals

log = logging.getLogger(__name__)

_LOOKS, _SLICES = 4, 20  # the ticker: looks at each socket per heartbeat period; slices per look
GRACE_SECONDS = 0.02
"""How long a gap may wait for the message it misses before the store is read."""

Stored = tuple[int, tuple[str, ...], str]
"""A stored event as the hub fills a gap with it: its id, the socket channels it is for, its
wire text."""

_Held = tuple[int, int, tuple[str, ...], str]  # prev, id, channels, text


def community_channel(community_id: int) -> str:
    """The bus channel that carries every event of a community."""
    return f"community:{community_id}"


def seal(prev: int, channels: Sequence[str], text: str) -> str:
    """An event as the bus carries it: `prev`, its socket channels, its wire text."""
    return f"{prev} {','.join(channels)} {text}"


def unseal(message: str) -> tuple[int, tuple[str, ...], str]:
    """What seal() put into a bus message."""
    prev, channels, text = message.split(" ", 2)
    return int(prev), tuple(channels.split(",")) if channels else (), text


class Store(Protocol):
    """What the hub reads from the event store; every read is in id order."""

    async def heads(self, community_ids: Sequence[int]) -> dict[int, int]:
        """The newest event id of each community (absent when it has none)."""

    async def community_after(
        self, community_id: int, after_id: int, limit: int
    ) -> Sequence[Stored]:
        """A community's events after an id, with the socket channels each is for."""

    async def channel_after(self, channel: str, after_id: int, limit: int) -> Sequence[Event]:
        """A socket channel's events after an id."""


class _Community:
    """The local sockets of one community and how far the hub has delivered its events."""

    __slots__ = ("filling", "held", "last", "members", "unread")

    def __init__(self) -> None:
        self.members: dict[str, set[Connection]] = {}
        self.last: int | None = None  # the last event delivered; None until read from the store
        self.held: list[_Held] | None = []  # messages held while last is unknown or a gap fills
        self.filling: asyncio.Task[None] | None = None
        self.unread = False  # a message came that could not be read: the store has its event


class Hub:
    """Fans every bus message out to the local connections of its channels in each community's
    id order (see the module); keeps quiet sockets alive with a heartbeat and drops a socket
    whose send is stuck (one ticker for all, not a timer per socket)."""

    def __init__(
        self,
        bus: Bus,
        *,
        store: Store,
        heartbeat_seconds: float = 20.0,
        send_timeout_seconds: float = 10.0,
        check_seconds: float = 5.0,
        degraded_check_seconds: float = 0.5,
    ) -> None:
        self.bus = bus
        self._store = store
        self._heartbeat = heartbeat_seconds
        self._send_timeout = send_timeout_seconds
        self._checks = (check_seconds, degraded_check_seconds)
        self._communities: dict[int, _Community] = {}
        self._subscribed: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._notices: dict[str, Callable[[str], None]] = {}
        self._unknown_formats: set[int] = set()
        self.fills = 0
        """How many times a gap was filled from the store (not the bus): a count to watch."""
        self.unreadable = 0
        """How many bus messages were of a format this process cannot read."""
        self.arrivals = Arrivals()
        """The presses whose raised events are timed to this process's sockets (a metric)."""

    async def start(self) -> None:
        """Connect to the bus; start the heartbeat and the periodic check against the store."""
        await self.bus.connect(self.deliver, on_resume=self.catch_up)
        self._tasks = [
            asyncio.create_task(self._beat(), name="heartbeat"),
            asyncio.create_task(self._watch(), name="stream-check"),
        ]

    async def stop(self) -> None:
        """Stop the ticker, the check and any gap being filled; disconnect from the bus."""
        fills = [c.filling for c in self._communities.values() if c.filling is not None]
        for task in [*self._tasks, *fills]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bus.disconnect()

    @property
    def connections(self) -> int:
        """How many sockets this process holds."""
        return sum(len(m) for c in self._communities.values() for m in c.members.values())

    def sockets(self) -> Counter[str]:
        """How many sockets this process holds of each kind of channel (group, grid, board)."""
        held: Counter[str] = Counter()
        for community in self._communities.values():
            for channel, members in community.members.items():
                held[channel.partition(":")[0]] += len(members)
        return held

    async def page(self, channel: str, after_id: int, limit: int) -> Sequence[Event]:
        """A channel's stored events after an id: what a connection that is behind reads."""
        return await self._store.channel_after(channel, after_id, limit)

    async def join(self, connection: Connection) -> None:
        """Add a connection; returns once every event of its community not yet stored will
        reach it (so a replay read from the store after this misses nothing)."""
        community = self._communities.setdefault(connection.community_id, _Community())
        community.members.setdefault(connection.channel, set()).add(connection)
        await self._sync(connection.community_id)

    async def leave(self, connection: Connection) -> None:
        """Remove a connection; the last one of a community unsubscribes it."""
        community = self._communities.get(connection.community_id)
        if community is not None:
            members = community.members.get(connection.channel)
            if members is not None:
                members.discard(connection)
                if not members:
                    del community.members[connection.channel]
            if not community.members:
                del self._communities[connection.community_id]
                if community.filling is not None:
                    community.filling.cancel()
        await self._sync(connection.community_id)

    async def listen(self, channel: str, hear: Callable[[str], None]) -> None:
        """Hand every message of a channel that carries no events (a revocation) to hear."""
        self._notices[channel] = hear
        await self.bus.subscribe(channel)

    def end(self, should_end: Callable[[Connection], bool], reason: str) -> int:
        """End the local connections for which should_end is true (their socket is closed with
        the reason); returns how many."""
        ended = [
            connection
            for community in self._communities.values()
            for members in community.members.values()
            for connection in members
            if should_end(connection)
        ]
        for connection in ended:
            connection.end(reason)
        return len(ended)

    def deliver(self, channel: str, message: str) -> None:
        """Take a bus message of a community: deliver it if it follows on from the last one,
        drop it if delivered already, else hold it and fill the gap from the store."""
        version, body = bus_format.read(message)
        if version not in bus_format.READS:
            self._unreadable(channel, version)
            return
        hear = self._notices.get(channel)
        if hear is not None:
            hear(body)
            return
        community_id = int(channel.rpartition(":")[2])
        community = self._communities.get(community_id)
        if community is None:
            return
        try:
            prev, channels, text = unseal(body)
            event_id = event_id_of(text)
        except (ValueError, KeyError):  # not ours: the store has its event
            log.warning("a message on %s that is not a sealed event: reading the store", channel)
            self._read_store(community_id, community)
            return
        if community.held is not None:
            community.held.append((prev, event_id, channels, text))
        elif community.last is not None and event_id > community.last:
            if prev == community.last:
                self._fan_out(community, event_id, channels, text)
            else:
                community.held = [(prev, event_id, channels, text)]
                self._fill(community_id, community)

    def _unreadable(self, channel: str, version: int) -> None:
        """A message of a format this process cannot read: say so once per format; read its
        community's events from the store now rather than at the next check."""
        self.unreadable += 1
        if version not in self._unknown_formats:
            self._unknown_formats.add(version)
            log.warning(
                "bus messages of format %s, which this process cannot read (it reads %s):"
                " their events are read from the store; upgrade this process",
                version,
                sorted(bus_format.READS),
            )
        if channel in self._notices:
            return  # a notice (a revocation) of a newer release: lost to this process
        community_id = channel.rpartition(":")[2]
        community = self._communities.get(int(community_id)) if community_id.isdigit() else None
        if community is not None:
            self._read_store(int(community_id), community)

    def _read_store(self, community_id: int, community: _Community) -> None:
        """Read the community's events the store has beyond the last delivered, at once (or
        once the read in progress, which may have begun before this event's commit, is done)."""
        community.unread = True
        if community.last is not None and community.filling is None:
            if community.held is None:
                community.held = []
            self._fill(community_id, community, wait=False)

    async def catch_up(self) -> None:
        """Compare each community's newest stored event with the last delivered one (one
        query for all); fill the gaps from the store."""
        known = [i for i, c in self._communities.items() if c.last is not None]
        if not known:
            return
        heads = await self._store.heads(known)
        for community_id in known:
            community = self._communities.get(community_id)
            if community is None or community.last is None or community.filling is not None:
                continue
            if heads.get(community_id, 0) > community.last:
                if community.held is None:
                    community.held = []
                self._fill(community_id, community, wait=False)

    def _fan_out(
        self, community: _Community, event_id: int, channels: tuple[str, ...], text: str
    ) -> None:
        community.last = event_id
        for channel in channels:
            for connection in community.members.get(channel, ()):
                connection.push(event_id, text)
        self.arrivals.fanned_out(event_id)

    def _fill(self, community_id: int, community: _Community, *, wait: bool = True) -> None:
        if community.filling is None:
            community.filling = asyncio.create_task(
                self._filling(community_id, community, wait=wait), name=f"fill-{community_id}"
            )

    async def _filling(self, community_id: int, community: _Community, *, wait: bool) -> None:
        # Every message held before a read of the store reached us after its commit, so the
        # read covers it: only those held since are settled in order.
        delay = 0.1
        try:
            if wait:
                # Most gaps are publishes of this process overtaking one another, the missing
                # one right behind: given a moment, the chain may close without the store.
                await asyncio.sleep(GRACE_SECONDS)
                if self._chain(community):
                    return
            self.fills += 1
            while community is self._communities.get(community_id):
                assert community.held is not None
                covered = len(community.held)
                community.unread = False  # this read covers every message come before it
                try:
                    if community.last is None:
                        community.last = (await self._store.heads([community_id])).get(
                            community_id, 0
                        )
                    while True:
                        found = await self._store.community_after(
                            community_id, community.last, PAGE
                        )
                        for event_id, channels, text in found:
                            if event_id > community.last:
                                self._fan_out(community, event_id, channels, text)
                        if len(found) < PAGE:
                            break
                except Exception:
                    log.exception("reading community %s's events to fill a gap", community_id)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                # One of those still newer than the store's newest was deleted since (an
                # alarm's events go with it): nothing is owed before it either.
                for _, event_id, _, _ in community.held[:covered]:
                    community.last = max(community.last, event_id)
                del community.held[:covered]
                break
        finally:
            community.filling = None
        if community is self._communities.get(community_id):
            self._settle(community_id, community)

    def _settle(self, community_id: int, community: _Community) -> None:
        """Deliver the held messages that follow on in order; fill the next gap, if any (at
        once if an unreadable message came meanwhile)."""
        if not self._chain(community) or community.unread:
            if community.held is None:
                community.held = []
            self._fill(community_id, community, wait=not community.unread)

    def _chain(self, community: _Community) -> bool:
        """Deliver the held messages, in id order, as long as each follows on from the last;
        True (and nothing held) when all did."""
        assert community.last is not None
        rest: list[_Held] = []
        for prev, event_id, channels, text in sorted(community.held or (), key=lambda h: h[1]):
            if event_id <= community.last:
                continue
            if rest or prev != community.last:
                rest.append((prev, event_id, channels, text))
            else:
                self._fan_out(community, event_id, channels, text)
        community.held = rest or None
        return not rest

    async def _sync(self, community_id: int) -> None:
        # A lock per community: its joins and leaves must not race its subscription, and other
        # communities' subscriptions (a round trip each) need not wait for it, as thousands of
        # sockets reconnecting at once would.
        community = self._communities.get(community_id)
        if community is not None and community.last is not None:
            return  # a join of a community in force
        lock = self._locks.setdefault(community_id, asyncio.Lock())
        async with lock:
            community = self._communities.get(community_id)
            held = community_id in self._subscribed
            if community is not None:
                if not held:
                    await self.bus.subscribe(community_channel(community_id))
                    self._subscribed.add(community_id)
                if community.last is None:
                    # Subscribed first, then read: every later event reaches the hub.
                    heads = await self._store.heads([community_id])
                    if community.last is None:
                        community.last = heads.get(community_id, 0)
                    if community.filling is None:
                        self._settle(community_id, community)
            elif held:
                self._subscribed.discard(community_id)
                with contextlib.suppress(Exception):
                    await self.bus.unsubscribe(community_channel(community_id))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._checks[self.bus.error is not None])
            try:
                await self.catch_up()
            except Exception:
                log.exception("checking the stream against the store")

    async def _beat(self) -> None:
        # Each socket is looked at four times a period, in small slices spread over the period,
        # so a quiet socket's beat comes at most a quarter period late and thousands of sockets
        # cost a few thousand cheap checks a second, not a full sweep every tick.
        loop = asyncio.get_running_loop()
        pause = self._heartbeat / _LOOKS / _SLICES
        while True:
            everyone = [
                c for m in self._communities.values() for s in m.members.values() for c in s
            ]
            for start in range(_SLICES):
                await asyncio.sleep(pause)
                now = loop.time()
                idle_since, stuck_since = now - self._heartbeat, now - self._send_timeout
                for connection in everyone[start::_SLICES]:
                    connection.look(idle_since=idle_since, stuck_since=stuck_since)
