"""The drain: on SIGTERM a process hands its sockets to the others before uvicorn shuts it down.

uvicorn, told to exit, closes its listener, then cuts every open socket with a bare 1012 and
waits for the HTTP requests in flight; the lifespan's teardown runs only after that, too late
to say anything to a socket. So the lifespan puts this hook in front of uvicorn's own SIGTERM
handler (public `signal` calls, chained): the process first refuses new sockets and ends each
of its own with 1012 "reconnect" — the client reconnects to another process at once with its
`last_event_id`, and misses nothing — then hands the signal to uvicorn, whose shutdown and the
lifespan's teardown finish the presses in flight and hand back the outbox's leases
(docs/operate.md, "Drain and rolling restart").
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from notifier.hub import Hub

log = logging.getLogger(__name__)

RECONNECT = "reconnect"
"""The close reason (with 1012, service restart) of a socket a draining process ends."""


class Drain:
    """Ends the hub's sockets with RECONNECT on SIGTERM, then passes the signal on."""

    def __init__(self, hub: Hub, *, seconds: float) -> None:
        self._hub = hub
        self._seconds = seconds
        self._previous: Callable[[int, FrameType | None], Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.draining = False
        """Set on SIGTERM: a new socket is refused with 1012 RECONNECT."""

    def install(self) -> None:
        """Go in front of the SIGTERM handler in place (uvicorn's), if there is one to pass the
        signal on to and this is the main thread (signals can only be caught there)."""
        if self._seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # no server to hand the signal to: whoever embeds the app stops it
        self._loop = asyncio.get_running_loop()
        self._previous = previous
        signal.signal(signal.SIGTERM, self._caught)

    def uninstall(self) -> None:
        """Put the handler back as it was (if it is still ours); cancel a drain under way."""
        if self._previous is not None and signal.getsignal(signal.SIGTERM) == self._caught:
            signal.signal(signal.SIGTERM, self._previous)
        if self._task is not None:
            self._task.cancel()

    def _caught(self, signum: int, frame: FrameType | None) -> None:
        if self._task is not None or self._loop is None:  # a second SIGTERM: stop at once
            self._pass_on(signum, frame)
            return
        self._loop.call_soon_threadsafe(self._begin, signum, frame)

    def _begin(self, signum: int, frame: FrameType | None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(signum, frame), name="drain")

    async def run(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Refuse new sockets, end every local one with RECONNECT and wait (at most the drain's
        seconds) until they are gone; then hand the signal to the server's handler."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._seconds
        log.info("draining: %d sockets are told to reconnect elsewhere", self._hub.connections)
        try:
            while True:
                # Each pass: a socket that was being admitted as the drain began joins later.
                self._hub.end(lambda connection: connection.ended is None, RECONNECT)
                if not self._hub.connections:
                    break
                if loop.time() > deadline:
                    log.warning("draining: %d sockets still open", self._hub.connections)
                    break
                await asyncio.sleep(0.05)
        finally:
            self._pass_on(signum, frame)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        if self._previous is not None:
            self._previous(signum, frame)
