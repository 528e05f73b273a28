"""A real browser (Debian's Chromium, driven by Playwright) on pages of a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext

from tests.browser.chromium import ARGS, EXECUTABLE, chromium

CHROMIUM = EXECUTABLE
__all__ = ["ARGS", "CHROMIUM", "browser", "signed_in"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium, headless (tests/browser/chromium.py)."""
    async with chromium() as launched:
        yield launched


async def signed_in(browser: Browser, base: str, token: str, **options: object) -> BrowserContext:
    """A browser context holding the session cookie of token and its CSRF companion."""
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    await context.add_cookies(
        [
            {"name": "tw_session", "value": token, "url": base},
            {"name": "tw_csrf", "value": "x", "url": base},
        ]
    )
    return context
