"""Schema migrations: Alembic, run programmatically so `tenwatch serve` can upgrade on start."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at url up to the given revision (head by default)."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


def known(revision: str) -> bool:
    """Whether revision is one of our migrations (a database from a newer release is not)."""
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


def head() -> str:
    """The newest revision of our migrations (what `upgrade` brings a database to)."""
    newest = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert newest is not None
    return newest
