"""SMS and voice senders, chosen by URL: `console://` (the embedded default) or `twilio://`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from notifier.sms.base import Channel, SendError, SendResult, SmsSender
from notifier.sms.console import ConsoleMessage, ConsoleSender

__all__ = [
    "Channel",
    "ConsoleMessage",
    "ConsoleSender",
    "SendError",
    "SendResult",
    "SmsSender",
    "create_sender",
]

_TWILIO_OPTIONS = frozenset(
    {
        "account_sid",
        "auth_token",
        "from_",
        "messaging_service_sid",
        "voice_from",
        "api_url",
        "timeout",
        "lookup_page_size",
    }
)
_CONSOLE_OPTIONS = frozenset({"keep", "stream"})


def create_sender(url: str, **options: Any) -> SmsSender:
    """Build the sender a URL names, passing it the options that are its own and not None.

    Every backend's options may be given at once (one settings block serves all URLs): each
    backend takes its own and ignores the others'; an option no backend knows is a TypeError.
    """
    unknown = sorted(options.keys() - _TWILIO_OPTIONS - _CONSOLE_OPTIONS)
    if unknown:
        raise TypeError(f"no SMS sender takes the option(s) {', '.join(unknown)}")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "console":
        return ConsoleSender(**_own(options, _CONSOLE_OPTIONS))
    if scheme == "twilio":
        from notifier.sms.twilio import TwilioSender

        given = _own(options, _TWILIO_OPTIONS)
        missing = sorted({"account_sid", "auth_token"} - given.keys())
        if missing:
            raise ValueError(f"twilio:// needs {' and '.join(missing)}")
        return TwilioSender(**given)
    raise ValueError(f"unknown SMS sender URL {url!r}: the scheme must be console:// or twilio://")


def _own(options: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in options.items() if name in names and value is not None}
