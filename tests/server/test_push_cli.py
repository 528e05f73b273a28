"""`tenwatch vapid` prints a key pair that the settings take and push signs with."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from server.cli import app
from server.settings import Settings


def test_vapid_prints_a_fresh_key_pair_the_settings_accept(runner: CliRunner) -> None:
    first = runner.invoke(app, ["vapid"])
    second = runner.invoke(app, ["vapid"])
    assert first.exit_code == 0, first.output
    lines = dict(line.split("=", 1) for line in first.output.strip().splitlines())
    assert set(lines) == {
        "TENWATCH_VAPID_PRIVATE_KEY",
        "TENWATCH_VAPID_PUBLIC_KEY",
        "TENWATCH_VAPID_SUBJECT",
    }
    assert lines["TENWATCH_VAPID_PRIVATE_KEY"] not in second.output
    settings = Settings(
        vapid_private_key=lines["TENWATCH_VAPID_PRIVATE_KEY"],
        vapid_public_key=lines["TENWATCH_VAPID_PUBLIC_KEY"],
        vapid_subject=lines["TENWATCH_VAPID_SUBJECT"],
    )
    assert settings.push_url == "webpush://"
    other = second.output.split("TENWATCH_VAPID_PUBLIC_KEY=")[1].split()[0]
    with pytest.raises(ValueError, match="not the private key's public key"):
        Settings(
            vapid_private_key=lines["TENWATCH_VAPID_PRIVATE_KEY"],
            vapid_public_key=other,
            vapid_subject="mailto:office@example.org",
        )
