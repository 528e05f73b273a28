"""Web Push senders, chosen by URL: `console://` (no VAPID keys: printed) or `webpush://`."""

from __future__ import annotations

from urllib.parse import urlsplit

from notifier.push.base import GONE, PushGone, PushSender, Subscription
from notifier.push.console import ConsolePush, ConsolePushSender

__all__ = [
    "GONE",
    "ConsolePush",
    "ConsolePushSender",
    "PushGone",
    "PushSender",
    "Subscription",
    "create_push_sender",
]


def create_push_sender(
    url: str,
    *,
    private_key: str | None = None,
    subject: str | None = None,
    allow_http: bool = False,
) -> PushSender:
    """Build the push sender a URL names; `webpush://` needs the VAPID private key and
    subject."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "console":
        return ConsolePushSender()
    if scheme == "webpush":
        if not private_key or not subject:
            raise ValueError("webpush:// needs the VAPID private key and subject")
        from notifier.push.webpush import WebPushSender

        return WebPushSender(private_key, subject=subject, allow_http=allow_http)
    raise ValueError(
        f"unknown push sender URL {url!r}: the scheme must be console:// or webpush://"
    )
