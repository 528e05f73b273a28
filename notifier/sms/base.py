"""The sender interface: `send` a text, `call` a phone, `lookup` what was sent, `close`."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Literal, Self


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider said when it took the message: its id and its first status."""

    sid: str
    status: str
    fresh: bool = False
    """Just taken in answer to our send (its status is the first); not found afterwards."""


class SendError(Exception):
    """A message the provider did not take; `transient` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        code: str | None = None,
        status: int | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.status = status
        self.maybe_sent = maybe_sent
        """The provider may have taken it all the same (no answer came): look before resending."""

    def __repr__(self) -> str:
        return (
            f"SendError({str(self)!r}, transient={self.transient!r}, "
            f"code={self.code!r}, status={self.status!r}, maybe_sent={self.maybe_sent!r})"
        )


Outcome = SendResult | SendError
"""What came of one send: the provider took it, or it did not."""

Channel = Literal["sms", "voice"]


class Sender(abc.ABC):
    """What every provider's sender is (texts and calls, pushes): closed when done, or used
    as an async context manager that closes it."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; the sender is not used afterwards."""

    async def __aenter__(self) -> Self:
        """Use the sender as an async context manager that closes it on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the sender."""
        await self.close()


class SmsSender(Sender):
    """A backend that texts and calls phone numbers; chosen by URL with `create_sender`."""

    @abc.abstractmethod
    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        valid_for: int | None = None,
    ) -> SendResult:
        """Hand one text to the provider; raise `SendError` if it is not taken.

        `valid_for` (seconds) asks the provider to drop the text if it could not go out in time.
        """

    @abc.abstractmethod
    async def call(self, *, to: str, twiml: str, status_callback: str | None = None) -> SendResult:
        """Place one call that plays `twiml`; raise `SendError` if the provider refuses it."""

    async def lookup(
        self, *, channel: Channel, to: str, body: str | None, since: datetime
    ) -> list[SendResult]:
        """Every text with this body (or every call) to `to` the provider took since `since`.

        The outbox asks this before resending a job whose send started but got no answer, and
        counts what it finds against the jobs that may own it. A sender that cannot look
        anything up answers [] (and the job is sent again).
        """
        return []
