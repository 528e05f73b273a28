"""A local fake of Twilio's REST API (Messages, Calls and Verify) on loopback, for the real twilio
library.

    with FakeTwilio() as fake:
        sender = TwilioSender(fake.account_sid, fake.auth_token, from_="+15005550006",
                              api_url=fake.url)
        ...
        assert fake.messages[0]["to"] == "+8613800000001"

`fake.fail_next(status=503)` or `fake.fail_next(status=400, code=21211, message=...)` scripts the
next answers; `fake.drop_next()` closes the connection without answering; `fake.delay_next(5)`
answers late; `fake.hang_next()` takes the message and then never answers (a crash mid-send).
`GET …/Messages.json` and `…/Calls.json` list what was taken, newest first, as Twilio does: filtered
by `To`, `From` and the day (`DateSent`, `DateSent>=`, `DateSent<=` for texts, `StartTime`,
`StartTime>=`, `StartTime<=` for calls; Twilio matches whole GMT days, so only a value's date
counts), in pages of `PageSize` (50 unless asked, at most 1000) with `next_page_uri` naming the next
page by `Page` and `PageToken` (the token holds the page's place while newer messages arrive).
Like a provider that sends at once, the fake gives each text its `date_sent` and each call its
`start_time` when it takes them. `fake.answer_after = 0.1` takes each create at once and answers it
that much later (a steady latency: a sender killed meanwhile never hears of what was taken).
`fake.via("a")` is the fake's URL for one client (`…/via/a`): what it takes records `via` "a".

Like Twilio it calls the app back, signed with the auth token (`X-Twilio-Signature`): set
`fake.message_callbacks = ["sent", "delivered"]` (or `call_callbacks`) to post those statuses to
each new message's StatusCallback, or post one with `fake.post_status(sid, "delivered")`.
`await fake.webhook(url, params)` posts a signed webhook as Twilio does for an incoming call or
text. `fake.route(public=..., app=...)` sends requests for the app's public URL (the one signed)
to where the app really listens. The `fake_twilio` fixture yields a started server.

Verify (sign-in codes) is `fake.verify` (tests/fake_verify.py): `fake.verify.code_for(phone)` is
the code the phone got.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.fake_verify import FakeVerify

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token"
API_VERSION = "2010-04-01"

_PATH = re.compile(
    rf"^(?:/via/(?P<via>[^/?]+))?/{API_VERSION}/Accounts/(?P<account>[^/]+)"
    r"/(?P<resource>Messages|Calls)\.json(?:\?(?P<query>.*))?$"
)

MAX_PAGE_SIZE = 1000
_DAY_FILTERS = {"Messages": ("DateSent", "date_sent"), "Calls": ("StartTime", "start_time")}

# Twilio's own codes for answers given without one.
_DEFAULT_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Authenticate",
    404: "The requested resource was not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class _Scripted:
    kind: str  # "error", "drop", "delay" or "hang"
    status: int = 0
    code: int | None = None
    message: str | None = None
    seconds: float = 0.0


def error_body(status: int, code: int | None, message: str) -> dict[str, Any]:
    """Twilio's JSON error shape."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def _day_bounds(query: Mapping[str, str], name: str) -> tuple[date, date]:
    """The days a list asks for with `name`, `name>=` and `name<=`: in a query string
    `DateSent>=2026-12-01` is the key `DateSent>` (what the library sends, `DateSent%3E`) with the
    value `2026-12-01`. A date-time counts by its date, as at Twilio."""

    def day(value: str) -> date:
        return date.fromisoformat(value[:10])

    low, high = date.min, date.max
    if name in query:
        low = high = day(query[name])
    if f"{name}>" in query:
        low = max(low, day(query[f"{name}>"]))
    if f"{name}<" in query:
        high = min(high, day(query[f"{name}<"]))
    return low, high


class FakeTwilio:
    """A Twilio-compatible HTTP server on 127.0.0.1 that records what it is sent."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.verify = FakeVerify(account_sid)
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self._script: deque[_Scripted] = deque()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._callback_threads: list[threading.Thread] = []
        self._callbacks_posted: list[dict[str, Any]] = []
        self._routes: list[tuple[str, str]] = []
        self.message_callbacks: list[str] = []
        """Statuses posted, in order, to each new message's StatusCallback."""
        self.call_callbacks: list[str] = []
        """Statuses posted, in order, to each new call's StatusCallback."""
        self.answer_after = 0.0
        """Seconds between taking a create and answering it."""

    # -- lifecycle -------------------------------------------------------------------------

    def via(self, name: str) -> str:
        """The base URL for one client: what it creates is recorded with `via` = name."""
        return f"{self.url}/via/{name}"

    @property
    def url(self) -> str:
        """The base URL to give the twilio library, like "http://127.0.0.1:54321"."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Listen on a free loopback port and answer in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeTwilio is already started")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and release the port; delayed answers are woken and dropped."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
        for callback in self._callback_threads:
            callback.join(10)

    def __enter__(self) -> Self:
        """Start on entry."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()

    # -- what it received ------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages accepted so far (a copy), oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The calls accepted so far (a copy), oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request seen, accepted or not: method, path, form and the status answered."""
        with self._lock:
            return list(self._requests)

    @property
    def callbacks_posted(self) -> list[dict[str, Any]]:
        """The status callbacks posted so far: sid, status, url and the app's HTTP answer."""
        with self._lock:
            return list(self._callbacks_posted)

    def reset(self) -> None:
        """Forget what was received and any scripted answers not yet used."""
        with self._lock:
            self._messages.clear()
            self._calls.clear()
            self._requests.clear()
            self._script.clear()
            self._callbacks_posted.clear()

    # -- calling the app back, signed like Twilio --------------------------------------------

    def route(self, *, public: str, app: str) -> None:
        """Send requests for URLs under `public` (what is signed) to `app` (where it listens)."""
        self._routes.append((public.rstrip("/"), app.rstrip("/")))

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send with this URL and form."""
        signature: str = RequestValidator(self.auth_token).compute_signature(url, dict(params))
        return signature

    def _target(self, url: str) -> str:
        for public, app in self._routes:
            if url == public or url.startswith(public + "/") or url.startswith(public + "?"):
                return app + url[len(public) :]
        return url

    def _public(self, url_or_path: str) -> str:
        if urlsplit(url_or_path).scheme:
            return url_or_path
        if not self._routes:
            raise RuntimeError("call fake.route(public=..., app=...) first")
        return self._routes[0][0] + url_or_path

    async def webhook(
        self, url: str, params: Mapping[str, str], *, signature: str | None = None
    ) -> httpx.Response:
        """Post a webhook to the app as Twilio does, signed unless `signature` is given.

        `url` is the public URL (or a path under the first route's public base)."""
        public = self._public(url)
        form = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, **params}
        headers = {
            "X-Twilio-Signature": self.sign(public, form) if signature is None else signature
        }
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self._target(public), data=form, headers=headers)

    def post_status(self, sid: str, status: str, *, error_code: int | None = None) -> int:
        """Post one signed status callback for a message or call; the app's HTTP status."""
        with self._lock:
            record = next((r for r in [*self._messages, *self._calls] if r["sid"] == sid), None)
            if record is None:
                raise KeyError(f"no message or call {sid}")
            record["status"] = status
        url = record["status_callback"]
        if not url:
            raise ValueError(f"{sid} has no StatusCallback")
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": record["from"] or "",
            "To": record["to"],
        }
        if sid.startswith("SM"):
            form |= {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
        else:
            form |= {"CallSid": sid, "CallStatus": status, "Direction": "outbound-api"}
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        try:
            answer = httpx.post(
                self._target(url),
                data=form,
                headers={"X-Twilio-Signature": self.sign(url, form)},
                timeout=10,
            ).status_code
        except httpx.HTTPError:
            answer = 0
        with self._lock:
            self._callbacks_posted.append(
                {"sid": sid, "status": status, "url": url, "answer": answer}
            )
        return answer

    def _taken(self, record: dict[str, Any]) -> None:
        """After answering a create: post the scripted status callbacks in a thread."""
        statuses = self.message_callbacks if record["sid"].startswith("SM") else self.call_callbacks
        if not statuses or not record["status_callback"]:
            return

        def post_all() -> None:
            for status in statuses:
                if self._stopping.is_set():
                    return
                self.post_status(record["sid"], status)

        thread = threading.Thread(target=post_all, daemon=True)
        with self._lock:
            self._callback_threads.append(thread)
        thread.start()

    # -- scripted failures -----------------------------------------------------------------

    def fail_next(
        self,
        *,
        status: int,
        code: int | None = None,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` API requests with Twilio's error JSON instead of creating."""
        code = code if code is not None else _DEFAULT_CODES.get(status)
        text = message or _DEFAULT_MESSAGES.get(status, "Error")
        self._queue(_Scripted("error", status=status, code=code, message=text), times)

    def drop_next(self, *, times: int = 1) -> None:
        """Close the connection of the next `times` API requests without any answer."""
        self._queue(_Scripted("drop"), times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` API requests normally, but only after `seconds`."""
        self._queue(_Scripted("delay", seconds=seconds), times)

    def hang_next(self, *, times: int = 1) -> None:
        """Take the next `times` creates (they are recorded) but never answer until stopped."""
        self._queue(_Scripted("hang"), times)

    def _queue(self, step: _Scripted, times: int) -> None:
        with self._lock:
            self._script.extend([step] * times)

    def _next_step(self) -> _Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    # -- answering (called from the server's threads) ---------------------------------------

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def _handle(
        self, method: str, path: str, auth: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        """The status and JSON to answer, or None to drop the connection."""
        if path.partition("?")[0].endswith(("/Verifications", "/VerificationCheck")):
            if method != "POST":
                return 404, error_body(404, 20404, f"The requested resource {path} was not found")
            if not self._authorized(auth):
                return 401, error_body(401, 20003, "Authenticate")
            step = self._next_step()
            if step is not None and step.kind == "drop":
                return None
            if step is not None and step.kind == "error":
                return step.status, error_body(step.status, step.code, step.message or "Error")
            found = self.verify.handle(path, form)
            return found or (
                404,
                error_body(404, 20404, f"The requested resource {path} was not found"),
            )
        match = _PATH.match(path)
        if method not in ("GET", "POST") or match is None or (method == "POST" and match["query"]):
            return 404, error_body(404, 20404, f"The requested resource {path} was not found")
        if not self._authorized(auth):
            return 401, error_body(401, 20003, "Authenticate")
        if match["account"] != self.account_sid:
            return 404, error_body(404, 20404, f"The requested resource {path} was not found")
        step = self._next_step()
        if step is not None and step.kind == "drop":
            return None
        if step is not None and step.kind == "error":
            return step.status, error_body(step.status, step.code, step.message or "Error")
        if step is not None and step.kind == "delay" and self._stopping.wait(step.seconds):
            return None
        if method == "GET":
            query = {k: v[-1] for k, v in parse_qs(match["query"] or "").items()}
            return self._list(match["resource"], query)
        create = self._create_message if match["resource"] == "Messages" else self._create_call
        answer = create(form, via=match["via"])
        if step is not None and step.kind == "hang":
            self._stopping.wait()
            return None
        if self.answer_after and self._stopping.wait(self.answer_after):
            return None
        return answer

    def _list(self, resource: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One page of the messages or calls taken, newest first, filtered as Twilio filters."""
        try:
            size = min(int(query.get("PageSize", "50")), MAX_PAGE_SIZE)
            page = int(query.get("Page", "0"))
            days = _day_bounds(query, _DAY_FILTERS[resource][0])
        except ValueError as exc:
            return 400, error_body(400, 20001, f"Invalid parameter: {exc}")
        field = _DAY_FILTERS[resource][1]
        with self._lock:
            records = self._messages if resource == "Messages" else self._calls
            found = [
                dict(r["json"], status=r["status"])
                for r in reversed(records)
                if query.get("To", r["to"]) == r["to"]
                and query.get("From", r["from"]) == r["from"]
                and days[0] <= r[field].date() <= days[1]
            ]
        start = page * size
        token = query.get("PageToken")
        if token is not None:
            after = [i for i, r in enumerate(found) if r["sid"] == token.removeprefix("PA")]
            if not after:
                return 400, error_body(400, 20001, f"Invalid PageToken {token}")
            start = after[0] + 1
        items = found[start : start + size]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/{resource}.json"
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int, **extra: str) -> str:
            return f"{uri}?{urlencode({**filters, 'PageSize': size, 'Page': number, **extra})}"

        more = start + size < len(found)
        return 200, {
            resource.lower(): items,
            "start": start,
            "end": start + max(len(items) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1, PageToken=f"PA{items[-1]['sid']}")
            if more
            else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "page": page,
            "page_size": size,
            "uri": f"{uri}?{urlencode(query)}" if query else uri,
        }

    def _create_message(
        self, form: dict[str, str], *, via: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        if not form.get("To"):
            return 400, error_body(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, error_body(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("MediaUrl")):
            return 400, error_body(400, 21602, "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        taken = datetime.now(UTC)
        now = format_datetime(taken, usegmt=True)
        record: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "via": via,
            "date_sent": taken,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status_callback": form.get("StatusCallback"),
            "form": dict(form),
            "at": time.monotonic(),
            # Twilio answers "accepted" when only a messaging service was given.
            "status": "queued" if form.get("From") else "accepted",
        }
        record["json"] = json_ = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": record["body"],
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": record["from"],
            "messaging_service_sid": record["messaging_service_sid"],
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": record["status"],
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": record["to"],
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self._messages.append(record)
        return 201, json_

    def _create_call(
        self, form: dict[str, str], *, via: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        if not form.get("To"):
            return 400, error_body(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            return 400, error_body(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return 400, error_body(400, 21205, "Url parameter is required.")
        sid = "CA" + uuid.uuid4().hex
        taken = datetime.now(UTC)
        now = format_datetime(taken, usegmt=True)
        record: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "via": via,
            "start_time": taken,
            "to": form["To"],
            "from": form["From"],
            "url": form.get("Url"),
            "twiml": form.get("Twiml"),
            "status_callback": form.get("StatusCallback"),
            "form": dict(form),
            "at": time.monotonic(),
            "status": "queued",
        }
        record["json"] = json_ = {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": record["from"],
            "from_formatted": record["from"],
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "start_time": now,
            "status": "queued",
            "subresource_uris": {},
            "to": record["to"],
            "to_formatted": record["to"],
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json",
        }
        with self._lock:
            self._calls.append(record)
        return 201, json_

    def _record_request(self, method: str, path: str, form: dict[str, str], status: int) -> None:
        with self._lock:
            self._requests.append({"method": method, "path": path, "form": form, "status": status})


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 makes a burst of concurrent connects wait a SYN retry (1 s).
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        fake: FakeTwilio = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
        answer = fake._handle(self.command, self.path, self.headers.get("Authorization"), form)
        if answer is None:
            fake._record_request(self.command, self.path, form, 0)
            self.close_connection = True
            return
        status, payload = answer
        fake._record_request(self.command, self.path, form, status)
        data = json.dumps(payload).encode()
        taken = status == 201 and str(payload.get("sid", "")).startswith(("SM", "CA"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if taken:
            record = next(r for r in [*fake.messages, *fake.calls] if r["sid"] == payload["sid"])
            fake._taken(record)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests tell the story."""


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A started fake Twilio server, stopped after the test."""
    with FakeTwilio() as fake:
        yield fake
