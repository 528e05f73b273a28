"""SMS senders: the real twilio library talking to a local fake Twilio, and the console sender."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from notifier.sms import ConsoleSender, SendError, SmsSender, create_sender
from notifier.sms.twilio import TwilioSender, create_twilio_client
from tests.fake_twilio import FakeTwilio

FROM = "+15005550006"
NEIGHBOUR = "+8613800000001"
ALARM = "B11-1-301 求助 / needs help — 请速来"


@pytest.fixture
async def sender(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioSender]:
    """A Twilio sender with a From number, pointed at the fake."""
    sender = TwilioSender(
        fake_twilio.account_sid, fake_twilio.auth_token, from_=FROM, api_url=fake_twilio.url
    )
    yield sender
    await sender.close()


async def test_a_neighbour_is_texted_through_twilio(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    result = await sender.send(
        to=NEIGHBOUR, body=ALARM, status_callback="http://tenwatch.test/twilio/sms-status"
    )

    [message] = fake_twilio.messages
    assert message["to"] == NEIGHBOUR
    assert message["from"] == FROM
    assert message["body"] == ALARM
    assert message["status_callback"] == "http://tenwatch.test/twilio/sms-status"
    assert result.sid == message["sid"]
    assert result.sid.startswith("SM")
    assert len(result.sid) == 34
    assert result.status == "queued"
    [request] = fake_twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request["status"] == 201


async def test_a_messaging_service_sends_without_a_from_number(
    fake_twilio: FakeTwilio,
) -> None:
    service = "MG" + "ab" * 16
    async with TwilioSender(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        messaging_service_sid=service,
        api_url=fake_twilio.url,
    ) as sender:
        result = await sender.send(to=NEIGHBOUR, body=ALARM)

    [message] = fake_twilio.messages
    assert message["messaging_service_sid"] == service
    assert message["from"] is None
    assert "StatusCallback" not in message["form"]
    assert result.sid == message["sid"]
    assert result.status == "accepted"


async def test_concurrent_sends_share_one_client(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    numbers = [f"+86138000000{i:02d}" for i in range(10)]
    results = await asyncio.gather(*(sender.send(to=n, body=ALARM) for n in numbers))

    assert sorted(m["to"] for m in fake_twilio.messages) == numbers
    assert len({r.sid for r in results}) == 10


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_twilio_outage_or_rate_limit_is_worth_retrying(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
    status: int,
) -> None:
    fake_twilio.fail_next(status=status)

    with pytest.raises(SendError) as caught:
        await sender.send(to=NEIGHBOUR, body=ALARM)

    assert caught.value.transient is True
    assert caught.value.status == status
    assert fake_twilio.messages == []
    # The next try goes through.
    result = await sender.send(to=NEIGHBOUR, body=ALARM)
    assert result.sid == fake_twilio.messages[0]["sid"]


async def test_an_invalid_number_is_a_permanent_failure_with_twilios_code(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.fail_next(
        status=400, code=21211, message="The 'To' number 12345 is not a valid phone number."
    )

    with pytest.raises(SendError) as caught:
        await sender.send(to="12345", body=ALARM)

    assert caught.value.transient is False
    assert caught.value.code == "21211"
    assert caught.value.status == 400
    assert "not a valid phone number" in str(caught.value)


async def test_an_unsubscribed_neighbour_is_a_permanent_failure(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.fail_next(
        status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )

    with pytest.raises(SendError) as caught:
        await sender.send(to=NEIGHBOUR, body=ALARM)

    assert (caught.value.transient, caught.value.code) == (False, "21610")


async def test_a_wrong_auth_token_is_refused_and_not_retried(
    fake_twilio: FakeTwilio,
) -> None:
    async with TwilioSender(
        fake_twilio.account_sid, "not-the-token", from_=FROM, api_url=fake_twilio.url
    ) as sender:
        with pytest.raises(SendError) as caught:
            await sender.send(to=NEIGHBOUR, body=ALARM)

    assert (caught.value.status, caught.value.code, caught.value.transient) == (401, "20003", False)
    assert fake_twilio.messages == []


async def test_the_fake_checks_basic_auth_like_twilio(
    fake_twilio: FakeTwilio,
) -> None:
    url = f"{fake_twilio.url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    form = {"To": NEIGHBOUR, "From": FROM, "Body": "hi"}
    token = base64.b64encode(f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode())
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=form) as anonymous:
            assert anonymous.status == 401
            assert (await anonymous.json())["code"] == 20003
        headers = {"Authorization": f"Basic {token.decode()}"}
        async with session.post(url, data=form, headers=headers) as answer:
            assert answer.status == 201
            assert (await answer.json())["sid"] == fake_twilio.messages[0]["sid"]


async def test_a_call_is_recorded_by_the_fake(
    fake_twilio: FakeTwilio,
) -> None:
    client = create_twilio_client(
        fake_twilio.account_sid, fake_twilio.auth_token, api_url=fake_twilio.url
    )
    try:
        call = await client.calls.create_async(
            to=NEIGHBOUR, from_=FROM, twiml="<Response><Say>求助</Say></Response>"
        )
    finally:
        await client.http_client.close()

    [recorded] = fake_twilio.calls
    assert call.sid == recorded["sid"]
    assert call.sid.startswith("CA")
    assert (recorded["to"], recorded["from"]) == (NEIGHBOUR, FROM)
    assert recorded["twiml"] == "<Response><Say>求助</Say></Response>"


async def test_twilio_not_listening_is_worth_retrying() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with TwilioSender(
        "AC" + "0" * 32, "token", from_=FROM, api_url=f"http://127.0.0.1:{port}"
    ) as sender:
        with pytest.raises(SendError) as caught:
            await sender.send(to=NEIGHBOUR, body=ALARM)

    assert caught.value.transient is True
    assert caught.value.status is None


async def test_a_dropped_connection_is_worth_retrying(
    sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.drop_next()

    with pytest.raises(SendError) as caught:
        await sender.send(to=NEIGHBOUR, body=ALARM)

    assert caught.value.transient is True


async def test_a_twilio_that_hangs_times_out_and_is_worth_retrying(
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.delay_next(5)
    async with TwilioSender(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        from_=FROM,
        api_url=fake_twilio.url,
        timeout=0.2,
    ) as sender:
        with pytest.raises(SendError) as caught:
            await sender.send(to=NEIGHBOUR, body=ALARM)

    assert caught.value.transient is True
    assert "did not answer" in str(caught.value)


async def test_a_closed_twilio_sender_refuses_to_send(sender: TwilioSender) -> None:
    await sender.close()
    await sender.close()  # twice is fine

    with pytest.raises(RuntimeError):
        await sender.send(to=NEIGHBOUR, body=ALARM)


async def test_the_console_sender_prints_one_line_and_returns_a_sid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sender = ConsoleSender()

    result = await sender.send(to=NEIGHBOUR, body="B11-1-301 求助\n请速来")

    assert capsys.readouterr().out == f"SMS → {NEIGHBOUR}: B11-1-301 求助 请速来\n"
    assert result.sid.startswith("CONSOLE-")
    assert result.status == "sent"
    [kept] = sender.messages
    assert (kept.sid, kept.to, kept.body) == (result.sid, NEIGHBOUR, "B11-1-301 求助\n请速来")
    await sender.close()


async def test_the_console_sender_keeps_only_the_last_messages() -> None:
    sender = ConsoleSender(keep=3, stream=io.StringIO())

    for i in range(5):
        await sender.send(to=f"+8613800000{i:03d}", body=str(i))

    assert [m.body for m in sender.messages] == ["2", "3", "4"]


async def test_create_sender_picks_the_backend_by_url(
    fake_twilio: FakeTwilio,
) -> None:
    console = create_sender("console://", account_sid=None, auth_token=None, from_=FROM)
    assert isinstance(console, ConsoleSender)

    twilio: SmsSender = create_sender(
        "twilio://",
        account_sid=fake_twilio.account_sid,
        auth_token=fake_twilio.auth_token,
        from_=FROM,
        messaging_service_sid=None,
        api_url=fake_twilio.url,
    )
    async with twilio:
        assert isinstance(twilio, TwilioSender)
        result = await twilio.send(to=NEIGHBOUR, body=ALARM)
    assert result.sid == fake_twilio.messages[0]["sid"]


def test_create_sender_refuses_an_unknown_scheme() -> None:
    with pytest.raises(
        ValueError, match=r"unknown SMS sender URL 'smpp://.*console:// or twilio://"
    ):
        create_sender("smpp://gateway")


def test_create_sender_refuses_twilio_without_credentials_or_sender() -> None:
    with pytest.raises(ValueError, match="auth_token"):
        create_sender("twilio://", account_sid="AC" + "0" * 32, from_=FROM)
    with pytest.raises(ValueError, match="messaging service"):
        create_sender("twilio://", account_sid="AC" + "0" * 32, auth_token="t")


def test_create_sender_refuses_an_option_no_backend_takes() -> None:
    with pytest.raises(TypeError, match="frm"):
        create_sender("console://", frm=FROM)
