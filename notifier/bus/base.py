"""The bus interface every backend implements."""

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

Deliver = Callable[[str, str], None]
"""Called with (channel, message) for every message of a subscribed channel; never blocks."""

Message = tuple[Sequence[str], str]
"""A message and the channels it goes to."""

OnResume = Callable[[], Awaitable[None]]
"""Called after the bus comes back from an outage, to fetch what may have been missed."""

SEPARATOR = "\x1e"
"""No message may hold this character: a backend may join messages with it (a JSON text never
holds it raw; RFC 7464 frames JSON texts with it)."""


def check_message(message: str) -> None:
    """Refuse a message that holds the SEPARATOR (ValueError): a caller's mistake, not the bus's
    failure."""
    if SEPARATOR in message:
        raise ValueError("a bus message may not hold the \\x1e separator")


class Bus(ABC):
    """Publish a message to channels; deliver messages of subscribed channels to one callback."""

    @property
    def error(self) -> str | None:
        """Why the bus is degraded, or None while it is healthy."""
        return None

    @abstractmethod
    async def connect(self, deliver: Deliver, *, on_resume: OnResume | None = None) -> None:
        """Start delivering subscribed messages to deliver."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Stop delivering and release every connection."""

    @abstractmethod
    async def publish(self, channels: Sequence[str], message: str) -> None:
        """Send message to every subscriber of channels, in every process; never raises for the
        bus's failures (a message holding the SEPARATOR is refused)."""

    async def publish_all(self, messages: Sequence[Message]) -> None:
        """Publish several messages in order (a backend may send them in one round trip)."""
        for channels, message in messages:
            await self.publish(channels, message)

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Receive channel's messages from now on; returns once that is in force."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving channel's messages."""

    async def check(self) -> str | None:
        """None if the bus works now, else the reason it does not."""
        return self.error
