"""The embedded default sender: texts and calls go to stdout, for development and one machine."""

from __future__ import annotations

import sys
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from notifier.sms.base import SendResult, SmsSender


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """One text (or call, whose body is its TwiML) the console sender printed."""

    sid: str
    to: str
    body: str
    status_callback: str | None
    channel: str = "sms"


class ConsoleSender(SmsSender):
    """Prints each text as one line ("SMS → +86…: body") and keeps the last few for inspection."""

    def __init__(self, *, keep: int = 100, stream: TextIO | None = None) -> None:
        self.messages: deque[ConsoleMessage] = deque(maxlen=keep)
        self.calls: deque[ConsoleMessage] = deque(maxlen=keep)
        self._stream = stream

    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        valid_for: int | None = None,
    ) -> SendResult:
        """Print the text and answer with a generated `CONSOLE-…` sid and status "sent"."""
        sid = f"CONSOLE-{uuid.uuid4().hex}"
        one_line = " ".join(body.split())
        print(f"SMS → {to}: {one_line}", file=self._stream or sys.stdout, flush=True)
        self.messages.append(
            ConsoleMessage(sid=sid, to=to, body=body, status_callback=status_callback)
        )
        return SendResult(sid=sid, status="sent", fresh=True)

    async def call(self, *, to: str, twiml: str, status_callback: str | None = None) -> SendResult:
        """Print the call's TwiML on one line and answer with a `CONSOLE-…` sid, "queued"."""
        sid = f"CONSOLE-{uuid.uuid4().hex}"
        print(f"CALL → {to}: {twiml}", file=self._stream or sys.stdout, flush=True)
        self.calls.append(
            ConsoleMessage(
                sid=sid, to=to, body=twiml, status_callback=status_callback, channel="voice"
            )
        )
        return SendResult(sid=sid, status="queued", fresh=True)

    async def close(self) -> None:
        """Nothing to release."""
