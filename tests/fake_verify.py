"""Twilio Verify as the fake Twilio answers it (`/v2/Services/{sid}/Verifications` and
`/VerificationCheck`), as Twilio documents them: a verification is pending for ten minutes
after it is created, a check with the right code approves it (and it is then gone), five
checks are allowed (then 429, code 60202), five sends to one number within ten minutes (then
429, code 60203), and a check with no pending verification is 404 (code 20404). `codes` holds
every code sent, as the phone would show it."""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PATH = re.compile(
    r"^(?:/via/[^/?]+)?/v2/Services/(?P<service>[^/?]+)/(?P<what>Verifications|VerificationCheck)$"
)
SERVICE_SID = "VA" + "fedcba9876543210" * 2
LIFETIME = timedelta(minutes=10)
MAX_CHECKS = 5
MAX_SENDS = 5


@dataclass
class _Pending:
    sid: str
    to: str
    code: str
    created: datetime
    checks: int = 0
    sends: list[datetime] = field(default_factory=list)
    locale: str | None = None


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeVerify:
    """The Verify service of the fake (one service SID, as a project configures)."""

    def __init__(self, account_sid: str, *, service_sid: str = SERVICE_SID) -> None:
        self.account_sid = account_sid
        self.service_sid = service_sid
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self.codes: list[tuple[str, str]] = []
        """(to, code) of every code sent, oldest first."""
        self.checks: list[tuple[str, str, str]] = []
        """(to, code, status answered) of every check."""

    def code_for(self, to: str) -> str:
        """The last code sent to a number."""
        found = [code for number, code in self.codes if number == to]
        assert found, f"no Verify code was sent to {to}"
        return found[-1]

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        """The answer to a Verify request, or None if the path is not Verify's."""
        match = PATH.match(path)
        if match is None:
            return None
        if match["service"] != self.service_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if match["what"] == "Verifications":
            return self._create(form)
        return self._check(form, path)

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to, channel = form.get("To", ""), form.get("Channel", "")
        if not to:
            return _error(400, 60200, "Invalid parameter `To`")
        if channel not in ("sms", "call", "whatsapp", "email", "sna"):
            return _error(400, 60200, "Invalid parameter `Channel`")
        now = datetime.now(UTC)
        with self._lock:
            pending = self._pending.get(to)
            if pending is None or pending.created + LIFETIME <= now:
                pending = _Pending(
                    sid="VE" + uuid.uuid4().hex,
                    to=to,
                    code=f"{secrets.randbelow(1_000_000):06d}",
                    created=now,
                )
                self._pending[to] = pending
            recent = [t for t in pending.sends if t + LIFETIME > now]
            if len(recent) >= MAX_SENDS:
                return _error(429, 60203, "Max send attempts reached")
            pending.sends = [*recent, now]
            pending.locale = form.get("Locale")
            self.codes.append((to, pending.code))
            return 201, self._resource(pending, status="pending", channel=channel, now=now)

    def _check(self, form: dict[str, str], path: str) -> tuple[int, dict[str, Any]]:
        to, code = form.get("To", ""), form.get("Code", "")
        if not (to or form.get("VerificationSid")) or not code:
            return _error(400, 60200, "Invalid parameter")
        now = datetime.now(UTC)
        with self._lock:
            pending = self._pending.get(to)
            if pending is None or pending.created + LIFETIME <= now:
                self.checks.append((to, code, "404"))
                return _error(404, 20404, f"The requested resource {path} was not found")
            if pending.checks >= MAX_CHECKS:
                self.checks.append((to, code, "429"))
                return _error(429, 60202, "Max check attempts reached")
            pending.checks += 1
            approved = secrets.compare_digest(code, pending.code)
            if approved:
                del self._pending[to]
            status = "approved" if approved else "pending"
            self.checks.append((to, code, status))
            body = self._resource(pending, status=status, channel="sms", now=now)
            body.pop("url")
            body.pop("send_code_attempts")
            return 200, body

    def _resource(
        self, pending: _Pending, *, status: str, channel: str, now: datetime
    ) -> dict[str, Any]:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "sid": pending.sid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": pending.to,
            "channel": channel,
            "status": status,
            "valid": status == "approved",
            "lookup": {},
            "amount": None,
            "payee": None,
            "send_code_attempts": [
                {"time": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "channel": channel.upper()}
                for t in pending.sends
            ],
            "date_created": pending.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "date_updated": stamp,
            "sna": None,
            "url": f"https://verify.twilio.com/v2/Services/{self.service_sid}/Verifications/{pending.sid}",
        }
