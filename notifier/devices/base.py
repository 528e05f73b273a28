"""The device link's interface: hear what buttons say, tell sirens and loudspeakers what to do.

One small base class whose backend the URL chooses, like the bus and the SMS sender:
`memory://` keeps everything in this process (the embedded default: nothing to run), and
`mqtt://host:port` talks to a broker (notifier/devices/mqtt.py). A link survives a lost broker:
it reconnects by itself and says on `check` why it is down meanwhile.
"""

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

Handler = Callable[[str, bytes], Awaitable[None]]
"""What a link hands every message it hears to: (topic, payload). The link acknowledges the
message (QoS 1) only once the handler has returned."""


def matches(pattern: str, topic: str) -> bool:
    """Whether an MQTT topic filter (with `+` and `#`) matches a topic."""
    wanted, parts = pattern.split("/"), topic.split("/")
    for at, level in enumerate(wanted):
        if level == "#":
            return True
        if at >= len(parts) or (level != "+" and level != parts[at]):
            return False
    return len(wanted) == len(parts)


class DeviceLink(ABC):
    """Hears the topic filters it was made with; publishes commands to devices."""

    def __init__(self, *, topics: tuple[str, ...]) -> None:
        self.topics = topics

    @abstractmethod
    async def start(self, handler: Handler) -> None:
        """Begin hearing the topics (returns at once; connecting goes on in the background)."""

    @abstractmethod
    async def publish(self, topic: str, payload: str) -> None:
        """Publish one command with QoS 1, returning once the broker has it. Raises
        notifier.sms.base.SendError (transient) while the broker cannot be reached."""

    @abstractmethod
    def check(self) -> str | None:
        """None while the link is up; else why it is not (for /readyz)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop hearing and let go of the connection."""
