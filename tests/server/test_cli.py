"""The admin's commands: import a register, see the groups, issue credentials."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from groups.db import create_engine, create_sessionmaker
from server import auth
from server.auth import Principal
from server.cli import app
from server.settings import get_settings

SAMPLE = Path(__file__).parent.parent / "groups" / "data" / "sample.csv"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("TENWATCH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_an_admin_imports_a_register_and_sees_its_groups_and_leaders(runner: CliRunner) -> None:
    imported = runner.invoke(app, ["import", str(SAMPLE), "--community", "丰乐社区"])
    assert imported.exit_code == 0, imported.output
    listed = runner.invoke(app, ["groups", "--community", "丰乐社区"])
    assert listed.exit_code == 0, listed.output
    assert "B2-1-101" in listed.output
    assert "#1" in listed.output


def test_a_bad_register_is_refused_whole_with_row_numbers(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "address,name,phone,grid,roles\n"
        "B11-1-301,张三,+8613800000001,网格1,\n"
        "B11-1-302,李四,13800000002,网格1,\n"
        "B11-1-3O3,王五,+8613800000003,网格1,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", str(bad), "--community", "丰乐社区"])
    assert result.exit_code == 1
    assert "row 3" in result.output
    assert "row 4" in result.output
    assert "nothing was imported" in result.output
    listed = runner.invoke(app, ["groups", "--community", "丰乐社区"])
    assert listed.exit_code != 0  # not even the community was created


def test_an_admin_issues_a_resident_credential_that_the_service_accepts(
    runner: CliRunner,
) -> None:
    runner.invoke(app, ["import", str(SAMPLE), "--community", "丰乐社区"])
    result = runner.invoke(app, ["token", "resident", "B2-1-101", "--community", "丰乐社区"])
    assert result.exit_code == 0, result.output
    principal = asyncio.run(who(result.output.strip()))
    assert principal is not None
    assert principal.address == "B2-1-101"
    unknown = runner.invoke(app, ["token", "resident", "B99-1-101", "--community", "丰乐社区"])
    assert unknown.exit_code == 1
    assert "no resident at B99-1-101" in unknown.output


async def who(token: str) -> Principal | None:
    engine = create_engine(get_settings().database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await auth.authenticate(session, token)
    finally:
        await engine.dispose()


def test_an_admin_registers_a_patrol_member_who_can_then_watch_the_board(
    runner: CliRunner,
) -> None:
    added = runner.invoke(
        app, ["staff", "巡逻队员 周强", "+8613900000099", "--community", "丰乐社区"]
    )
    assert added.exit_code == 0, added.output
    issued = runner.invoke(app, ["token", "staff", "+8613900000099", "--community", "丰乐社区"])
    principal = asyncio.run(who(issued.output.strip()))
    assert principal is not None
    assert principal.channel.startswith("board:")
    bad = runner.invoke(
        app, ["staff", "X", "+8613900000098", "--role", "mayor", "--community", "丰乐社区"]
    )
    assert bad.exit_code == 1
    assert "role" in bad.output
