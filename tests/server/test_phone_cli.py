"""The admin wires alarm numbers: a group's, or the whole community's."""

from __future__ import annotations

from typer.testing import CliRunner

from server.cli import app
from tests.server.conftest import SAMPLE


def test_an_admin_adds_a_group_number_and_a_community_number_and_lists_them(
    runner: CliRunner,
) -> None:
    runner.invoke(app, ["import", str(SAMPLE), "--community", "丰乐社区"])
    group = runner.invoke(
        app,
        ["number", "add", "+86 10 1100 0001", "--household", "B2-1-101", "--community", "丰乐社区"],
    )
    assert group.exit_code == 0, group.output
    assert "the group of B2-1-101" in group.output
    whole = runner.invoke(app, ["number", "add", "+861011000002", "--community", "丰乐社区"])
    assert whole.exit_code == 0, whole.output

    listed = runner.invoke(app, ["number", "list", "--community", "丰乐社区"])
    assert listed.exit_code == 0, listed.output
    assert "+861011000001" in listed.output
    assert "+861011000002" in listed.output
    assert "(whole community)" in listed.output

    again = runner.invoke(app, ["number", "add", "+861011000002", "--community", "丰乐社区"])
    assert again.exit_code == 1
    assert "already an alarm number" in again.output
    bad = runner.invoke(app, ["number", "add", "01011000003", "--community", "丰乐社区"])
    assert bad.exit_code == 1
    nowhere = runner.invoke(
        app,
        ["number", "add", "+861011000004", "--household", "B99-1-101", "--community", "丰乐社区"],
    )
    assert nowhere.exit_code == 1
    assert "no household B99-1-101" in nowhere.output
