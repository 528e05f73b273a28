"""The SMS sender interface: one `send`, one `close`, and the error the outbox worker reads."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Self


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider said when it took the message: its id and its first status."""

    sid: str
    status: str


class SendError(Exception):
    """A message the provider did not take; `transient` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return (
            f"SendError({str(self)!r}, transient={self.transient!r}, "
            f"code={self.code!r}, status={self.status!r})"
        )


class SmsSender(abc.ABC):
    """A backend that texts one phone number; chosen by URL with `create_sender`."""

    @abc.abstractmethod
    async def send(self, *, to: str, body: str, status_callback: str | None = None) -> SendResult:
        """Hand one text to the provider; raise `SendError` if it is not taken."""

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
