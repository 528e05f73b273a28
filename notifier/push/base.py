"""The push sender interface: `push` one encrypted message to a subscription, `close`."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass

from notifier.sms.base import Sender, SendError, SendResult

GONE = frozenset({404, 410})
"""What a push service answers for a subscription that no longer exists."""


SECRETS = ("answer_token",)
"""Fields of a push's payload that answer for someone (a notification's action answers the
alarm with it): needed until the push has gone, then dropped from the stored job."""


def without_secrets(payload: str) -> str | None:
    """The payload with its SECRETS removed, or None when it holds none (or isn't JSON)."""
    try:
        shown = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(shown, dict) or not any(shown.get(key) for key in SECRETS):
        return None
    for key in SECRETS:
        shown.pop(key, None)
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where a push goes and the browser's keys to encrypt it with."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


class PushGone(SendError):
    """The push service says this subscription is gone (404, 410): forget it."""


def refusal(status: int, reason: str) -> SendError:
    """The error for a push service's answer `status` (not 2xx)."""
    message = f"push service answered {status} {reason}".strip()
    if status in GONE:
        return PushGone(message, transient=False, code=str(status), status=status)
    transient = status == 429 or status >= 500
    return SendError(message, transient=transient, code=str(status), status=status)


class PushSender(Sender):
    """A backend that delivers Web Push messages; chosen by URL with `create_push_sender`."""

    public_key: str | None = None
    """The application server key (base64url, uncompressed P-256 point) browsers subscribe
    with; None when this sender pushes nowhere real."""

    @abc.abstractmethod
    async def push(
        self,
        subscription: Subscription,
        *,
        payload: str,
        ttl: int,
        urgency: str = "high",
        topic: str | None = None,
    ) -> SendResult:
        """Deliver one message to the subscription's push service; raise `SendError` (`PushGone`
        for a subscription that is gone) if it is not taken."""
