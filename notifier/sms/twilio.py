"""Texts and calls through Twilio with the official library (async); `api_url` points it at a
look-alike."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notifier.sms.base import Channel, SendError, SendResult, SmsSender

DEFAULT_TIMEOUT = 10.0
"""Seconds one send may take; the library itself sets no timeout on the request."""

# Twilio's own error codes for "too many requests" and its outages: worth another try.
_TRANSIENT_CODES = frozenset({20429, 20500, 20503})

CLOCK_SKEW = timedelta(minutes=2)
"""How far Twilio's clock may be behind ours when looking for what we sent."""

LOOKUP_PAGE_SIZE = 1000
"""Messages (or calls) a lookup reads per request: Twilio's largest page."""

LOOKUP_TIMEOUTS = 6
"""A lookup reads every page, so it may take this many send timeouts."""

CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class _AsyncHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The library's aiohttp client, sending basic auth as a header.

    The library hands aiohttp a `BasicAuth`, which aiohttp 3.14 deprecates (a warning on every
    request); the request is otherwise the library's own.
    """

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        """Make the library's request with an Authorization header in place of `auth`."""
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def create_twilio_client(account_sid: str, auth_token: str, *, api_url: str | None = None) -> Any:
    """A `twilio.rest.Client` on an aiohttp session, aimed at `api_url` instead of Twilio's cloud.

    Call it inside the running event loop (the session needs it) and close it with
    `await client.http_client.close()`. Messages, Calls and Verify all go through `api_url`.
    """
    client = Client(account_sid, auth_token, http_client=_AsyncHttpClient())
    if api_url is not None:
        # The api domain's base URL is a public attribute of this client's own Domain object.
        # Edge and region (TWILIO_EDGE / TWILIO_REGION) would rewrite the host: cleared.
        client.api.base_url = api_url.rstrip("/")
        client.verify.base_url = api_url.rstrip("/")  # Verify's domain: sign-in codes
        client.edge = None
        client.region = None
    return client


class TwilioSender(SmsSender):
    """Texts with `client.messages.create_async`, calls with `client.calls.create_async`."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        voice_from: str | None = None,
        api_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        lookup_page_size: int = LOOKUP_PAGE_SIZE,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio needs both an account SID and an auth token")
        if not (from_ or messaging_service_sid):
            raise ValueError("Twilio needs a 'from' number or a messaging service SID")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = from_
        self._messaging_service_sid = messaging_service_sid
        self._voice_from = voice_from or from_
        self._api_url = api_url
        self._timeout = timeout
        self._lookup_page_size = lookup_page_size
        self._client: Any = None
        self._closed = False

    def _get_client(self) -> Any:
        """The Twilio client, made on first use: its aiohttp session needs the running loop."""
        if self._closed:
            raise RuntimeError("TwilioSender is closed")
        if self._client is None:
            # No await between the check and the assignment: concurrent sends share one client.
            self._client = create_twilio_client(
                self._account_sid, self._auth_token, api_url=self._api_url
            )
        return self._client

    async def send(
        self,
        *,
        to: str,
        body: str,
        status_callback: str | None = None,
        valid_for: int | None = None,
    ) -> SendResult:
        """Create one Message; map Twilio's refusals and network failures to `SendError`."""
        client = self._get_client()
        params: dict[str, Any] = {"to": to, "body": body}
        if self._from:
            params["from_"] = self._from
        if self._messaging_service_sid:
            params["messaging_service_sid"] = self._messaging_service_sid
        if status_callback:
            params["status_callback"] = status_callback
        if valid_for is not None:
            # Twilio takes 1 s to 36,000 s; it drops a message still queued after that.
            params["validity_period"] = min(max(valid_for, 1), 36000)
        message = await self._ask("message", client.messages.create_async(**params))
        return SendResult(sid=str(message.sid), status=str(message.status or "queued"), fresh=True)

    async def call(self, *, to: str, twiml: str, status_callback: str | None = None) -> SendResult:
        """Create one Call that plays `twiml`; the caller id is the voice (or SMS) From number."""
        if not self._voice_from:
            raise SendError("Twilio calls need a From number (voice_from)", transient=False)
        client = self._get_client()
        params: dict[str, Any] = {"to": to, "from_": self._voice_from, "twiml": twiml}
        if status_callback:
            params["status_callback"] = status_callback
            params["status_callback_event"] = CALL_EVENTS
        call = await self._ask("call", client.calls.create_async(**params))
        return SendResult(sid=str(call.sid), status=str(call.status or "queued"), fresh=True)

    async def lookup(
        self, *, channel: Channel, to: str, body: str | None, since: datetime
    ) -> list[SendResult]:
        """Every message with this body (or every call) from our number to `to` that Twilio
        created since `since`, oldest first, read through every page of the list.

        Twilio filters by To, From and the day sent (`DateSent>=` / `StartTime>=` match whole
        days, midnight GMT on): the time, the body and the clock skew are checked here.
        """
        client = self._get_client()
        after = since - CLOCK_SKEW
        if channel == "voice":
            pages = client.calls.stream_async(
                to=to,
                from_=self._voice_from or values.unset,
                start_time_after=after,
                page_size=self._lookup_page_size,
            )
        else:
            pages = client.messages.stream_async(
                to=to,
                from_=self._from or values.unset,
                date_sent_after=after,
                page_size=self._lookup_page_size,
            )

        async def matches() -> list[SendResult]:
            found = []
            async for item in await pages:
                created = item.date_created
                if created is None or created < after:
                    continue
                if channel == "sms" and item.body != body:
                    continue
                status = str(item.status or "queued")
                found.append((created, SendResult(sid=str(item.sid), status=status)))
            return [result for _, result in sorted(found, key=lambda pair: pair[0])]

        found: list[SendResult] = await self._ask(
            "lookup", matches(), maybe_sent=False, timeout=self._timeout * LOOKUP_TIMEOUTS
        )
        return found

    async def _ask(
        self,
        what: str,
        request: Awaitable[Any],
        *,
        maybe_sent: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Await one API request; refusals and network failures become `SendError`.

        Without an answer (a timeout, a dropped connection) the request may have been taken:
        the error says `maybe_sent`, and the outbox looks before it tries again.
        """
        timeout = timeout or self._timeout
        try:
            async with asyncio.timeout(timeout):
                return await request
        except TwilioException as exc:
            raise _refusal(exc, what) from exc
        except TimeoutError as exc:
            raise SendError(
                f"Twilio did not answer within {timeout:g}s",
                transient=True,
                maybe_sent=maybe_sent,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SendError(
                f"Twilio unreachable: {exc!r}", transient=True, maybe_sent=maybe_sent
            ) from exc

    async def close(self) -> None:
        """Close the aiohttp session; safe to call more than once."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.http_client.close()


def _refusal(exc: TwilioException, what: str = "message") -> SendError:
    """Turn Twilio's error answer into a SendError: 429 and 5xx may pass, the rest will not."""
    status = getattr(exc, "status", None)
    status = status if isinstance(status, int) else None
    raw_code = getattr(exc, "code", None)
    # Without a JSON body the library fills `code` with the HTTP status: that is no Twilio code.
    code = None if raw_code is None or raw_code == status else str(raw_code)
    transient = status is None or status == 429 or status >= 500 or (raw_code in _TRANSIENT_CODES)
    detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or type(exc).__name__
    return SendError(
        f"Twilio refused the {what} (HTTP {status}, code {code}): {detail}",
        transient=transient,
        code=code,
        status=status,
    )
