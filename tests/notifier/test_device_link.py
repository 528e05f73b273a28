"""The device link: topic filters match as MQTT's do; the in-process link hears what it
publishes; the MQTT link refuses a command while the broker is away (transiently, so the
outbox tries again), then connects by itself and hears and publishes once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from notifier.devices import MemoryLink, create_link, matches
from notifier.sms.base import SendError
from tests.mqtt_support import device, private_broker
from tests.services import free_port


def test_topic_filters_match_as_mqtts_do() -> None:
    assert matches("zigbee2mqtt/+", "zigbee2mqtt/sos-301")
    assert not matches("zigbee2mqtt/+", "zigbee2mqtt/sos-301/availability")
    assert matches("zigbee2mqtt/+/availability", "zigbee2mqtt/sos-301/availability")
    assert matches("zigbee2mqtt/#", "zigbee2mqtt/a/b/c")
    assert not matches("zigbee2mqtt/+", "tenwatch/buttons/1")


async def test_the_in_process_link_hears_what_matches_its_topics() -> None:
    link = MemoryLink(topics=("buttons/+",))
    heard: list[tuple[str, bytes]] = []

    async def hear(topic: str, payload: bytes) -> None:
        heard.append((topic, payload))

    await link.start(hear)
    await link.publish("buttons/1", "SOS")
    await link.publish("sirens/1/set", '{"state":"ON"}')
    assert heard == [("buttons/1", b"SOS")]
    assert link.published[-1] == ("sirens/1/set", '{"state":"ON"}')
    assert link.check() is None


def test_an_unknown_link_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device link"):
        create_link("amqp://x", client_id="t", topics=())


async def test_the_mqtt_link_waits_for_its_broker_and_then_hears_and_publishes(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    link = create_link(url, client_id="tw-link-test", topics=("buttons/+",), min_backoff=0.2)
    heard: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def hear(topic: str, payload: bytes) -> None:
        await heard.put((topic, payload))

    await link.start(hear)
    try:
        await asyncio.sleep(0.3)
        assert link.check() is not None, "no broker yet: said"
        with pytest.raises(SendError) as refused:
            await link.publish("sirens/1/set", "{}")
        assert refused.value.transient
        with private_broker(tmp_path, port):
            async with asyncio.timeout(10):
                while link.check() is not None:  # noqa: ASYNC110  (state of a task)
                    await asyncio.sleep(0.05)
            async with device(url, "sirens/+/set") as other:
                await other.say("buttons/7", {"action": "sos"})
                assert await asyncio.wait_for(heard.get(), 5) == (
                    "buttons/7",
                    b'{"action": "sos"}',
                )
                await link.publish("sirens/1/set", '{"state": "ON"}')
                assert await other.heard() == ("sirens/1/set", {"state": "ON"})
    finally:
        await link.close()
