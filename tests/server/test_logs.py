"""The logs an operator reads: JSON when asked, a line per request, alarm step and send, and
never a credential, a PIN, a sign-in code, a ticket or a whole phone number."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import logging.config
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from notifier.models import PENDING, SENDING
from server.runtime import logs
from server.settings import Settings
from tests.fake_twilio import FakeTwilio
from tests.harness import Seed, poll_until, press, running
from tests.server.phone_support import (
    GROUP_NUMBER,
    add_numbers,
    outbox_of,
    phone_settings,
    serving,
    text,
)
from tests.server.signin_support import Browser, printed_code
from tests.services import free_port

RESIDENT = "+8613800000001"  # B11-1-101, the first demo household
PIN, DURESS = "4817", "6293"
PUBLIC = "http://tenwatch.test"
"""Where the fake Twilio reaches the service: http, so the session cookie is not Secure and the
test's browser sends it over plain HTTP."""
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass
class Lines:
    """The process's log lines, configured as `tenwatch serve` configures them, into a buffer."""

    output: logs.Output = "json"
    buffer: io.StringIO = field(default_factory=io.StringIO)

    def start(self) -> None:
        """Apply the service's logging (again: uvicorn's test server configured its own)."""
        logging.config.dictConfig(logs.config(output=self.output, level="INFO"))
        logging.getLogger("uvicorn.error").setLevel(logging.NOTSET)  # as `serve` leaves it
        [handler] = logging.getLogger().handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(self.buffer)

    @property
    def raw(self) -> list[str]:
        """Every line written so far."""
        return self.buffer.getvalue().splitlines()

    def parsed(self) -> list[dict[str, Any]]:
        """Every line as the JSON object it must be."""
        return [json.loads(line) for line in self.raw]

    def of(self, event: str) -> list[dict[str, Any]]:
        """The lines of one kind ("request", "alarm step", "outbox send", ...)."""
        return [line for line in self.parsed() if line["event"] == event]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The service's log lines for one test; the logging of the test run is put back after."""
    root = logging.getLogger()
    saved = [(root, root.handlers[:], root.level, root.propagate)]
    for name in UVICORN:
        one = logging.getLogger(name)
        saved.append((one, one.handlers[:], one.level, one.propagate))
    yield Lines()
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _without_time(line: str) -> str:
    """A JSON line without its timestamp (whose microseconds are any digits at all)."""
    found = json.loads(line)
    found.pop("timestamp", None)
    return json.dumps(found, ensure_ascii=False)


def _holds(line: str, secret: str) -> bool:
    """Whether the secret is in the line as itself (not inside a longer number)."""
    return re.search(rf"(?<![\d]){re.escape(secret)}(?![\d])", line) is not None


async def _all_sent(url: str) -> bool:
    jobs = await outbox_of(url)
    return bool(jobs) and all(job.status not in (PENDING, SENDING) for job in jobs)


async def test_signing_in_pressing_cancelling_and_texting_write_json_lines_without_secrets(
    seeded: Seed,
    sqlite_url: str,
    fake_twilio: FakeTwilio,
    capsys: pytest.CaptureFixture[str],
    lines: Lines,
) -> None:
    await add_numbers(sqlite_url, seeded)
    settings = phone_settings(sqlite_url, fake_twilio, public_base_url=PUBLIC)
    made: list[tuple[str, str, int]] = []
    async with running(settings) as base, Browser(base) as browser:
        fake_twilio.route(public=PUBLIC, app=base)
        lines.start()
        asked = await browser.ask_code(RESIDENT)
        code = printed_code(capsys, RESIDENT)
        verified = await browser.verify(RESIDENT, code)
        session = browser.session_cookie
        assert verified.status_code == 200, verified.text
        assert session
        made += [("POST", "/api/sign-in/code", asked.status_code)]
        made += [("POST", "/api/sign-in/verify", 200)]
        pins = await browser.send("PUT", "/api/household/pin", {"pin": PIN, "duress_pin": DURESS})
        assert pins.status_code == 204, pins.text
        pressed = await browser.send("POST", "/api/alerts", {"type": "help"})
        assert pressed.status_code == 201, pressed.text
        alarm = pressed.json()["alert"]["id"]
        path = f"/api/alerts/{alarm}/cancel"
        cancelled = await browser.send("POST", path, {"pin": PIN})
        assert cancelled.status_code == 200, cancelled.text
        wrong = await browser.send("POST", path, {"pin": DURESS[::-1]})
        made += [
            ("PUT", "/api/household/pin", 204),
            ("POST", "/api/alerts", 201),
            ("POST", path, 200),
            ("POST", path, wrong.status_code),
        ]
        ticket = (await browser.send("POST", "/api/stream/ticket")).json()["ticket"]
        made += [("POST", "/api/stream/ticket", 200)]
        async with connect(base.replace("http", "ws", 1) + f"/ws?ticket={ticket}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
        texted = await fake_twilio.webhook(
            "/twilio/sms", text("SM1", RESIDENT, GROUP_NUMBER, "救命")
        )
        assert texted.status_code == 200, texted.text
        made += [("POST", "/twilio/sms", 200)]
        await poll_until(lambda: _all_sent(sqlite_url))
        await asyncio.sleep(0.1)  # the socket's close line

    parsed = lines.parsed()  # every line is one JSON object
    assert {"level", "logger", "timestamp", "event"} <= set.intersection(*map(set, parsed))

    requests = lines.of("request")
    assert sorted((r["method"], r["path"], r["status"]) for r in requests) == sorted(made)
    assert all(isinstance(r["ms"], float) and len(r["request_id"]) == 12 for r in requests)
    assert len({r["request_id"] for r in requests}) == len(requests)

    steps = [s for s in lines.of("alarm step") if s["alarm_id"] == alarm]
    assert [s["type"] for s in steps][:2] == ["alert.raised", "alert.cancelled"]
    assert all(isinstance(s["event_id"], int) for s in steps)
    assert {s["community"] for s in steps} == {seeded.community_id}

    sends = lines.of("outbox send")
    phones = {m["to"] for m in fake_twilio.messages} | {RESIDENT, GROUP_NUMBER}
    assert len(sends) == len(fake_twilio.messages) > 0
    assert all(re.fullmatch(r"\+\d+\*{4}\d{4}", s["to"]) for s in sends)
    assert {s["result"] for s in sends} == {"taken"}

    assert [s["socket"] for s in lines.of("socket open")] == ["group"]
    assert [s["socket"] for s in lines.of("socket closed")] == ["group"]
    accepted = [line for line in lines.raw if "[accepted]" in line]
    assert accepted
    assert all("ticket=***" in line for line in accepted)

    secrets = {session, code, ticket, PIN, DURESS, *phones, *(p.lstrip("+") for p in phones)}
    for line in map(_without_time, lines.raw):
        leaked = [secret for secret in secrets if _holds(line, secret)]
        assert not leaked, f"{leaked} in {line}"


async def test_a_refused_text_is_a_warning_with_the_providers_code_and_no_whole_number(
    seeded: Seed, sqlite_url: str, fake_twilio: FakeTwilio, lines: Lines
) -> None:
    said = "+8613800000002"  # Twilio names the number in its error's sentence
    fake_twilio.fail_next(
        status=400, code=21211, message=f"The 'To' number {said} is not a valid phone number."
    )
    async with serving(phone_settings(sqlite_url, fake_twilio), fake_twilio) as base:
        lines.start()
        assert (await press(base, seeded.households["B11-1-101"])).status_code == 201
        await poll_until(lambda: _all_sent(sqlite_url))
    [refused] = [s for s in lines.of("outbox send") if s["result"] == "refused"]
    assert refused["level"] == "warning"
    assert (str(refused["provider_code"]), refused["http_status"]) == ("21211", 400)
    assert re.fullmatch(r"\+86138\*{4}\d{4}", refused["to"])
    failed = [line for line in lines.parsed() if line["logger"] == "notifier.journal"]
    assert failed
    assert "+86138****0002" in failed[0]["event"]
    phones = {m["to"] for m in fake_twilio.messages} | {said}
    for line in map(_without_time, lines.raw):
        assert not [phone for phone in phones if _holds(line, phone)], line


async def test_a_request_keeps_the_proxys_request_id_or_gets_its_own_on_its_line_and_answer(
    sqlite_url: str, lines: Lines
) -> None:
    async with running(Settings(database_url=sqlite_url)) as base:
        lines.start()
        async with httpx.AsyncClient(base_url=base) as client:
            kept = await client.get("/readyz", headers={"X-Request-ID": "edge-7f3a.1"})
            fresh = await client.get("/readyz?code=123456", headers={"X-Request-ID": "a b"})
    assert kept.headers["x-request-id"] == "edge-7f3a.1"
    assert re.fullmatch(r"[0-9a-f]{12}", fresh.headers["x-request-id"])
    written = [(r["request_id"], r["path"], r["status"]) for r in lines.of("request")]
    assert written == [
        ("edge-7f3a.1", "/readyz", 200),
        (fresh.headers["x-request-id"], "/readyz", 200),
    ]


REDACTED = [
    (
        "event",
        "texted +8613912349999 and 13812345678; WebSocket /ws?ticket=abc&x=1&auth_token=q1",
        "texted +86139****9999 and 138****5678; WebSocket /ws?ticket=***&x=1&auth_token=***",
    ),
    ("pin", "1234", "***"),
    ("auth_token", "t0k", "***"),
    ("Authorization", "Bearer abc.def", "***"),
    ("status_code", 409, 409),
    ("error_code", "21211", "21211"),
    ("provider_sid", "SM0123456789abcdef0123456789abcdef", "SM0123456789abcdef0123456789abcdef"),
    (
        "form",
        {"From": "+15005550006", "Body": "救命", "code": "123456"},
        {"From": "+150****0006", "Body": "救命", "code": "***"},
    ),
    ("ids", [8613912345678, "+8613900000004"], [8613912345678, "+86139****0004"]),
]
"""(field, as logged, as written): secrets hidden, phones masked, codes of errors kept."""


def test_the_last_processor_masks_phones_and_hides_secret_fields() -> None:
    found = logs.redact(None, "info", {key: given for key, given, _ in REDACTED})
    assert found == {key: written for key, _, written in REDACTED}


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _text_line(message: str) -> str:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter(output="text"))
    handler.emit(logging.LogRecord("tests.logs", logging.INFO, __file__, 1, message, None, None))
    return buffer.getvalue()


def test_text_lines_are_coloured_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert "\x1b[" not in _text_line("to a file")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert "\x1b[" in _text_line("to a terminal")


def test_a_secret_in_a_message_or_a_traceback_is_hidden_in_text_lines_too() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.formatter(output="text", colors=False))
    log = logging.getLogger("tests.logs")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError("no such phone +8613800000001 (Bearer s3cret)")
        except ValueError:
            log.exception("sending to %s failed", "+8613800000002", extra={"ticket": "tk-77x"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    written = buffer.getvalue()
    assert "sending to +86138****0002 failed" in written
    assert "+86138****0001" in written
    assert "Bearer ***" in written
    assert "ticket=***" in written
    for secret in ("+8613800000001", "+8613800000002", "s3cret", "tk-77x"):
        assert not _holds(written, secret), secret


def test_tenwatch_serve_writes_only_json_lines_in_json_mode_from_each_worker(
    sqlite_url: str, redis_url: str
) -> None:
    env = {
        **os.environ,
        "TENWATCH_LOG_FORMAT": "json",
        "TENWATCH_DATABASE_URL": sqlite_url,
        "TENWATCH_REDIS_URL": redis_url,
    }
    port = free_port()
    serve = [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(serve, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        assert httpx.get(f"{base}/readyz?ticket=tk-secret-1").status_code == 200
        assert httpx.get(f"{base}/no-such-page").status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    written = (out + err).decode().splitlines()
    parsed = [json.loads(line) for line in written]  # every line, of every process
    assert sum(line["event"].startswith("TenWatch ready") for line in parsed) == 2
    asked = [(r["path"], r["status"]) for r in parsed if r["event"] == "request"]
    assert ("/readyz", 200) in asked
    assert ("/no-such-page", 404) in asked
    assert not [line for line in written if "tk-secret-1" in line]
    assert not [line for line in parsed if line["logger"] == "uvicorn.access"]
    # SQLAlchemy's pool says "Pool disposed" / "Pool recreating" at INFO under our pool
    # class's name at each migration: noise an operator would wade through at every start.
    assert not [line for line in parsed if line["logger"].startswith("storage.pool")]
