"""The supervision loop: every interval a silent test alarm takes the whole path, and each leg
is timed against a deadline.

- **stored**: the probe and its outbox job are written through the unit of work and committed
  (the database takes writes).
- **heard**: its commit's announcement comes back through the bus to a `Connection` this
  process holds, run by the same writer loop as every socket's (the bus and this process's
  hub deliver). Heard only through the bus's local fallback (Redis away) does not count: the
  other processes' sockets would not have heard it.
- **sent**: its outbox job was sent — a text to `TENWATCH_SUPERVISION_TO` taken by the
  provider, or without a number settled by a worker (some outbox worker claims and records).

Each process supervises its own path (its write, its bus subscription, its hub); the outbox
is the deployment's, so whichever worker is alive sends the job, and the watchdog covers each
process's own workers. The last round's legs, the last success and the failing leg (since
when) are on /readyz for staff and in the metrics; a failure is logged once when it starts.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from notifier.connection import Connection
from notifier.hub import Hub
from server.runtime.clock import Clock
from server.runtime.work import Work
from server.supervision import metrics, probes

log = logging.getLogger(__name__)

LEGS = ("stored", "heard", "sent")


@dataclass(slots=True)
class Leg:
    """One leg of a round: passed or not (None: not tried), in how long, and why not."""

    ok: bool | None = None
    seconds: float | None = None
    reason: str | None = None


class Supervisor:
    """Runs a round every `interval_seconds` (see the module); `report()` says how it stands."""

    def __init__(
        self,
        sessions: async_sessionmaker[Work],
        *,
        hub: Hub,
        clock: Clock,
        interval_seconds: float,
        deadline_seconds: float,
        to: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._clock = clock
        self.interval = interval_seconds
        self.deadline = deadline_seconds
        self._to = to
        self.process = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.channel = probes.channel_of(self.process)
        self._connection = Connection(self.channel, community_id=0, maxsize=64)
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._local: dict[int, str] = {}  # probes heard only through the bus's local fallback
        self._tasks: list[asyncio.Task[None]] = []
        self.legs = {leg: Leg() for leg in LEGS}
        """The last finished round's legs."""
        self.rounds = 0
        self.last_success: float | None = None  # Unix time
        self.failing: str | None = None
        """The first failing leg of the last round (None while it passed)."""
        self.failing_since: float | None = None  # Unix time of the first round of the failure

    @property
    def on(self) -> bool:
        """Whether rounds run (TENWATCH_SUPERVISION_SECONDS > 0)."""
        return self.interval > 0

    async def start(self) -> None:
        """Listen on this process's channel through its connection; run rounds."""
        if not self.on:
            return
        await self._hub.listen(self.channel, self._hear)
        self._connection.start("", (), head=0, at=0, more=False)
        self._tasks = [
            asyncio.create_task(self._connection.run(self._receive, _no_page), name="supervised"),
            asyncio.create_task(self._loop(), name="supervision"),
        ]

    async def stop(self) -> None:
        """Stop the rounds and the connection."""
        self._connection.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_round(self) -> dict[str, Leg]:
        """One round: the probe stored, heard and sent, each by the deadline (see the module);
        returns its legs, which also become the supervisor's state."""
        began = time.monotonic()
        legs = {leg: Leg() for leg in LEGS}
        heard: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        written: probes.Written | None = None
        try:
            async with asyncio.timeout(self.deadline), self._sessions() as session:
                now = self._clock()
                written = await probes.record(
                    session,
                    process=self.process,
                    to=self._to,
                    now=now,
                    valid_for=timedelta(seconds=self.deadline),
                )
                self._waiting[written.probe_id] = heard  # the commit may deliver it at once
                await session.commit()
            legs["stored"] = Leg(ok=True, seconds=time.monotonic() - began)
        except Exception as exc:
            why = f"not stored within {self.deadline:g} s" if isinstance(exc, TimeoutError) else ""
            legs["stored"] = Leg(
                ok=False, seconds=time.monotonic() - began, reason=why or _brief(exc)
            )
        if written is not None and legs["stored"].ok:
            legs["heard"], legs["sent"] = await asyncio.gather(
                self._heard(heard, began), self._sent(written.job_id, began)
            )
        if written is not None:
            self._waiting.pop(written.probe_id, None)
            self._local.pop(written.probe_id, None)
        self._settle(legs)
        if legs["stored"].ok:
            await self._prune()
        return legs

    def report(self) -> dict[str, Any]:
        """How supervision stands, for staff on /readyz: its state (off, pending, ok,
        failing), the failing leg and for how long, the last success, each leg of the last
        round."""
        now = time.time()
        if not self.on:
            state = "off"
        elif self.rounds == 0:
            state = "pending"
        else:
            state = "ok" if self.failing is None else "failing"
        failing = self.legs[self.failing] if self.failing is not None else None
        return {
            "state": state,
            "interval_seconds": self.interval,
            "deadline_seconds": self.deadline,
            "failing": self.failing,
            "reason": failing.reason if failing is not None else None,
            "failing_for_seconds": (
                round(now - self.failing_since) if self.failing_since is not None else None
            ),
            "last_success": _iso(self.last_success),
            "last_success_seconds_ago": (
                round(now - self.last_success) if self.last_success is not None else None
            ),
            "legs": {
                name: {
                    "ok": leg.ok,
                    "seconds": None if leg.seconds is None else round(leg.seconds, 3),
                    "reason": leg.reason,
                }
                for name, leg in self.legs.items()
            },
        }

    def said(self) -> str | None:
        """The one-line failure /readyz gives (None while ok, pending or off)."""
        if self.failing is None:
            return None
        return f"the {self.failing} leg failed: {self.legs[self.failing].reason}"

    # -- the legs -------------------------------------------------------------------------------

    def _hear(self, message: str) -> None:
        """A probe's bus message: handed to the connection, noting whether the bus itself
        brought it (while degraded, a publish is delivered to this process alone)."""
        probe = probes.probe_of(message)
        if probe is None or probe not in self._waiting:
            return  # another app's on a shared channel, or a round given up on
        error = self._hub.bus.error
        if error is not None:
            self._local[probe] = error
        if not self._connection.say(message):
            log.warning("supervision: its connection is not live")

    async def _receive(self, text: str) -> None:
        """The connection's send: a probe heard."""
        probe = probes.probe_of(text)
        waiter = self._waiting.get(probe) if probe is not None else None
        if waiter is not None and not waiter.done():
            waiter.set_result(self._local.get(probe) if probe is not None else None)

    async def _heard(self, heard: asyncio.Future[str | None], began: float) -> Leg:
        left = self.deadline - (time.monotonic() - began)
        try:
            async with asyncio.timeout(max(left, 0)):
                local = await heard
        except TimeoutError:
            return Leg(ok=False, seconds=self.deadline, reason=self._unheard())
        seconds = time.monotonic() - began
        if local is not None:
            reason = f"heard by this process alone, not through the bus ({local})"
            return Leg(ok=False, seconds=seconds, reason=reason)
        return Leg(ok=True, seconds=seconds)

    def _unheard(self) -> str:
        error = self._hub.bus.error
        said = f"not heard within {self.deadline:g} s"
        return f"{said} (the bus: {error})" if error else said

    async def _sent(self, job_id: int, began: float) -> Leg:
        pause = 0.02
        last = probes.Sending(done=False, ok=False, status="pending", error=None)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(self.deadline - (time.monotonic() - began), 0)):
                while True:
                    try:
                        async with self._sessions() as session:
                            last = await probes.sending(session, job_id=job_id)
                    except Exception as exc:
                        last = probes.Sending(
                            done=False, ok=False, status="unread", error=_brief(exc)
                        )
                    if last.done:
                        break
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.5)
        seconds = time.monotonic() - began
        if last.ok:
            return Leg(ok=True, seconds=seconds)
        if last.done:
            return Leg(ok=False, seconds=seconds, reason=f"the send failed: {last.error}")
        reason = f"not sent within {self.deadline:g} s ({last.status})"
        if last.error:
            reason += f": {last.error}"
        return Leg(ok=False, seconds=self.deadline, reason=reason)

    # -- the state ------------------------------------------------------------------------------

    def _settle(self, legs: dict[str, Leg]) -> None:
        """Make the round's legs the state; count, log and measure."""
        self.legs = legs
        self.rounds += 1
        first = next((name for name in LEGS if legs[name].ok is not True), None)
        now = time.time()
        for name, leg in legs.items():
            metrics.LEG_OK.labels(leg=name).set(1 if leg.ok else 0)
            if leg.seconds is not None:
                metrics.LEG_SECONDS.labels(leg=name).set(leg.seconds)
        if first is None:
            if self.failing is not None:
                log.info(
                    "supervision: the alarm path works again (the %s leg passed)", self.failing
                )
            self.failing = self.failing_since = None
            self.last_success = now
            metrics.LAST_SUCCESS.set(now)
            return
        metrics.FAILURES.labels(leg=first).inc()
        if self.failing is None:
            self.failing_since = now
            log.warning("supervision: the %s leg failed: %s", first, legs[first].reason)
        self.failing = first

    async def _prune(self) -> None:
        try:
            async with asyncio.timeout(self.deadline), self._sessions() as session:
                await probes.prune(session, process=self.process, now=self._clock())
                await session.commit()
        except Exception:
            log.warning("supervision: pruning old probes failed", exc_info=True)

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.run_round()
            except Exception:
                log.exception("supervision: a round failed unexpectedly")
            await asyncio.sleep(max(self.interval - (time.monotonic() - started), 0.0))


async def _no_page(channel: str, after_id: int, limit: int) -> list[tuple[int, str]]:
    """The supervisor's connection is never behind on stored events: it has none."""
    return []


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()
