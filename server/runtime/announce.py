"""After a commit: publish a change's events on the bus and wake the outbox if it queued texts."""

import logging

from notifier.hub import Hub
from notifier.outbox import OutboxWorker
from server.alarms.events import Change

log = logging.getLogger(__name__)


class Announcer:
    """Sets a committed change in motion; the same path for requests and for the scheduler."""

    def __init__(self, hub: Hub, outbox: OutboxWorker) -> None:
        self._hub = hub
        self._outbox = outbox

    async def __call__(self, change: Change) -> None:
        """Publish the change's events in one go, then wake the outbox if texts were queued."""
        await self._hub.bus.publish_all(change.published)
        if change.texts:
            self._outbox.wake()
