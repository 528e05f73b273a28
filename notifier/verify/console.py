"""Sign-in codes printed on the console: the embedded default, no account needed."""

import hashlib
import hmac
import logging
import secrets
import sys
from typing import TextIO

from notifier.verify.base import Verifier

log = logging.getLogger(__name__)

WORDS = {
    "zh": "十户联防登录验证码：{code}（5 分钟内有效，请勿告诉他人）",
    "en": "TenWatch sign-in code: {code} (valid 5 minutes; tell no one)",
}


def keep(phone: str, code: str, salt: str) -> str:
    """What is stored to check a code later: a salted digest, never the code."""
    digest = hashlib.sha256(f"{salt}:{phone}:{code}".encode()).hexdigest()
    return f"{salt}${digest}"


class ConsoleVerifier(Verifier):
    """Makes the code itself and prints the text a phone would get (`sent` keeps them, for a
    demo's or a test's reading)."""

    def __init__(self, *, stream: TextIO | None = None, keep_sent: bool = True) -> None:
        self._stream = stream
        self._keep = keep_sent
        self.sent: list[tuple[str, str]] = []
        """(phone, code) of every code sent, oldest first."""

    async def send(self, *, phone: str, language: str) -> str | None:
        """Print a fresh six-digit code for phone; keep its salted digest."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        if self._keep:
            self.sent.append((phone, code))
        text = WORDS.get(language, WORDS["zh"]).format(code=code)
        print(f"[SMS → {phone}] {text}", file=self._stream or sys.stdout, flush=True)
        return keep(phone, code, secrets.token_hex(8))

    async def check(self, *, phone: str, code: str, kept: str | None) -> bool:
        """Compare the typed code's digest with the kept one."""
        if kept is None or "$" not in kept:
            return False
        salt = kept.partition("$")[0]
        return hmac.compare_digest(keep(phone, code, salt), kept)
