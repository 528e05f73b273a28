"""The interface of a sign-in code's delivery: send a code to a phone, check what was typed."""

from abc import ABC, abstractmethod


class VerifyError(Exception):
    """The provider could not send or check a code just now (the person tries again)."""


class Verifier(ABC):
    """Sends six-digit sign-in codes by SMS and checks them.

    A backend either makes the code itself and hands back what to keep to check it later
    (`kept`, never the code itself), or leaves the code with its provider (returns None, and
    checks by asking the provider). The service counts tries and expiry itself, for both."""

    @abstractmethod
    async def send(self, *, phone: str, language: str) -> str | None:
        """Send a new code to phone, in the language given (zh, en); what to keep, or None."""

    @abstractmethod
    async def check(self, *, phone: str, code: str, kept: str | None) -> bool:
        """Whether code is the one last sent to phone."""

    async def close(self) -> None:  # noqa: B027  (optional: most backends hold nothing)
        """Release any client the backend holds (the console holds none)."""
