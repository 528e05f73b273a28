"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

import uuid
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import groups.hardware
import groups.models  # noqa: F401  (every table in the metadata)
import notifier.models
import notifier.push.models  # noqa: F401
import server.alarms.models
import server.reach.models
import server.signin.models
import server.supervision.models  # noqa: F401
from server.migrate import upgrade
from storage.db import Base, create_engine


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@pytest.mark.postgres
async def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


@pytest.mark.postgres
async def test_0003_clears_a_leader_naming_no_household_and_adds_the_key(
    postgres_server: str,
) -> None:
    name = f"tenwatch_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
        await upgrade(url, "0002_phone")
        db = await asyncpg.connect(f"{base}/{name}")
        try:
            await db.execute(
                "INSERT INTO communities (name, timezone, created_at) VALUES ('c', 'UTC', now())"
            )
            await db.execute(
                "INSERT INTO groups (community_id, name, leader_household_id, created_at)"
                " VALUES (1, 'g', 999, now())"
            )
            await upgrade(url)
            assert await db.fetchval("SELECT leader_household_id FROM groups") is None
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await db.execute("UPDATE groups SET leader_household_id = 999")
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
