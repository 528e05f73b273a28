"""The clock every deadline is measured by: injectable, so tests move time instead of sleeping."""

from collections.abc import Callable
from datetime import datetime, timedelta

from storage.db import utcnow

Clock = Callable[[], datetime]

system_clock: Clock = utcnow


class ManualClock:
    """A clock that stands still until it is told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()

    def __call__(self) -> datetime:
        """The clock's current time."""
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; returns the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now
