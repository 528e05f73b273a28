"""One socket's side of the hub: what it is owed, in id order, and nothing twice.

A connection is live (events queue in memory, at most `maxsize`) or behind (it reads its
channel's events from the store, a page at a time, and only holds the live ones that arrive
meanwhile). It starts behind when its replay is longer than a page, and falls behind when its
queue is full: a client that reads while the server is busy gets everything, from the store
if not from memory. Only a client that does not take a send for the hub's send timeout is
dropped, and `sent`, the last event handed to it, is the position it resumes from.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

Event = tuple[int, str]
"""An event as the hub carries it: its id and its JSON text, rendered once for every socket."""

Page = Callable[[str, int, int], Awaitable[Sequence[Event]]]
"""Reads a channel's stored events after an id, oldest first, at most a number of them."""

HEARTBEAT = '{"type":"heartbeat"}'
PAGE = 500
"""Events read from the store at a time by a connection that is behind."""

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
    """One socket's queue and position (see the module).

    Until start() the connection holds live events, so that a replay read from the store can
    go in front of them without loss or duplicate.
    """

    # Thousands of these live at once: plain lists (almost always empty or short, where a
    # deque costs a 64-slot block), one future at a time, no task of their own.
    __slots__ = (
        "_backlog",
        "_held",
        "_maxsize",
        "_reread",
        "_waiter",
        "channel",
        "closed",
        "community_id",
        "credential",
        "dropped",
        "ended",
        "last_id",
        "last_sent",
        "on_drop",
        "queue",
        "sending_since",
        "sent",
    )

    def __init__(
        self, channel: str, *, community_id: int, maxsize: int, credential: int = 0
    ) -> None:
        self.channel = channel
        self.community_id = community_id
        self.credential = credential  # the session or token it was opened with (0: none)
        self.ended: str | None = None  # why the service ended it (its credential revoked)
        self.queue: list[str] = []
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._held: list[Event] | None = []  # live events held while not live
        self._reread = False  # held events were let go: the store must be read once more
        self._backlog: list[str] = []
        self.last_id = 0  # the newest event queued or sent
        self.sent = 0  # the newest event handed to the socket: where it resumes from
        self.dropped = False
        self.closed = False
        self.on_drop: Callable[[], object] | None = None
        self.last_sent = 0.0
        self.sending_since = 0.0  # when the send under way began; 0 when none is

    def push(self, event_id: int, message: str) -> None:
        """Take a live event (the hub gives them in id order); never blocks."""
        held = self._held
        if held is not None:
            if len(held) < self._maxsize:
                held.append((event_id, message))
            else:  # the store has them all: let them go, and read it once more
                held.clear()
                self._reread = True
        elif event_id > self.last_id and not self.dropped:
            if len(self.queue) >= self._maxsize:
                self.queue.clear()  # behind: the writer reads on from the store after `sent`
                self._held = [(event_id, message)]
                self._wake()
                return
            self._queue(event_id, message)

    def start(self, hello: str, replay: Sequence[Event], *, head: int, at: int, more: bool) -> None:
        """Send hello, then the replay (events after `at`, the client's position), then live
        events newer than head; with `more`, the store holds more of the replay than it
        carries, and the writer reads on from there before it goes live."""
        self._backlog = [hello, *(message for _, message in replay)]
        self.sent = self.last_id = at
        if not (more or self._reread):
            self._go_live(head)

    @property
    def live(self) -> bool:
        """Started, not behind and not dropped: its queue takes events."""
        return self._held is None and not self.dropped

    async def run(self, send: Callable[[str], Awaitable[None]], page: Page) -> None:
        """Send the backlog, then queued messages in order, reading from the store while
        behind, until closed or dropped."""
        backlog, self._backlog = self._backlog, []
        while backlog:  # popped: the hello is not kept for the socket's life
            await self._send(send, backlog.pop(0))
        queue = self.queue
        while not (self.closed or self.dropped):
            if self._held is not None:
                await self._catch_up(send, page)
            elif queue:
                await self._send(send, queue.pop(0))
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None

    def say(self, message: str) -> bool:
        """Queue a message that is not an event (a household's routine test) behind what is
        queued, if live; False if not (the store never has it, so a socket behind misses it)."""
        if not self.live or self.closed:
            return False
        self.queue.append(message)
        self._wake()
        return True

    def close(self) -> None:
        """The socket is gone: run() returns."""
        self.closed = True
        self._wake()

    def end(self, reason: str) -> None:
        """The service ends the socket (its credential was revoked): run() returns, and the
        socket is closed with the reason."""
        self.ended = reason
        self.close()

    def drop(self) -> None:
        """The client is too slow: stop, and break the send it is stuck in (on_drop)."""
        if not self.dropped:
            self.dropped = True
            log.warning("dropping a socket of %s: a send took too long", self.channel)
            if self.on_drop is not None:
                self.on_drop()
            self._wake()

    def look(self, *, idle_since: float, stuck_since: float) -> None:
        """The hub's periodic look: drop the socket if a send began before stuck_since and has
        not ended; queue a heartbeat if nothing was sent since idle_since."""
        if 0.0 < self.sending_since < stuck_since:
            self.drop()
        elif self.live and not self.closed and not self.queue and self.last_sent <= idle_since:
            self.queue.append(HEARTBEAT)
            self._wake()

    async def _send(
        self, send: Callable[[str], Awaitable[None]], message: str, event_id: int = 0
    ) -> None:
        loop = asyncio.get_running_loop()
        self.sending_since = loop.time()
        await send(message)
        self.sending_since = 0.0
        self.last_sent = loop.time()
        if event_id or message.startswith(_PREFIX):
            self.sent = event_id or event_id_of(message)

    async def _catch_up(self, send: Callable[[str], Awaitable[None]], page: Page) -> None:
        # The store is read after `sent`; a page shorter than PAGE held every event of the
        # channel stored when it was read (a channel's events commit in id order), and every
        # later one reached the hub after that, so it is among the held ones, unless they
        # were let go in the meantime (then read once more).
        self._reread = False
        found = await page(self.channel, self.sent, PAGE)
        for event_id, message in found:
            if self.closed or self.dropped:
                return
            await self._send(send, message, event_id)
        if len(found) < PAGE and not self._reread:
            self._go_live(self.sent)

    def _go_live(self, head: int) -> None:
        held, self._held = self._held or [], None
        self.last_id = head
        for event_id, message in held:
            if event_id > self.last_id:
                self._queue(event_id, message)

    def _queue(self, event_id: int, message: str) -> None:
        self.queue.append(message)
        self.last_id = event_id
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
