"""The rate limit of one sender: a token bucket that every send of the process waits on.

Texts and calls share it; lookups at the provider are not counted.
"""

import asyncio
import time


class RateLimiter:
    """A token bucket: `rate` acquisitions a second on average, `burst` at once; FIFO waiters."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = max(burst, 1)
        self._tokens = float(self._burst)
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now

    async def acquire(self) -> None:
        """Wait for a token (at once when the rate is 0: no limit)."""
        if self._rate <= 0:
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1
