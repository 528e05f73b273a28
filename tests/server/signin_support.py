"""Signing in as a person does, over HTTP, with the code the console backend printed."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def printed_code(capsys: pytest.CaptureFixture[str], phone: str) -> str:
    """The last sign-in code the console backend printed for phone."""
    out = capsys.readouterr().out
    found = re.findall(rf"\[SMS → {re.escape(phone)}\] \D*(\d{{6}})", out)
    assert found, f"no code printed for {phone}: {out!r}"
    return str(found[-1])


class Browser:
    """An HTTP client that keeps cookies and echoes the CSRF cookie, as the pages do."""

    def __init__(self, base: str, *, user_agent: str = ANDROID) -> None:
        self.base = base
        self.client = httpx.AsyncClient(
            base_url=base, headers={"User-Agent": user_agent}, timeout=10
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    @property
    def session_cookie(self) -> str | None:
        """The session secret the browser holds (tests only: a page can't read it)."""
        return self.client.cookies.get("tw_session")

    def _csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.client.cookies.get("tw_csrf") or ""}

    async def get(self, path: str) -> httpx.Response:
        """A read, with the cookies."""
        return await self.client.get(path)

    async def send(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """A state-changing request as a page makes it (CSRF header, same origin)."""
        headers = {**self._csrf(), "Origin": self.base}
        return await self.client.request(method, path, json=json, headers=headers)

    async def ask_code(self, phone: str) -> httpx.Response:
        """Ask for a code to be texted to phone."""
        return await self.client.post("/api/sign-in/code", json={"phone": phone})

    async def verify(self, phone: str, code: str) -> httpx.Response:
        """Type the code."""
        return await self.client.post("/api/sign-in/verify", json={"phone": phone, "code": code})

    async def sign_in(
        self, phone: str, capsys: pytest.CaptureFixture[str], *, identity: str | None = None
    ) -> dict[str, Any]:
        """Ask for a code, read it off the console, type it (and choose, if asked)."""
        assert (await self.ask_code(phone)).status_code == 202
        answer = await self.verify(phone, printed_code(capsys, phone))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if not body["signed_in"]:
            assert identity is not None, body
            chosen = await self.client.post(
                "/api/sign-in/choose",
                json={"phone": phone, "choice": body["choice"], "identity": identity},
            )
            assert chosen.status_code == 200, chosen.text
            body = chosen.json()
        assert body["signed_in"]
        return body
