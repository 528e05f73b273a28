"""The admin's commands: import a register, see the groups, issue credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from server import accounts
from server.accounts import Principal
from server.cli import app, uvicorn_options
from server.settings import Settings, get_settings
from storage.db import create_engine, create_sessionmaker
from tests.server.conftest import SAMPLE


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
            return await accounts.authenticate(session, token)
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


def test_an_admin_sets_pins_the_roster_and_the_policy_from_the_command_line(
    runner: CliRunner,
) -> None:
    community = ["--community", "丰乐社区"]
    assert runner.invoke(app, ["import", str(SAMPLE), *community]).exit_code == 0

    pinned = runner.invoke(
        app, ["pin", "B2-1-101", "--pin", "2468", "--duress", "1357", *community]
    )
    assert pinned.exit_code == 0, pinned.output
    same = runner.invoke(app, ["pin", "B2-1-101", "--pin", "2468", "--duress", "2468", *community])
    assert same.exit_code == 1
    assert "must differ" in same.output
    short = runner.invoke(app, ["pin", "B2-1-101", "--pin", "12", "--duress", "1357", *community])
    assert short.exit_code == 1
    assert "4 to 8 digits" in short.output

    shift = runner.invoke(
        app,
        ["duty", "shift", "+8613900000002", "--days", "daily", "--from", "00:00", "--to", "00:00"],
    )
    assert shift.exit_code == 1  # the default community does not exist
    around_the_clock = runner.invoke(
        app,
        [
            "duty",
            "shift",
            "+8613900000002",
            "--days",
            "daily",
            "--from",
            "06:00",
            "--to",
            "06:00",
            *community,
        ],
    )
    assert around_the_clock.exit_code == 1
    assert "differ" in around_the_clock.output
    day_and_night = [
        ["--from", "06:00", "--to", "18:00"],
        ["--from", "18:00", "--to", "06:00"],
    ]
    for hours in day_and_night:
        done = runner.invoke(
            app, ["duty", "shift", "+8613900000002", "--days", "daily", *hours, *community]
        )
        assert done.exit_code == 0, done.output
    on_duty = runner.invoke(app, ["duty", "now", *community])
    assert "钱巡逻" in on_duty.output
    assert "赵队长" not in on_duty.output

    shown = runner.invoke(app, ["policy", *community])
    assert "quorum_seconds" in shown.output
    assert "45" in shown.output
    changed = runner.invoke(app, ["policy", "quorum=3", "patrol_seconds=60", *community])
    assert changed.exit_code == 0, changed.output
    assert "60" in changed.output
    wrong = runner.invoke(app, ["policy", "speed=3", *community])
    assert wrong.exit_code == 1
    assert "unknown policy fields: speed" in wrong.output


def test_serve_gives_uvicorn_the_sockets_bounds_from_the_settings() -> None:
    options = uvicorn_options(Settings(ws_ping_seconds=30, ws_max_message_bytes=1024))
    assert options["ws"] == "websockets-sansio"
    assert options["ws_per_message_deflate"] is False
    assert options["ws_max_size"] == 1024
    assert options["ws_ping_interval"] == options["ws_ping_timeout"] == 30
    quiet = uvicorn_options(Settings(ws_ping_seconds=0))
    assert quiet["ws_ping_interval"] is None
    assert quiet["ws_ping_timeout"] is None
    assert options["timeout_graceful_shutdown"] == 20.0  # requests in flight, at a stop
    assert (
        uvicorn_options(Settings(graceful_shutdown_seconds=0))["timeout_graceful_shutdown"] is None
    )


def test_serve_refuses_several_workers_without_a_shared_bus(runner: CliRunner) -> None:
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "TENWATCH_REDIS_URL" in result.output
