"""The Redis pub/sub bus: a press accepted by one process reaches sockets held by any other."""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from notifier.bus.base import SEPARATOR, Bus, Deliver, Message, OnResume, check_message

log = logging.getLogger(__name__)

ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisBus(Bus):
    """Publishes through a client; one dedicated connection holds every subscription.

    While Redis is away the bus delivers publishes of this process to its own subscribers,
    reconnects with backoff, resubscribes, and then calls on_resume so that the caller can
    fetch what other processes published in between.
    """

    def __init__(self, url: str, *, health_interval: float = 5.0, timeout: float = 2.0) -> None:
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        # RESP2: pub/sub messages come back as replies rather than to a push handler.
        self._pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout, protocol=2)
        self._health_interval = health_interval
        self._timeout = timeout
        self._wanted: set[str] = set()
        self._confirm: dict[str, list[asyncio.Future[None]]] = {}
        self._conn: AbstractConnection | None = None
        self._deliver: Deliver | None = None
        self._on_resume: OnResume | None = None
        self._listener: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._listen_error: str | None = "connecting"
        self._publish_error: str | None = None

    @property
    def error(self) -> str | None:
        """Why the bus is degraded, or None while it is healthy."""
        return self._listen_error or self._publish_error

    async def connect(self, deliver: Deliver, *, on_resume: OnResume | None = None) -> None:
        """Start the subscriber; waits briefly for Redis, and runs degraded if it is away."""
        self._deliver, self._on_resume = deliver, on_resume
        self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self._up.wait()

    async def disconnect(self) -> None:
        """Stop the subscriber and close every connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._client.aclose()
        await self._pool.disconnect()

    async def publish(self, channels: Sequence[str], message: str) -> None:
        """Publish to Redis; deliver locally whatever Redis cannot bring back to us."""
        await self.publish_all([(channels, message)])

    async def publish_all(self, messages: Sequence[Message]) -> None:
        """Publish several messages in one round trip, in order, each channel's as one Redis
        message (joined by SEPARATOR); if Redis fails, deliver them to this process's sockets."""
        batches: dict[str, list[str]] = {}
        for channels, message in messages:
            check_message(message)
            for channel in channels:
                batches.setdefault(channel, []).append(message)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for channel, batch in batches.items():
                    pipe.publish(channel, SEPARATOR.join(batch))
                await pipe.execute()
            self._publish_error = None
            if self._conn is not None:
                return  # our own listener brings them back to this process's sockets
        except ERRORS as exc:
            self._publish_error = f"redis publish failed: {exc}"
            log.warning("%s; delivering to this process's sockets only", self._publish_error)
        for channels, message in messages:
            self._deliver_locally(channels, message)

    async def subscribe(self, channel: str) -> None:
        """Subscribe and wait for Redis to confirm; while Redis is away, subscribe on return."""
        self._wanted.add(channel)
        conn = self._conn
        if conn is None:
            return
        waiter = self._expect(channel)
        try:
            await conn.send_command("SUBSCRIBE", channel, check_health=False)
            async with asyncio.timeout(self._timeout):
                await waiter
        except ERRORS as exc:
            log.warning("subscribing to %s failed: %s", channel, exc)
        finally:
            self._forget(channel, waiter)

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving channel's messages."""
        self._wanted.discard(channel)
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(*ERRORS):
                await conn.send_command("UNSUBSCRIBE", channel, check_health=False)

    async def check(self) -> str | None:
        """None if Redis answers and the subscriber is up, else the reason."""
        try:
            await self._client.ping()
        except ERRORS as exc:
            return f"redis unreachable: {exc}"
        return self._listen_error

    def _deliver_locally(self, channels: Sequence[str], message: str) -> None:
        if self._deliver is None:
            return
        for channel in channels:
            if channel in self._wanted:
                self._deliver(channel, message)

    def _expect(self, channel: str) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(channel, []).append(waiter)
        return waiter

    def _forget(self, channel: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._confirm.get(channel, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._confirm.pop(channel, None)

    def _confirmed(self, channel: str) -> None:
        for waiter in self._confirm.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    async def _listen(self) -> None:
        delay, outage = 0.05, False
        while True:
            conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
                await self._serve(conn, resumed=outage)
            except ERRORS as exc:
                self._listen_error = f"redis subscriber down: {exc or type(exc).__name__}"
                log.warning("%s; retrying in %.2fs", self._listen_error, delay)
            finally:
                self._conn = None
                self._up.clear()
                for waiter in (w for ws in self._confirm.values() for w in ws):
                    waiter.cancel()
                self._confirm.clear()
                await conn.disconnect(nowait=True)
            outage = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _serve(self, conn: AbstractConnection, *, resumed: bool) -> None:
        if self._wanted:
            wanted = sorted(self._wanted)
            waiters = [self._expect(channel) for channel in wanted]
            await conn.send_command("SUBSCRIBE", *wanted, check_health=False)
        else:
            waiters = []
        self._conn, self._listen_error = conn, None
        self._up.set()
        if resumed:
            log.info("redis subscriber is back")
            asyncio.create_task(self._resume(waiters))  # noqa: RUF006  (ends by itself)
        pinged = False
        while True:
            reply = await conn.read_response(timeout=self._health_interval)
            if reply is None:
                if pinged:
                    raise TimeoutError("no answer to PING")
                await conn.send_command("PING", check_health=False)
                pinged = True
                continue
            pinged = False
            kind = reply[0]
            if kind == b"message" and self._deliver is not None:
                channel = reply[1].decode()
                for message in reply[2].decode().split(SEPARATOR):
                    self._deliver(channel, message)
            elif kind == b"subscribe":
                self._confirmed(reply[1].decode())

    async def _resume(self, waiters: list[asyncio.Future[None]]) -> None:
        if waiters:
            await asyncio.wait(waiters, timeout=self._timeout)
        if self._on_resume is not None:
            try:
                await self._on_resume()
            except Exception:
                log.exception("catching up after the redis outage failed")
