"""`tenwatch token` for integrations: tokens that end, listed without their secrets, revoked."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from typer.testing import CliRunner

from server.cli import app
from storage.db import utcnow
from tests.server.conftest import SAMPLE
from tests.server.test_cli import who

COMMUNITY = ["--community", "丰乐社区"]


def test_a_token_ends_after_its_days_unless_told_otherwise(runner: CliRunner) -> None:
    runner.invoke(app, ["import", str(SAMPLE), *COMMUNITY])
    default = runner.invoke(app, ["token", "resident", "B2-1-101", *COMMUNITY])
    lasting = runner.invoke(app, ["token", "resident", "B2-1-101", "--days", "0", *COMMUNITY])
    short = runner.invoke(app, ["token", "resident", "B2-1-101", "--days", "2", *COMMUNITY])
    year = asyncio.run(who(default.output.strip()))
    assert year is not None
    assert year.expires_at is not None
    assert abs(year.expires_at - (utcnow() + timedelta(days=365))) < timedelta(minutes=1)
    forever = asyncio.run(who(lasting.output.strip()))
    assert forever is not None
    assert forever.expires_at is None
    two = asyncio.run(who(short.output.strip()))
    assert two is not None
    assert two.expires_at is not None
    assert two.expires_at - utcnow() < timedelta(days=2, minutes=1)


def test_tokens_are_listed_without_their_secrets_and_a_revoked_one_works_no_more(
    runner: CliRunner,
) -> None:
    runner.invoke(app, ["import", str(SAMPLE), *COMMUNITY])
    issued = runner.invoke(
        app, ["token", "resident", "B2-1-101", "--label", "wall screen", *COMMUNITY]
    )
    token = issued.output.strip()
    listed = runner.invoke(app, ["token", "list", *COMMUNITY])
    assert listed.exit_code == 0, listed.output
    assert "wall screen" in listed.output
    assert token not in listed.output
    assert token[3:12] not in listed.output
    principal = asyncio.run(who(token))
    assert principal is not None
    revoked = runner.invoke(app, ["token", "revoke", str(principal.credential_id)])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(who(token)) is None
    again = runner.invoke(app, ["token", "revoke", str(principal.credential_id)])
    assert again.exit_code == 1
    assert "no token or session" in again.output
