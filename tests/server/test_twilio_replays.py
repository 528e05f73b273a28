"""Twilio's webhooks hold against a replay and a bad body: a call-out answers once however often
its signed request comes back, and a form that is not UTF-8 is refused with a clear 4xx (403
unsigned, 400 signed) after its signature is checked, never a 500."""

from __future__ import annotations

import asyncio
import base64
import hmac
from hashlib import sha1
from urllib.parse import quote_from_bytes

import httpx
import pytest

from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, call, poll_until, press, stream
from tests.server.phone_support import FROM, PUBLIC, phone_settings, serving
from tests.server.test_phone_calls import gather_action
from tests.server.test_phone_outbox import _queue_call


async def test_a_replayed_callout_answer_does_not_overwrite_the_neighbours_later_answer(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio
) -> None:
    raiser, neighbour = "B11-1-101", "B11-1-102"
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        stream(base, seeded.households[raiser]) as group,
    ):
        alert_id = (await press(base, seeded.households[raiser])).json()["alert"]["id"]
        await group.next_event()
        await _queue_call(
            sqlite_url, community_id=seeded.community_id, alert_id=alert_id, to_address=neighbour
        )
        await poll_until(lambda: asyncio.sleep(0, result=len(fake_twilio.calls) == 1))
        [placed] = fake_twilio.calls
        pressed_1 = {"CallSid": placed["sid"], "From": FROM, "To": placed["to"], "Digits": "1"}
        action = gather_action(placed["twiml"])
        said = await fake_twilio.webhook(action, pressed_1)
        assert "谢谢" in said.text
        await group.events_until(lambda ev: ev[-1]["type"] == "alert.response")

        later = await call(
            base,
            seeded.households[neighbour],
            "POST",
            f"/api/alerts/{alert_id}/responses",
            json={"answer": "cant"},
        )
        assert later.status_code == 200, later.text
        await group.events_until(lambda ev: ev[-1]["data"].get("answer") == "cant")

        replayed = await fake_twilio.webhook(action, pressed_1)  # the same signed request
        assert (replayed.status_code, replayed.text) == (200, said.text)
        assert await group.silent()
        detail = (
            await call(base, seeded.households[raiser], "GET", f"/api/alerts/{alert_id}")
        ).json()
    assert [(r["household"], r["answer"]) for r in detail["responses"]] == [(neighbour, "cant")]
    assert detail["coming"] == 0


FIELDS = [
    (b"CallSid", b"CA9"),
    (b"MessageSid", b"SM9"),
    (b"From", b"+8613999999999"),
    (b"To", b"+8610110000001"),
    (b"Body", b"\xff\xfe"),  # not UTF-8
]
"""A webhook's form whose text is not UTF-8."""
WEBHOOKS = [
    "/twilio/voice",
    "/twilio/voice/menu",
    "/twilio/voice/status",
    "/twilio/sms",
    "/twilio/status?job=1",
    "/twilio/voice/answer?job=1",
]


def _body(*, escaped: bool) -> bytes:
    """FIELDS as a form body: its bytes percent-escaped, or sent raw (`+` always escaped)."""
    return b"&".join(
        name + b"=" + (quote_from_bytes(value).encode() if escaped else value.replace(b"+", b"%2B"))
        for name, value in FIELDS
    )


def _sign(token: str, url: str) -> str:
    """Twilio's signature of FIELDS (its algorithm on the form's bytes; the library only takes
    text): the URL, then each name and value sorted by name, HMAC-SHA1, base64."""
    data = url.encode() + b"".join(name + value for name, value in sorted(FIELDS))
    return base64.b64encode(hmac.new(token.encode(), data, sha1).digest()).decode()


@pytest.mark.parametrize("escaped", [False, True], ids=["raw-bytes", "percent-escaped"])
async def test_a_webhook_body_that_is_not_utf8_is_refused_after_its_signature_never_a_500(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, escaped: bool
) -> None:
    body = _body(escaped=escaped)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with (
        serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        for path in WEBHOOKS:
            unsigned = await client.post(path, content=body, headers=form)
            forged = await client.post(
                path, content=body, headers=form | {"X-Twilio-Signature": "bm9wZQ=="}
            )
            signature = _sign(fake_twilio.auth_token, PUBLIC + path)
            signed = await client.post(
                path, content=body, headers=form | {"X-Twilio-Signature": signature}
            )
            assert (unsigned.status_code, forged.status_code) == (403, 403), path
            assert signed.status_code == 400, (path, signed.text)
            assert "UTF-8" in signed.json()["detail"]
