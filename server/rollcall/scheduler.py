"""The roll call's deadline: in every process, a worker that phones the households that have
not answered once a roll call's `call_due_at` has passed. The deadline is stored on the roll
call, so it survives a restart; it is claimed under the community's lock and marked
(`called_at`) in the same transaction, so it fires once however many processes run."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from notifier.worker import Worker
from server.alarms.store import lock
from server.rollcall import service
from server.rollcall.models import RollCall
from server.runtime.clock import Clock
from server.runtime.work import Work


class Scheduler(Worker):
    """Fires due roll call call-outs; one per process."""

    name = "roll call scheduler"

    def __init__(
        self, sessions: async_sessionmaker[Work], *, clock: Clock, poll_seconds: float = 1.0
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._clock = clock

    async def step(self) -> int:
        """Fire what is due; then sleep until the next poll."""
        await self.run_due()
        return 0

    async def run_due(self) -> int:
        """Phone the unanswered households of every roll call due by now; returns how many
        roll calls this process fired."""
        now = self._clock()
        async with self._sessions() as session:
            due = await service.due(session, now=now)
        fired = 0
        for community_id, rollcall_id in due:
            async with self._sessions() as session:
                await lock(session, community_id)
                rollcall = await session.scalar(
                    select(RollCall).where(RollCall.id == rollcall_id).with_for_update()
                )
                if rollcall is not None and rollcall.is_open and rollcall.called_at is None:
                    await service.call_out(session, rollcall=rollcall, now=now)
                    fired += 1
                await session.commit()
        return fired
