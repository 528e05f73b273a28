"""What a committed unit of work sets in motion: its events on the bus, the outbox woken."""

from notifier.hub import Hub
from notifier.outbox import OutboxWorker
from server.runtime.work import Recorded


class Announcer:
    """Publishes a committed transaction's events and wakes the outbox if it queued texts; the
    one `publish` of every unit of work (`server.runtime.work`), requests and workers alike."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.outbox: OutboxWorker | None = None
        """Set once the outbox worker exists (it needs the sessions this announcer serves)."""

    async def __call__(self, recorded: Recorded) -> None:
        """Publish the events in one go, in the order they were recorded; wake the outbox."""
        if recorded.published:
            await self._hub.bus.publish_all(recorded.published)
        if recorded.texts and self.outbox is not None:
            self.outbox.wake()
