"""Migration 0005: jobs a worker of the old schema left "sending" may have gone out, so they are
marked started and the next worker looks them up before sending."""

from __future__ import annotations

from sqlalchemy import text

from server.migrate import upgrade
from storage.db import create_engine


async def test_jobs_left_sending_by_the_old_schema_are_marked_started(empty_db_url: str) -> None:
    await upgrade(empty_db_url, "0004")
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as db:
            await db.execute(
                text(
                    "INSERT INTO communities (name, timezone, created_at)"
                    " VALUES ('c', 'UTC', '2026-12-01 08:00:00+00')"
                )
            )
            for status in ("sending", "pending", "sent"):
                await db.execute(
                    text(
                        'INSERT INTO outbox (community_id, channel, "to", body, status, attempts,'
                        " next_attempt_at, created_at, maybe_sent)"
                        " VALUES (1, 'sms', '+8613900000004', :body, :status, 1,"
                        " '2026-12-01 08:00:00+00', '2026-12-01 08:00:00+00', false)"
                    ),
                    {"body": status, "status": status},
                )
        await upgrade(empty_db_url)
        async with engine.connect() as db:
            rows = await db.execute(
                text("SELECT status, send_started_at, claimed_by FROM outbox ORDER BY id")
            )
            started = {status: (at is not None, claim) for status, at, claim in rows}
    finally:
        await engine.dispose()
    assert started == {"sending": (True, None), "pending": (False, None), "sent": (False, None)}
