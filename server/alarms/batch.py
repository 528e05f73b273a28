"""Presses of one community that arrive together commit together: one lock, one transaction, one
flush to disk for the batch, its events published in id order; each press is answered only once
the batch's commit is durable.

A press is never refused for load: under a storm it waits for its community's next batch. A batch
that fails before its commit because the database is away is run again until `wait_seconds`
have passed since its oldest press; then, or when the commit itself failed that way (it may
have been applied), its presses are answered 503 and the app presses again with its
Idempotency-Key or falls back to the phone.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.metrics import Arrivals
from server.accounts import Principal
from server.alarms import metrics, press, store
from server.alarms.change import Change, Pressed
from server.alarms.models import AlertType, Channel
from server.errors import PRESS_NOT_STORED, Refusal, Unavailable, database_away
from server.runtime.batches import Batches
from server.runtime.work import Work

log = logging.getLogger(__name__)


class _CommitUnknown(Exception):
    """The commit itself failed with the database away: it may or may not have been applied,
    so the batch is not run again (a press without an Idempotency-Key would be stored twice)."""


@dataclass(frozen=True, slots=True)
class Press:
    """One press of the help button, as `press.create` takes it."""

    principal: Principal
    alert_type: AlertType
    now: datetime
    address: str | None = None
    source: Channel = Channel.APP
    idempotency_key: str | None = None
    arrived: float = field(default=0.0, compare=False)


class Presses:
    """The service routes hand presses to; the lifespan owns it."""

    def __init__(
        self,
        sessions: Callable[[], Work],
        *,
        wait_seconds: float = 10.0,
        max_batch: int = 500,
        arrivals: Arrivals | None = None,
    ) -> None:
        """`arrivals`: the hub's, to time a raised alarm to this process's sockets."""
        self._sessions = sessions
        self._wait = wait_seconds
        self._arrivals = arrivals
        self._batches: Batches[int, Press, Change[Pressed]] = Batches(self._run, max_size=max_batch)

    async def press(self, request: Press) -> Change[Pressed]:
        """Store a press with the others of its community that came with it; its change once
        committed. Raises the press's own refusal, or Unavailable."""
        loop = asyncio.get_running_loop()
        queued = dataclasses.replace(request, arrived=loop.time())
        try:
            change = await self._batches.submit(request.principal.community_id, queued)
        except Exception as exc:
            metrics.refused(request.source, exc)
            raise
        metrics.PRESS_TO_COMMIT.observe(loop.time() - queued.arrived)
        metrics.pressed(request.source, change.outcome)
        return change

    async def stop(self) -> None:
        """Finish the batches that run and are queued."""
        await self._batches.stop()

    async def _run(
        self, _community_id: int, presses: Sequence[Press]
    ) -> Sequence[Change[Pressed] | Exception]:
        loop = asyncio.get_running_loop()
        pause = 0.1
        while True:
            try:
                return await self._commit(presses)
            except _CommitUnknown as exc:
                log.error("%d presses may not be stored, commit failed: %s", len(presses), exc)
                return [Unavailable(PRESS_NOT_STORED)] * len(presses)
            except Exception as exc:
                if database_away(exc) is None:
                    if len(presses) == 1:
                        log.exception("a press failed")
                        return [exc]
                    # One press broke the batch: run each alone, so only it fails.
                    return [r for p in presses for r in await self._run(_community_id, [p])]
                if loop.time() - min(p.arrived for p in presses) + pause > self._wait:
                    log.error("%d presses not stored, no database: %s", len(presses), exc)
                    return [Unavailable(PRESS_NOT_STORED)] * len(presses)
                log.warning("the database is unreachable (%s): the presses wait", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _commit(self, presses: Sequence[Press]) -> list[Change[Pressed] | Exception]:
        results: list[Change[Pressed] | Exception] = []
        async with self._sessions() as session:
            pressing = [
                store.Pressing(
                    group_id=p.principal.group_id,
                    household_id=p.principal.household_id,
                    resident_id=p.principal.resident_id,
                    key=p.idempotency_key,
                    drill=False,
                    now=p.now,
                )
                for p in presses
                if p.principal.household_id is not None and p.principal.resident_id is not None
            ]
            if pressing:
                community_id = presses[0].principal.community_id
                await store.prefetch(
                    session, community_id=community_id, pressing=pressing, at=presses[0].now
                )
            for request in presses:
                try:
                    change = await press.create(
                        session,
                        principal=request.principal,
                        alert_type=request.alert_type,
                        now=request.now,
                        address=request.address,
                        source=request.source,
                        idempotency_key=request.idempotency_key,
                    )
                except Refusal as refusal:  # refused before it changed anything
                    results.append(refusal)
                    continue
                results.append(change)
                if self._arrivals is not None and change.outcome is Pressed.RAISED:
                    # Before the commit: on the in-process bus it fans out inside it.
                    assert change.event_id is not None
                    self._arrivals.expect(change.event_id, request.arrived)
            try:
                await session.commit()
            except Exception as exc:
                if database_away(exc) is not None:
                    raise _CommitUnknown(str(exc)) from exc
                raise
        return results
