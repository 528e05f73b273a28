"""The Redis bus publishes a change's messages in one round trip, in order, or delivers them
locally when Redis is away."""

import asyncio
import socket
from contextlib import aclosing

import pytest
from redis.asyncio import Redis

from notifier.bus import RedisBus


async def test_publish_all_reaches_subscribers_in_order_across_channels(redis_url: str) -> None:
    heard: list[tuple[str, str]] = []
    all_five = asyncio.Event()

    def deliver(channel: str, message: str) -> None:
        heard.append((channel, message))
        if len(heard) == 5:
            all_five.set()

    bus = RedisBus(redis_url)
    await bus.connect(deliver)
    try:
        await bus.subscribe("group:1")
        await bus.subscribe("board:1")
        await bus.publish_all(
            [(("group:1", "board:1"), "1"), (("board:1",), "2"), (("group:1", "board:1"), "3")]
        )
        await asyncio.wait_for(all_five.wait(), 5)
        assert [m for c, m in heard if c == "group:1"] == ["1", "3"]
        assert [m for c, m in heard if c == "board:1"] == ["1", "2", "3"]
        assert bus.error is None
    finally:
        await bus.disconnect()


async def test_a_change_is_one_redis_message_per_channel(redis_url: str) -> None:
    raw = Redis.from_url(redis_url)
    async with aclosing(raw.pubsub()) as pubsub:
        await pubsub.subscribe("group:7", "board:7")
        bus = RedisBus(redis_url)
        await bus.connect(lambda channel, message: None)

        async def heard(kind: str, count: int) -> list[tuple[bytes, bytes]]:
            found: list[tuple[bytes, bytes]] = []
            async with asyncio.timeout(5):
                while len(found) < count:
                    message = await pubsub.get_message(timeout=1)
                    if message is not None and message["type"] == kind:
                        found.append((message["channel"], message["data"]))
            return found

        try:
            await heard("subscribe", 2)
            await bus.publish_all([(("group:7", "board:7"), "1"), (("board:7",), "2")])
            seen = await heard("message", 2)
            assert sorted(seen) == [(b"board:7", b"1\x1e2"), (b"group:7", b"1")]
            with pytest.raises(ValueError, match="separator"):
                await bus.publish_all([(("group:7",), "a\x1eb")])
        finally:
            await bus.disconnect()
    await raw.aclose()


async def test_publish_all_without_redis_delivers_to_this_process_in_order() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    heard: list[tuple[str, str]] = []
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    await bus.connect(lambda channel, message: heard.append((channel, message)))
    try:
        await bus.subscribe("group:1")
        await bus.publish_all([(("group:1", "board:1"), "1"), (("group:1",), "2")])
        assert heard == [("group:1", "1"), ("group:1", "2")], "board:1 has no subscriber here"
        assert bus.error is not None, "and the bus says it is degraded"
    finally:
        await bus.disconnect()
