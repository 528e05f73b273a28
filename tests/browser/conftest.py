"""A real browser (Debian's Chromium, driven by Playwright) on pages of a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium, headless."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


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
