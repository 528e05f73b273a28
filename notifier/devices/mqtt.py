"""The device link over MQTT (aiomqtt): one connection with a fixed client id and a persistent
session (clean_session=False), its topics subscribed with QoS 1, reconnected with backoff.

Why a persistent session: a button's press is published with QoS 1 to the broker; while this
process is away (a restart, a broker restart, a network cut) the broker keeps the presses for
our session (Mosquitto writes them to its persistence file) and delivers them when we come
back. With a clean session they would be dropped. Subscribing again after each reconnect is
harmless and covers a broker that lost its sessions.

Limit: paho acknowledges a QoS 1 message when it reaches this process, before the handler has
stored the press (aiomqtt has no manual acknowledgement), so a crash of this process in those
milliseconds loses that press; a broker restart loses none.
"""

import asyncio
import contextlib
import logging
from urllib.parse import unquote, urlsplit

import aiomqtt

from notifier.devices.base import DeviceLink, Handler
from notifier.sms.base import SendError

log = logging.getLogger(__name__)


class MqttLink(DeviceLink):
    """A broker at mqtt://[user:password@]host[:port]."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        topics: tuple[str, ...],
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(topics=topics)
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 1883
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._client_id = client_id
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._timeout = timeout
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = "not connected yet"
        self.connections = 0
        """How many times the link has connected (a test sees a reconnect)."""

    async def start(self, handler: Handler) -> None:
        """Connect and hear in the background, for as long as the link is open."""
        self._task = asyncio.create_task(self._run(handler), name="mqtt device link")

    async def _run(self, handler: Handler) -> None:
        backoff = self._min_backoff
        while True:
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    username=self._username,
                    password=self._password,
                    identifier=self._client_id,
                    clean_session=False,
                    timeout=self._timeout,
                    keepalive=30,
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self._client, self._error = client, None
                    self.connections += 1
                    backoff = self._min_backoff
                    log.info("device link: connected to %s:%d", self._host, self._port)
                    async for message in client.messages:
                        payload = message.payload
                        raw = payload if isinstance(payload, bytes) else str(payload).encode()
                        try:
                            await handler(message.topic.value, raw)
                        except Exception:
                            log.exception("device link: a message on %s failed", message.topic)
            except aiomqtt.MqttError as exc:
                self._client = None
                self._error = f"broker unreachable: {exc}"
                log.warning("device link: %s; again in %.1f s", self._error, backoff)
            finally:
                self._client = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def publish(self, topic: str, payload: str) -> None:
        """Publish with QoS 1 and wait for the broker's acknowledgement."""
        client = self._client
        if client is None:
            raise SendError(f"the device link is down ({self._error})", transient=True)
        try:
            await client.publish(topic, payload, qos=1, timeout=self._timeout)
        except aiomqtt.MqttError as exc:
            raise SendError(f"the broker did not take it: {exc}", transient=True) from exc

    def check(self) -> str | None:
        """None while connected; else the last reason."""
        return None if self._client is not None else self._error

    async def close(self) -> None:
        """Stop hearing and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
