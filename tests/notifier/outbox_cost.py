"""What the outbox's bookkeeping costs: N texts through the console sender on a migrated SQLite
file, timed, with the statements and commits it took (not a test; run it by hand).

    .venv/bin/python -m tests.notifier.outbox_cost --jobs 20000
    .venv/bin/python -m tests.notifier.outbox_cost --jobs 2000 --latency 0.05

`--latency` makes each send take that long (as Twilio's answer does), so the senders come back
one by one rather than all together.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from groups.models import Community
from notifier.models import OutboxMessage
from notifier.outbox import OutboxWorker
from notifier.policy import OutboxPolicy
from notifier.sms.base import SendResult
from notifier.sms.console import ConsoleSender
from server.migrate import upgrade
from storage.db import create_engine, create_sessionmaker, utcnow

POLICE = "+8613900000004"


class SlowConsole(ConsoleSender):
    """The console sender, answering each text after `latency` seconds."""

    def __init__(self, *, latency: float) -> None:
        super().__init__(stream=io.StringIO())
        self._latency = latency

    async def send(self, **text: Any) -> SendResult:
        """Wait, then print."""
        await asyncio.sleep(self._latency)
        return await super().send(**text)


async def measure(
    *, jobs: int, batch_size: int, concurrency: int, latency: float = 0.0
) -> dict[str, float]:
    """Queue `jobs` texts in one transaction, then drain them; the time and the statements."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'cost.db'}"
        await upgrade(url)
        engine = create_engine(url)
        counts = {"statements": 0, "commits": 0}

        def statement(*_: Any) -> None:
            counts["statements"] += 1

        def commit(*_: Any) -> None:
            counts["commits"] += 1

        event.listen(engine.sync_engine, "before_cursor_execute", statement)
        event.listen(engine.sync_engine, "commit", commit)
        sessions = create_sessionmaker(engine)
        try:
            async with sessions() as session:
                community = Community(name="丰乐社区")
                session.add(community)
                await session.flush()
                now = utcnow()
                rows = [
                    {
                        "community_id": community.id,
                        "to": POLICE,
                        "body": f"B{i % 57}-1-{i % 400} 求助 #{i}",
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for i in range(jobs)
                ]
                await session.execute(insert(OutboxMessage), rows)
                await session.commit()
            counts.update(statements=0, commits=0)
            sender = SlowConsole(latency=latency)
            policy = OutboxPolicy(batch_size=batch_size, concurrency=concurrency)
            worker = OutboxWorker(sessions, sender, policy=policy)
            start = time.perf_counter()
            cpu = time.process_time()
            done = 0
            while sent := await worker.drain_once():
                done += sent
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
        finally:
            await engine.dispose()
    assert done == jobs, (done, jobs)
    return {
        "jobs": jobs,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "jobs_per_second": jobs / seconds,
        "statements_per_job": counts["statements"] / jobs,
        "commits_per_job": counts["commits"] / jobs,
    }


def main() -> None:
    """Run the measurement and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    figures = asyncio.run(
        measure(
            jobs=args.jobs,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            latency=args.latency,
        )
    )
    print("  ".join(f"{k}={v:.4g}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
