"""Presence: which residents' credentials have an app socket open, on any process.

The stream tells this process's `Presence` when a resident's socket joins and leaves (two
calls that never wait). It writes each credential's count of sockets here when it changes, in
one short transaction for whatever changed together (a thousand sockets reconnecting at once
are one write), never per event. Every BEAT_SECONDS it marks the
process alive; a process not seen for STALE_BEATS beats no longer counts (it died without
saying so), and the next live process clears its rows.

The same object carries the routine test's app check: the test's bus message names the
household's credentials; each process puts a test message on their local sockets (only
those sockets hear it), waits to see it sent, and records the check ok.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from groups.models import Credential, Resident
from notifier.connection import Connection
from notifier.hub import Hub
from server.reach.models import HouseholdTestCheck, ReachPresence, ReachProcess

log = logging.getLogger(__name__)

CHANNEL = "reach"
"""The bus channel of the routine tests' app checks (every process listens)."""
BEAT_SECONDS = 15.0
STALE_BEATS = 3
FLUSH_SECONDS = 0.1
"""How long changes gather before they are written together."""
CHUNK = 500
"""Credentials written per statement (a database takes only so many parameters at once)."""
CONFIRM_SECONDS = 5.0
"""How long a test message may take to be sent to a socket before this process gives up."""


def stale_before(now: datetime) -> datetime:
    """Processes last seen before this no longer count."""
    return now - timedelta(seconds=BEAT_SECONDS * STALE_BEATS)


def process_name() -> str:
    """This process's name: host, pid and a random tail (a restarted pid is a new process)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def app_check_message(*, check_id: int, credentials: list[int], text: str) -> str:
    """The bus message of a test's app check: which credentials' sockets hear what."""
    return json.dumps({"check": check_id, "credentials": credentials, "text": text})


async def connected_credentials(
    session: AsyncSession, *, household_id: int, now: datetime
) -> list[int]:
    """The household's credentials with a socket open now, on any live process."""
    rows = await session.scalars(
        select(ReachPresence.credential_id)
        .join(ReachProcess, ReachProcess.name == ReachPresence.process)
        .join(Credential, Credential.id == ReachPresence.credential_id)
        .join(Resident, Resident.id == Credential.resident_id)
        .where(
            Resident.household_id == household_id,
            ReachProcess.seen_at >= stale_before(now),
            Credential.revoked_at.is_(None),
            or_(Credential.expires_at.is_(None), Credential.expires_at > now),
        )
        .distinct()
    )
    return sorted(rows)


def _resident(connection: Connection) -> bool:
    return connection.credential > 0 and connection.channel.startswith("group:")


class Presence:
    """This process's resident sockets by credential, written to the database on change."""

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        *,
        clock: Callable[[], datetime],
        name: str | None = None,
    ) -> None:
        self.name = name or process_name()
        self._sessions = sessions
        self._clock = clock
        self._local: dict[int, set[Connection]] = {}
        self._since: dict[int, datetime] = {}
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._confirming: set[asyncio.Task[None]] = set()

    def arrive(self, connection: Connection) -> None:
        """A socket joined; its credential's count here is written soon."""
        if not _resident(connection):
            return
        held = self._local.setdefault(connection.credential, set())
        held.add(connection)
        self._since.setdefault(connection.credential, self._clock())
        self._changed(connection.credential)  # its count; changes that come together: one write

    def depart(self, connection: Connection) -> None:
        """A socket left; its credential's count here (or its row's end) is written soon."""
        held = self._local.get(connection.credential)
        if held is None or connection not in held:
            return
        held.discard(connection)
        if not held:
            del self._local[connection.credential]
            self._since.pop(connection.credential, None)
        self._changed(connection.credential)

    def connected(self, credential: int) -> int:
        """How many sockets of a credential this process holds."""
        return len(self._local.get(credential, ()))

    async def start(self, hub: Hub) -> None:
        """Mark the process alive, start writing changes, and hear tests' app checks."""
        try:
            await self._beat()
        except Exception:
            log.warning("could not mark this process alive yet; the next beat tries again")
        self._task = asyncio.create_task(self._run(), name="presence")
        await hub.listen(CHANNEL, self.hear)

    async def stop(self) -> None:
        """Stop; this process's rows go (its sockets are gone with it)."""
        tasks = [t for t in [self._task, *self._confirming] if t is not None]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    delete(ReachPresence).where(ReachPresence.process == self.name)
                )
                await session.execute(delete(ReachProcess).where(ReachProcess.name == self.name))
        except Exception:
            log.warning("could not clear this process's presence rows; they go stale")

    def _changed(self, credential: int) -> None:
        self._dirty.add(credential)
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + BEAT_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(next_beat - loop.time(), 0.0)):
                    await self._wake.wait()
            try:
                if self._dirty:
                    await asyncio.sleep(FLUSH_SECONDS)  # let changes that come together gather
                    self._wake.clear()
                    await self._flush()
                else:
                    self._wake.clear()
                if loop.time() >= next_beat:
                    await self._beat()
                    next_beat = loop.time() + BEAT_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing presence; trying again")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        rows = [
            {
                "process": self.name,
                "credential_id": credential,
                "sockets": len(self._local[credential]),
                "since": self._since.get(credential) or self._clock(),
            }
            for credential in sorted(dirty)
            if credential in self._local
        ]
        changed = sorted(dirty)
        try:
            async with self._sessions() as session, session.begin():
                for at in range(0, len(changed), CHUNK):  # a storm's reconnects: many at once
                    await session.execute(
                        delete(ReachPresence).where(
                            ReachPresence.process == self.name,
                            ReachPresence.credential_id.in_(changed[at : at + CHUNK]),
                        )
                    )
                for at in range(0, len(rows), CHUNK):
                    await session.execute(insert(ReachPresence), rows[at : at + CHUNK])
        except BaseException:
            self._dirty |= dirty  # written next time
            raise

    async def _beat(self) -> None:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(ReachProcess).where(ReachProcess.name == self.name).values(seen_at=now)
            )
            if not getattr(done, "rowcount", 0):
                session.add(ReachProcess(name=self.name, seen_at=now))
            old = stale_before(now)
            gone = ReachProcess.seen_at < old
            await session.execute(
                delete(ReachPresence).where(
                    ReachPresence.process.in_(select(ReachProcess.name).where(gone))
                )
            )
            await session.execute(delete(ReachProcess).where(gone))

    # -- the routine test's app check ---------------------------------------------------------

    def hear(self, message: str) -> None:
        """A test's app check from any process: say its text to this process's sockets of the
        named credentials, then confirm it was sent."""
        try:
            found = json.loads(message)
            check_id, credentials, text = (
                int(found["check"]),
                [int(c) for c in found["credentials"]],
                str(found["text"]),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a message on %s that is not a test", CHANNEL)
            return
        said = [
            connection
            for credential in credentials
            for connection in self._local.get(credential, ())
            if connection.say(text)
        ]
        if said:
            task = asyncio.create_task(self._confirm(check_id, said, text))
            self._confirming.add(task)
            task.add_done_callback(self._confirming.discard)

    async def _confirm(self, check_id: int, said: list[Connection], text: str) -> None:
        """Wait until the text has left each socket's queue and its send ended; record the
        check ok for the sockets that took it (one that closed or fell behind did not)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_SECONDS

        def sent(connection: Connection) -> bool:
            return text not in connection.queue and connection.sending_since == 0.0

        # A few sockets for a few seconds: looking every 20 ms costs nothing worth an event.
        while loop.time() < deadline and not all(sent(c) or not c.live for c in said):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        took = [c for c in said if c.live and not c.closed and sent(c)]
        if not took:
            return
        reason = f"sent to {len(took)} open app socket" + ("s" if len(took) > 1 else "")
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(HouseholdTestCheck)
                    .where(HouseholdTestCheck.id == check_id)
                    .values(result="ok", reason=reason, checked_at=self._clock())
                )
        except Exception:
            log.exception("recording a test's app check")
