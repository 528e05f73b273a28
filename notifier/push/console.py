"""The embedded default: no VAPID keys, so pushes are printed (never their answer token)."""

from __future__ import annotations

import json
import sys
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from notifier.push.base import PushSender, Subscription
from notifier.sms.base import SendResult


@dataclass(frozen=True, slots=True)
class ConsolePush:
    """One push the console sender printed."""

    sid: str
    subscription_id: int
    payload: str
    ttl: int
    urgency: str


class ConsolePushSender(PushSender):
    """Prints each push as one line ("PUSH → subscription 3: alert 12 · title: body")."""

    def __init__(self, *, keep: int = 100, stream: TextIO | None = None) -> None:
        self.pushes: deque[ConsolePush] = deque(maxlen=keep)
        self._stream = stream

    async def push(
        self,
        subscription: Subscription,
        *,
        payload: str,
        ttl: int,
        urgency: str = "high",
        topic: str | None = None,
    ) -> SendResult:
        """Print what would be pushed (its type, title and body) and answer "sent"."""
        sid = f"CONSOLE-{uuid.uuid4().hex}"
        try:
            shown = json.loads(payload)
            line = f"{shown.get('type')} {shown.get('alert_id')} · {shown.get('title')}: "
            line += " ".join(str(shown.get("body", "")).split())
        except (ValueError, AttributeError):
            line = "(not JSON)"
        print(f"PUSH → subscription {subscription.id}: {line}", file=self._stream or sys.stdout)
        self.pushes.append(
            ConsolePush(
                sid=sid, subscription_id=subscription.id, payload=payload, ttl=ttl, urgency=urgency
            )
        )
        return SendResult(sid=sid, status="sent", fresh=True)

    async def close(self) -> None:
        """Nothing to release."""
