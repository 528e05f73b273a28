"""The floor: raw Redis PUBLISH → a redis-py asyncio subscriber, at the same rate and duration.

Nothing of TenWatch is on this path, so its latency is what any delivery over Redis pays at
least; the delivery figures read as multiples of it.
"""

import asyncio
import contextlib
import gc
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from redis.asyncio import Redis

CHANNEL = "bench:floor"
PAYLOAD = 400  # bytes, about one rendered alert event


async def _run(url: str, rate: float, duration: float) -> dict[str, Any]:
    publisher, subscriber = Redis.from_url(url), Redis.from_url(url)
    async with contextlib.aclosing(subscriber.pubsub()) as pubsub:
        await pubsub.subscribe(CHANNEL)
        total = int(rate * duration)
        due: list[float] = []
        latency: list[float] = []
        padding = "x" * PAYLOAD

        async def listen() -> None:
            clock = time.perf_counter
            while len(latency) < total:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                at = clock()
                index = int(message["data"].split(b" ", 1)[0])
                if index >= 0:
                    latency.append(at - due[index])

        for _ in range(20):  # warm-up, then freeze what survived
            await publisher.publish(CHANNEL, f"-1 {padding}")
        await asyncio.sleep(0.2)
        gc.collect()
        gc.freeze()
        gc.disable()  # as the clients do while they measure
        listener = asyncio.create_task(listen())
        t0 = time.perf_counter() + 0.05
        for i in range(total):
            due.append(t0 + i / rate)
            delay = due[i] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await publisher.publish(CHANNEL, f"{i} {padding}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener, timeout=5)
        gc.enable()
    await publisher.aclose()
    await subscriber.aclose()
    return {"sent": total, "received": len(latency), "latency_s": latency}


def main(url: str, rate: float, duration: float, parent: Connection) -> None:
    """Process entry point: publish at rate for duration and send the latencies back."""
    parent.send(("done", uvloop.run(_run(url, rate, duration))))
