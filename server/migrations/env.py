"""Alembic environment: runs migrations over our async engine."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

# Importing the models registers every table on the metadata.
import groups.hardware
import groups.models  # noqa: F401
import notifier.models
import notifier.push.models  # noqa: F401
import server.alarms.models
import server.reach.models
import server.signin.models
import server.supervision.models  # noqa: F401
from storage.db import Base, create_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_run_async())
