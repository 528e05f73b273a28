"""The embedded default sender: texts go to stdout, for development and a single machine."""

from __future__ import annotations

import sys
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from notifier.sms.base import SendResult, SmsSender


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    """One text the console sender printed."""

    sid: str
    to: str
    body: str
    status_callback: str | None


class ConsoleSender(SmsSender):
    """Prints each text as one line ("SMS → +86…: body") and keeps the last few for inspection."""

    def __init__(self, *, keep: int = 100, stream: TextIO | None = None) -> None:
        self.messages: deque[ConsoleMessage] = deque(maxlen=keep)
        self._stream = stream

    async def send(self, *, to: str, body: str, status_callback: str | None = None) -> SendResult:
        """Print the text and answer with a generated `CONSOLE-…` sid and status "sent"."""
        sid = f"CONSOLE-{uuid.uuid4().hex}"
        one_line = " ".join(body.split())
        print(f"SMS → {to}: {one_line}", file=self._stream or sys.stdout, flush=True)
        self.messages.append(
            ConsoleMessage(sid=sid, to=to, body=body, status_callback=status_callback)
        )
        return SendResult(sid=sid, status="sent")

    async def close(self) -> None:
        """Nothing to release."""
