"""Sign-in codes through Twilio Verify (`verify.v2`) with the official library: Twilio makes,
sends and checks the code; `api_url` points the library at a look-alike."""

from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException

from notifier.sms.twilio import create_twilio_client
from notifier.verify.base import Verifier, VerifyError

# Verify's answers to a check that can't succeed: no pending verification (expired, approved
# already, never sent), or too many checks of it.
_NOT_PENDING = frozenset({20404, 60202})


class TwilioVerifier(Verifier):
    """`verifications.create_async` sends, `verification_checks.create_async` checks."""

    def __init__(
        self, account_sid: str, auth_token: str, *, service_sid: str, api_url: str | None = None
    ) -> None:
        self._account = (account_sid, auth_token, api_url)
        self._service_sid = service_sid
        self._client: Any = None

    def _service(self) -> Any:
        if self._client is None:  # made inside the running loop: its aiohttp session needs one
            sid, token, api_url = self._account
            self._client = create_twilio_client(sid, token, api_url=api_url)
        return self._client.verify.v2.services(self._service_sid)

    async def send(self, *, phone: str, language: str) -> str | None:
        """Ask Verify to text phone a code, in its language."""
        try:
            await self._service().verifications.create_async(
                to=phone, channel="sms", locale=language
            )
        except TwilioException as exc:
            raise VerifyError(f"Twilio Verify could not send the code: {exc}") from exc
        return None

    async def check(self, *, phone: str, code: str, kept: str | None) -> bool:
        """Ask Verify whether code is phone's pending one."""
        try:
            checked = await self._service().verification_checks.create_async(to=phone, code=code)
        except TwilioRestException as exc:
            if exc.code in _NOT_PENDING:
                return False
            raise VerifyError(f"Twilio Verify could not check the code: {exc}") from exc
        except TwilioException as exc:
            raise VerifyError(f"Twilio Verify could not check the code: {exc}") from exc
        return bool(checked.status == "approved")

    async def close(self) -> None:
        """Close the library's HTTP session."""
        if self._client is not None:
            await self._client.http_client.close()
            self._client = None
