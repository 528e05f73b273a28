"""The in-process device link: what is published is kept (and heard, when it matches the
link's topics), so that the embedded default runs with no broker and a test can press a
button with one call."""

from notifier.devices.base import DeviceLink, Handler, matches


class MemoryLink(DeviceLink):
    """A broker of one process."""

    def __init__(self, *, topics: tuple[str, ...] = ()) -> None:
        super().__init__(topics=topics)
        self.published: list[tuple[str, str]] = []
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        """Hear what is published from now on."""
        self._handler = handler

    async def publish(self, topic: str, payload: str) -> None:
        """Keep the message, and hear it if one of the topics matches."""
        self.published.append((topic, payload))
        if self._handler is not None and any(matches(p, topic) for p in self.topics):
            await self._handler(topic, payload.encode())

    def check(self) -> str | None:
        """Always up."""
        return None

    async def close(self) -> None:
        """Hear no more."""
        self._handler = None
