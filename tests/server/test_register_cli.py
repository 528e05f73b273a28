"""`tenwatch import` given a file that is not the register's CSV: one clear line, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.cli import app
from tests.server.conftest import SAMPLE


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (SAMPLE.read_text(encoding="utf-8-sig").encode("utf-16"), "UTF-16"),
        (bytes(range(256)) * 4, "binary"),
        (b"address,name,phone,grid,roles\nB2-1-101,\xc3\x28,,,\n", "not UTF-8"),
        (b"address,name,phone,grid,roles\nB2-1-101," + b"y" * (1 << 20) + b"\n", "longer than"),
    ],
)
def test_a_file_that_is_not_the_registers_csv_gets_one_clear_line_and_exit_1(
    runner: CliRunner, tmp_path: Path, data: bytes, says: str
) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes(data)
    result = runner.invoke(app, ["import", str(path), "--community", "丰乐社区"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())  # the console wraps long lines
    assert says in said
    assert "nothing was imported" in said
    assert "Traceback" not in result.output


def test_an_import_that_leaves_a_small_group_says_so(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    rows = [f"B2-1-{f}0{d},住户{f}{d},,," for f in (1, 2, 3) for d in (1, 2)]
    path.write_text("address,name,phone,grid,roles\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--community", "丰乐社区"])
    assert result.exit_code == 0, result.output
    assert "group B2-1 #1 now has 6 households, below 8" in " ".join(result.output.split())
