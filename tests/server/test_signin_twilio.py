"""Signing in through Twilio Verify: the real twilio library (`verify.v2`) against the fake's
Verify, which makes, texts and checks the code as Twilio does."""

from __future__ import annotations

import pytest

from server.settings import Settings
from tests.fake_twilio import FakeTwilio
from tests.fake_verify import SERVICE_SID
from tests.harness import Seed, running
from tests.server.phone_support import phone_settings
from tests.server.signin_support import Browser

RESIDENT = "+8613800000001"
UNKNOWN = "+8613700000000"


@pytest.fixture
def verify_settings(sqlite_url: str, fake_twilio: FakeTwilio) -> Settings:
    # Served over plain http here: a public https URL would make the cookie Secure (not sent).
    return phone_settings(
        sqlite_url,
        fake_twilio,
        twilio_verify_service_sid=SERVICE_SID,
        public_base_url="http://127.0.0.1",
    )


async def test_a_resident_signs_in_with_the_code_twilio_verify_texted(
    verify_settings: Settings, seeded: Seed, fake_twilio: FakeTwilio
) -> None:
    async with running(verify_settings) as base, Browser(base) as browser:
        assert (await browser.ask_code(RESIDENT)).status_code == 202
        code = fake_twilio.verify.code_for(RESIDENT)
        signed = await browser.verify(RESIDENT, code)
        assert signed.status_code == 200, signed.text
        assert signed.json()["household"] == "B11-1-101"
        assert (await browser.get("/api/me")).status_code == 200
    assert fake_twilio.verify.checks == [(RESIDENT, code, "approved")]
    assert fake_twilio.messages == []  # Verify texted the code, not the Messages API
    [created] = [r for r in fake_twilio.requests if r["path"].endswith("/Verifications")]
    assert created["form"] == {"To": RESIDENT, "Channel": "sms", "Locale": "zh"}


async def test_a_wrong_code_is_refused_by_verify_and_an_unknown_number_is_never_sent_one(
    verify_settings: Settings, seeded: Seed, fake_twilio: FakeTwilio
) -> None:
    async with running(verify_settings) as base, Browser(base) as browser:
        assert (await browser.ask_code(UNKNOWN)).status_code == 202
        assert (await browser.ask_code(RESIDENT)).status_code == 202
        good = fake_twilio.verify.code_for(RESIDENT)
        bad = f"{(int(good) + 1) % 1_000_000:06d}"
        assert (await browser.verify(RESIDENT, bad)).status_code == 401
        assert (await browser.verify(UNKNOWN, bad)).status_code == 401
        assert (await browser.verify(RESIDENT, good)).status_code == 200
    assert [to for to, _ in fake_twilio.verify.codes] == [RESIDENT]
    assert [status for _, _, status in fake_twilio.verify.checks] == ["pending", "approved"]


async def test_verify_away_is_a_clear_503_and_the_code_can_be_asked_again(
    verify_settings: Settings, seeded: Seed, fake_twilio: FakeTwilio
) -> None:
    async with running(verify_settings) as base, Browser(base) as browser:
        fake_twilio.fail_next(status=503)
        away = await browser.ask_code(RESIDENT)
        assert away.status_code == 503
        assert "try again" in away.json()["detail"]
        assert (await browser.ask_code(RESIDENT)).status_code == 202
        signed = await browser.verify(RESIDENT, fake_twilio.verify.code_for(RESIDENT))
        assert signed.status_code == 200
