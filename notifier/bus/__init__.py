"""The event bus: one small interface, backends chosen by URL (memory://, redis://)."""

from notifier.bus.base import Bus, Deliver, Message
from notifier.bus.memory import MemoryBus
from notifier.bus.redis import RedisBus

__all__ = ["Bus", "Deliver", "MemoryBus", "Message", "RedisBus", "create_bus"]


def create_bus(url: str) -> Bus:
    """The bus backend named by url: memory:// (one process) or redis://… (many)."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryBus()
    if scheme in ("redis", "rediss", "unix"):
        return RedisBus(url)
    raise ValueError(f"unknown bus URL {url!r}: use memory:// or redis://host:port/db")
