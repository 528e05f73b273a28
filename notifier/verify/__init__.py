"""Sign-in code senders, chosen by URL: `console://` (the embedded default) or `twilio://`
(Twilio Verify)."""

from typing import Any
from urllib.parse import urlsplit

from notifier.verify.base import Verifier, VerifyError
from notifier.verify.console import ConsoleVerifier

__all__ = ["ConsoleVerifier", "Verifier", "VerifyError", "create_verifier"]


def create_verifier(
    url: str,
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    service_sid: str | None = None,
    api_url: str | None = None,
    **console: Any,
) -> Verifier:
    """Build the verifier a URL names (twilio:// needs the account and a Verify service)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "console":
        return ConsoleVerifier(**console)
    if scheme == "twilio":
        from notifier.verify.twilio import TwilioVerifier

        if not (account_sid and auth_token and service_sid):
            raise ValueError("twilio:// needs the account SID, auth token and Verify service SID")
        return TwilioVerifier(account_sid, auth_token, service_sid=service_sid, api_url=api_url)
    raise ValueError(f"unknown verifier URL {url!r}: the scheme must be console:// or twilio://")
