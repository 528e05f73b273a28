"""Web Push through the push services themselves: the payload encrypted (aes128gcm, RFC 8291)
by `pywebpush`, the request signed with our VAPID key (RFC 8292) by `py_vapid`, sent on one
aiohttp session."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPusher

from notifier.push.base import PushSender, Subscription, refusal
from notifier.sms.base import SendError, SendResult

DEFAULT_TIMEOUT = 10.0
CLAIM_SECONDS = 12 * 3600
"""How long one VAPID signature is valid (push services refuse more than 24 hours)."""


def load_key(private_key: str) -> Any:
    """A VAPID key from PEM, or from base64url (32 raw bytes, or DER)."""
    text = private_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            return Vapid.from_pem(text.encode())
        return Vapid.from_string(text)
    except Exception as exc:  # py_vapid raises what its parsers raise
        raise ValueError("the VAPID private key is neither PEM nor base64url") from exc


def public_key_of(private_key: str) -> str:
    """The application server key of a VAPID private key: base64url, unpadded, 65 bytes."""
    raw = load_key(private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_keys() -> tuple[str, str]:
    """A fresh VAPID key pair: the private key (base64url raw) and the public one."""
    vapid = Vapid()
    vapid.generate_keys()
    number = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    private = base64.urlsafe_b64encode(number).rstrip(b"=").decode("ascii")
    return private, public_key_of(private)


class WebPushSender(PushSender):
    """Pushes with `Urgency`, `TTL` and `Topic` headers; an endpoint must be https (http only
    when `allow_http`, for a test's local push service)."""

    def __init__(
        self,
        private_key: str,
        *,
        subject: str,
        allow_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not subject.startswith(("mailto:", "https:")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        self._vapid = load_key(private_key)
        self.public_key = public_key_of(private_key)
        self._subject = subject
        self._allow_http = allow_http
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("WebPushSender is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    def _headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "sub": self._subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + CLAIM_SECONDS,
        }
        signed: dict[str, str] = self._vapid.sign(claims)
        return signed

    async def push(
        self,
        subscription: Subscription,
        *,
        payload: str,
        ttl: int,
        urgency: str = "high",
        topic: str | None = None,
    ) -> SendResult:
        """Encrypt the payload for the subscription and POST it to its push service."""
        scheme = urlsplit(subscription.endpoint).scheme
        if scheme != "https" and not (scheme == "http" and self._allow_http):
            raise SendError("a push endpoint must be https", transient=False, code="endpoint")
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            body = WebPusher(info).encode(payload.encode(), "aes128gcm")["body"]
        except Exception as exc:  # a browser's keys we cannot encrypt to
            raise SendError(f"cannot encrypt to this subscription: {exc}", transient=False) from exc
        headers = {
            **self._headers(subscription.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(ttl, 0)),
            "Urgency": urgency,
        }
        if topic is not None:
            headers["Topic"] = topic
        try:
            async with self._client().post(
                subscription.endpoint, data=body, headers=headers, allow_redirects=False
            ) as answer:
                await answer.read()
                if answer.status >= 300:
                    raise refusal(answer.status, answer.reason or "")
                sid = answer.headers.get("Location", "") or f"push-{answer.status}"
                return SendResult(sid=sid[-64:], status=str(answer.status), fresh=True)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(
                f"push service unreachable: {type(exc).__name__}", transient=True, maybe_sent=True
            ) from exc

    async def close(self) -> None:
        """Close the HTTP session."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
