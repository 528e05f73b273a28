"""The in-process bus: the embedded default, for a single process."""

from collections.abc import Sequence

from notifier.bus.base import Bus, Deliver, OnResume, check_message


class MemoryBus(Bus):
    """Delivers each published message straight to this process's subscribers."""

    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._deliver: Deliver | None = None

    async def connect(self, deliver: Deliver, *, on_resume: OnResume | None = None) -> None:
        """Start delivering to deliver."""
        self._deliver = deliver

    async def disconnect(self) -> None:
        """Stop delivering."""
        self._deliver = None
        self._channels.clear()

    async def publish(self, channels: Sequence[str], message: str) -> None:
        """Deliver message on each subscribed channel, synchronously."""
        check_message(message)
        if self._deliver is None:
            return
        for channel in channels:
            if channel in self._channels:
                self._deliver(channel, message)

    async def subscribe(self, channel: str) -> None:
        """Receive channel's messages."""
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving channel's messages."""
        self._channels.discard(channel)
