"""The bus format's version: a process reads its own format and the one before, side by side,
and a message of a format it cannot read is not guessed at — its event comes from the store,
at once, not at the next periodic check."""

from __future__ import annotations

import asyncio
import logging

import pytest

from notifier.bus import MemoryBus
from notifier.bus import format as bus_format
from notifier.hub import Hub
from tests.notifier.test_hub import Store, collect, ids, joined, publish


def test_format_1_is_the_body_alone_and_format_2_marks_it() -> None:
    body = '41 group:3,board:1 {"id":42}'
    assert bus_format.write(body, version=1) == body
    assert bus_format.write(body, version=2) == "v2 " + body
    assert bus_format.read(body) == (1, body)
    assert bus_format.read("v2 " + body) == (2, body)
    assert bus_format.read("revoked 4,9") == (1, "revoked 4,9")
    assert bus_format.read('{"check":1}') == (1, '{"check":1}')
    assert bus_format.read("v9 anything at all") == (9, "anything at all")


def test_a_process_reads_its_own_format_and_the_one_before_and_writes_only_those() -> None:
    assert {bus_format.NEWEST - 1, bus_format.NEWEST} == bus_format.READS
    assert bus_format.WRITES in bus_format.READS
    with pytest.raises(ValueError, match="bus format"):
        bus_format.write("x", version=bus_format.NEWEST + 1)


async def test_events_in_both_formats_reach_a_socket_in_order_through_the_bus() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, check_seconds=3600)
    await hub.start()
    group = await joined(hub, "group:1")
    for event_id in range(1, 7):
        _, message = store.add(event_id, "group:1")
        await publish(hub, bus_format.write(message, version=1 + event_id % 2))
    heard: list[str] = []
    await collect(hub, group, heard, 7)
    assert ids(heard) == [1, 2, 3, 4, 5, 6]
    assert (hub.fills, hub.unreadable, store.reads) == (0, 0, 0), "all through the bus"
    await hub.stop()


async def test_a_newer_format_is_logged_once_and_its_events_read_from_the_store_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, check_seconds=3600)  # the periodic check never comes
    await hub.start()
    group = await joined(hub, "group:1")
    _, first = store.add(1, "group:1")
    await publish(hub, bus_format.write(first, version=2))
    with caplog.at_level(logging.WARNING, logger="notifier.hub"):
        for event_id in (2, 3):
            _, message = store.add(event_id, "group:1")
            await publish(hub, f"v{bus_format.NEWEST + 1} {message}")
            await asyncio.sleep(0.01)
        heard: list[str] = []
        await collect(hub, group, heard, 4)
    assert ids(heard) == [1, 2, 3]
    assert hub.unreadable == 2
    assert hub.fills >= 1
    said = [r.getMessage() for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(said) == 1, said
    assert f"format {bus_format.NEWEST + 1}" in said[0]
    await hub.stop()


async def test_an_unreadable_message_during_a_fill_is_read_by_a_fill_after_it() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, check_seconds=3600)
    await hub.start()
    group = await joined(hub, "group:1")
    gate = asyncio.Event()
    read = store.community_after

    async def slow_read(
        community_id: int, after_id: int, limit: int
    ) -> list[tuple[int, tuple[str, ...], str]]:
        found = await read(community_id, after_id, limit)  # what the store had as it was read
        await gate.wait()
        return found

    store.community_after = slow_read  # type: ignore[method-assign]
    store.add(1, "group:1")
    await publish(hub, "v99 1")  # unreadable: a fill starts and reads the store (event 1)
    await asyncio.sleep(0.01)
    store.add(2, "group:1")  # committed after that read began
    await publish(hub, "v99 2")
    gate.set()
    heard: list[str] = []
    await collect(hub, group, heard, 3)
    assert ids(heard) == [1, 2]
    await hub.stop()


async def test_a_notice_in_either_format_is_heard_as_its_body() -> None:
    hub = Hub(MemoryBus(), store=Store())
    await hub.start()
    heard: list[str] = []
    await hub.listen("credentials", heard.append)
    for version in sorted(bus_format.READS):
        await hub.bus.publish(["credentials"], bus_format.write("revoked 4,9", version=version))
    await hub.bus.publish(["credentials"], "v99 revoked 5")
    assert heard == ["revoked 4,9"] * len(bus_format.READS)
    assert hub.unreadable == 1
    await hub.stop()


def test_a_process_writes_the_older_format_by_default_and_only_one_it_reads() -> None:
    from pydantic import ValidationError

    from server.settings import Settings

    assert Settings().bus_format == 1, "the first release that reads 2 still writes 1"
    assert Settings(bus_format="2").bus_format == 2  # as the environment gives it
    for unread in (0, 3):
        with pytest.raises(ValidationError, match="bus format"):
            Settings(bus_format=unread)
