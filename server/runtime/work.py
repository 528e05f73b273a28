"""The unit of work: a session whose commit publishes what its transaction recorded.

Domain code records an alarm's events and queues its texts on the session (`publish_later`,
`texts_queued`); nothing is sent while the transaction is open. When it commits, whichever way
(`await session.commit()`, or the end of `async with session.begin()`), what it recorded is
published on the bus in the order it was recorded and the outbox is woken, before the commit
call returns (or, for `begin()`, before the session closes). A rollback forgets it. So no route,
worker or webhook has to remember to publish: committing is publishing.

Each event goes out on its community's bus channel with `prev`, the id of the community's event
before it, so that every process can tell a gap from the next event (see `notifier.hub`).
Once published, each event is a log line, `alarm step` (docs/operate.md, "Logs").
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from notifier.bus import format as bus_format
from notifier.bus.base import Message
from notifier.hub import community_channel, seal

log = logging.getLogger(__name__)

_PENDING = "tenwatch.pending"
_COMMITTED = "tenwatch.committed"


class Step(NamedTuple):
    """What the log says of one published event: whose, which, what."""

    community_id: int
    event_id: int
    type: str
    alarm_id: int | None


@dataclass(slots=True)
class Recorded:
    """What one transaction set in motion: events to publish (as bus messages), texts, and the
    last event it recorded of each community (what the next one's `prev` is)."""

    published: list[Message] = field(default_factory=list)
    texts: int = 0
    last: dict[int, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


Publish = Callable[[Recorded], Awaitable[None]]


def _pending(session: AsyncSession) -> Recorded:
    found: Recorded | None = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = Recorded()
    return found


def publish_later(
    session: AsyncSession,
    *,
    community_id: int,
    event_id: int,
    prev: int,
    channels: tuple[str, ...],
    text: str,
    type: str = "",
    alarm_id: int | None = None,
) -> None:
    """Publish an event's wire text for these socket channels once the session's transaction
    commits, on its community's bus channel, with prev (the community's event before it); its
    type and alarm are for the log line."""
    pending = _pending(session)
    pending.published.append(((community_channel(community_id),), seal(prev, channels, text)))
    pending.last[community_id] = event_id
    pending.steps.append(Step(community_id, event_id, type, alarm_id))


def announce_later(session: AsyncSession, *, channel: str, message: str) -> None:
    """Publish a message that is not an event (a revocation) on a bus channel once the
    session's transaction commits, in order with the events it recorded."""
    _pending(session).published.append(((channel,), message))


def last_recorded(session: AsyncSession, community_id: int) -> int | None:
    """The id of the last event of a community this transaction recorded, if it did."""
    found: Recorded | None = session.info.get(_PENDING)
    return found.last.get(community_id) if found is not None else None


def texts_queued(session: AsyncSession, count: int) -> None:
    """The transaction queued this many outbox jobs: wake the outbox once it commits."""
    if count:
        _pending(session).texts += count


class Work(AsyncSession):
    """A session that publishes what it recorded when it commits (see the module)."""

    def __init__(self, *args: Any, publish: Publish, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._publish = publish

    async def commit(self) -> None:
        """Commit, then publish what the transaction recorded."""
        await super().commit()
        await self._release()

    async def close(self) -> None:
        """Publish what a `begin()` block committed, then close."""
        try:
            await self._release()
        finally:
            self.info.pop(_PENDING, None)
            await super().close()

    async def _release(self) -> None:
        committed: list[Recorded] = self.info.pop(_COMMITTED, [])
        for recorded in committed:
            await self._publish(recorded)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    recorded = session.info.pop(_PENDING, None)
    if recorded is not None:
        session.info.setdefault(_COMMITTED, []).append(recorded)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Announcer:
    """Publishes a committed transaction's events on the bus, in the bus format this process
    writes (`notifier.bus.format`), and wakes the outbox if it queued texts: the one `publish`
    of every unit of work, requests and workers alike."""

    def __init__(
        self,
        publish_all: Callable[[Sequence[Message]], Awaitable[None]],
        *,
        writes: int = bus_format.WRITES,
    ) -> None:
        self._publish_all = publish_all
        self._writes = writes
        self.wake: Callable[[], None] | None = None
        """The outbox worker's wake, set once it exists (it needs the sessions announced for)."""

    async def __call__(self, recorded: Recorded) -> None:
        """Publish the events in one go, in the order they were recorded; wake the outbox."""
        if recorded.published:
            version = self._writes
            await self._publish_all(
                [(to, bus_format.write(body, version=version)) for to, body in recorded.published]
            )
            if recorded.steps and log.isEnabledFor(logging.INFO):
                _log_steps(recorded.steps)
        if recorded.texts and self.wake is not None:
            self.wake()


def _log_steps(steps: Sequence[Step]) -> None:
    """One `alarm step` line per published event (a roll call's have no alarm_id)."""
    for step in steps:
        log.info(
            "alarm step",
            extra={
                "alarm_id": step.alarm_id,
                "event_id": step.event_id,
                "type": str(step.type),
                "community": step.community_id,
            },
        )


def sessionmaker(engine: AsyncEngine, *, publish: Publish) -> async_sessionmaker[Work]:
    """The factory of every unit of work a request, a webhook or a worker runs; objects stay
    usable after commit (a route shows the alarm it just stored)."""
    return async_sessionmaker(engine, class_=Work, expire_on_commit=False, publish=publish)
