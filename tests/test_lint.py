"""The checks CI holds the code to, run as tests so README's one test command runs them:
ruff (lint and format), mypy (strict) and a syntax check of the pages' modules."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "server" / "web" / "static"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing_and_the_code_is_formatted() -> None:
    checked = run(sys.executable, "-m", "ruff", "check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_mypy_strict_finds_nothing() -> None:
    typed = run(sys.executable, "-m", "mypy")  # the packages pyproject names
    assert typed.returncode == 0, typed.stdout + typed.stderr


@pytest.mark.parametrize(
    "module",
    sorted([*STATIC.glob("js/*.js"), STATIC / "sw.js"]),
    ids=lambda path: path.name,
)
def test_each_page_module_parses(module: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "the pages' modules are checked with Node.js: install nodejs"
    copy = tmp_path / f"{module.stem}.mjs"  # .mjs: parsed as a module by every Node version
    copy.write_bytes(module.read_bytes())
    parsed = run(node, "--check", str(copy))
    assert parsed.returncode == 0, parsed.stderr
