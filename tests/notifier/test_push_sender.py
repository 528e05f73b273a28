"""The Web Push sender, with the real pywebpush, against the local push-service stand-in."""

from __future__ import annotations

import json

import pytest

from notifier.push import PushGone, Subscription, create_push_sender
from notifier.push.webpush import WebPushSender, new_keys, public_key_of
from notifier.sms.base import SendError
from tests.fake_push import FakePush

SUBJECT = "mailto:office@example.org"


def _subscription(fake: FakePush, id_: int = 1) -> Subscription:
    browser = fake.subscribe()
    return Subscription(
        id=id_,
        endpoint=browser["endpoint"],
        p256dh=browser["keys"]["p256dh"],
        auth=browser["keys"]["auth"],
    )


async def test_a_push_is_signed_with_our_key_and_decrypts_to_its_payload() -> None:
    private, public = new_keys()
    with FakePush() as fake:
        to = _subscription(fake)
        async with WebPushSender(private, subject=SUBJECT, allow_http=True) as sender:
            assert sender.public_key == public == public_key_of(private)
            result = await sender.push(to, payload=json.dumps({"type": "alert"}), ttl=1800)
    assert result.status == "201"
    assert result.fresh
    assert fake.refused == []
    (got,) = fake.to(to.endpoint)
    assert got.payload == {"type": "alert"}
    assert got.headers["urgency"] == "high"
    assert got.headers["ttl"] == "1800"
    assert got.claims["sub"] == SUBJECT
    assert got.claims["aud"] == fake.url
    assert got.headers["authorization"].endswith(f"k={public}")


async def test_a_gone_subscription_is_told_apart_from_a_service_that_is_down() -> None:
    private, _ = new_keys()
    with FakePush() as fake:
        to = _subscription(fake)
        async with WebPushSender(private, subject=SUBJECT, allow_http=True) as sender:
            fake.fail_next(503)
            with pytest.raises(SendError) as down:
                await sender.push(to, payload="{}", ttl=60)
            fake.gone(to.endpoint)
            with pytest.raises(PushGone) as gone:
                await sender.push(to, payload="{}", ttl=60)
    assert down.value.transient
    assert down.value.code == "503"
    assert not isinstance(down.value, PushGone)
    assert not gone.value.transient
    assert gone.value.code == "410"


async def test_an_http_endpoint_is_refused_unless_allowed() -> None:
    private, _ = new_keys()
    with FakePush() as fake:
        to = _subscription(fake)
        async with WebPushSender(private, subject=SUBJECT) as sender:
            with pytest.raises(SendError, match="https"):
                await sender.push(to, payload="{}", ttl=60)
    assert fake.received == []


async def test_a_pem_key_signs_as_its_raw_form_does() -> None:
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    pem = vapid.private_pem().decode()
    assert public_key_of(pem) == WebPushSender(pem, subject=SUBJECT).public_key
    with pytest.raises(ValueError, match="subject"):
        WebPushSender(pem, subject="office@example.org")


def test_the_url_chooses_the_backend() -> None:
    assert create_push_sender("console://").public_key is None
    private, public = new_keys()
    pushed = create_push_sender("webpush://", private_key=private, subject=SUBJECT)
    assert pushed.public_key == public
    with pytest.raises(ValueError, match="needs the VAPID"):
        create_push_sender("webpush://")
    with pytest.raises(ValueError, match="scheme"):
        create_push_sender("fcm://")
