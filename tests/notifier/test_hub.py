"""The hub: every socket hears its channel's events in id order, none twice, none missed,
whatever the bus drops or reorders; slow servers never drop a socket, stuck clients do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from notifier.bus import MemoryBus
from notifier.connection import HEARTBEAT, PAGE, Connection, Event, event_id_of
from notifier.hub import Hub, Stored, community_channel, seal, unseal


def event(event_id: int) -> str:
    return json.dumps({"id": event_id, "type": "alert.raised"})


def ids(messages: Sequence[str]) -> list[int]:
    return [json.loads(m)["id"] for m in messages if m.startswith('{"id"')]


class Store:
    """An event store as the hub reads it: one community's events, each for some channels."""

    def __init__(self) -> None:
        self.events: list[Stored] = []
        self.reads = 0

    def add(self, event_id: int, *channels: str) -> tuple[int, str]:
        """Store an event; returns the bus message that publishes it (prev, channels, text)."""
        prev = self.events[-1][0] if self.events else 0
        self.events.append((event_id, channels, event(event_id)))
        return event_id, seal(prev, channels, event(event_id))

    async def heads(self, community_ids: Sequence[int]) -> dict[int, int]:
        return {1: self.events[-1][0]} if self.events and 1 in community_ids else {}

    async def community_after(self, community_id: int, after_id: int, limit: int) -> list[Stored]:
        self.reads += 1
        return [e for e in self.events if e[0] > after_id][:limit]

    async def channel_after(self, channel: str, after_id: int, limit: int) -> list[Event]:
        self.reads += 1
        found = [(i, m) for i, cs, m in self.events if i > after_id and channel in cs]
        return found[:limit]


async def collect(hub: Hub, connection: Connection, sent: list[str], n: int) -> None:
    """Run the connection's writer until sent holds n messages."""
    enough = asyncio.Event()

    async def send(message: str) -> None:
        sent.append(message)
        if len(sent) >= n:
            enough.set()

    task = asyncio.create_task(connection.run(send, hub.page))
    try:
        async with asyncio.timeout(2):
            await enough.wait()
    finally:
        task.cancel()


async def joined(hub: Hub, channel: str = "group:1", *, maxsize: int = 50) -> Connection:
    connection = Connection(channel, community_id=1, maxsize=maxsize)
    await hub.join(connection)
    head = (await hub._store.heads([1])).get(1, 0)
    connection.start("hello", [], head=head, at=head, more=False)
    return connection


async def publish(hub: Hub, message: str) -> None:
    await hub.bus.publish([community_channel(1)], message)


def test_an_event_travels_sealed_with_prev_and_its_channels() -> None:
    assert unseal(seal(41, ("group:3", "board:1"), event(42))) == (
        41,
        ("group:3", "board:1"),
        event(42),
    )
    assert unseal(seal(0, (), '{"id":1,"x":"a b"}')) == (0, (), '{"id":1,"x":"a b"}')


async def test_a_message_the_bus_lost_is_read_from_the_store_before_the_next_one() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    group, board = await joined(hub, "group:1"), await joined(hub, "board:1")
    for event_id in range(1, 9):
        _, message = store.add(event_id, "group:1", "board:1")
        if event_id not in (3, 4, 6):  # the bus lost these
            await publish(hub, message)
    for _ in range(10):
        await asyncio.sleep(0)
    heard: list[str] = []
    on_board: list[str] = []
    await collect(hub, group, heard, 9)
    await collect(hub, board, on_board, 9)
    assert ids(heard) == ids(on_board) == list(range(1, 9))
    await hub.stop()


@pytest.mark.parametrize(
    ("first", "later", "reads"),
    [
        # This process's own publishes overtaking one another: 4 before 2 and 3, which come
        # right behind, so the chain closes by itself.
        ((1, 4, 2, 3, 5), (), 0),
        # 2 and 3 come only after the store was read (and 5 again): read once, sent once.
        ((1, 4, 5), (2, 3, 5), 1),
    ],
)
async def test_messages_out_of_order_are_delivered_in_order_once(
    first: tuple[int, ...], later: tuple[int, ...], reads: int
) -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    board = await joined(hub, "board:1")
    messages = dict(store.add(i, "board:1") for i in range(1, 6))
    for event_id in first:
        await publish(hub, messages[event_id])
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    for event_id in later:
        await publish(hub, messages[event_id])
    heard: list[str] = []
    await collect(hub, board, heard, 6)
    await asyncio.sleep(0.05)
    assert ids(heard) == [1, 2, 3, 4, 5]
    assert board.queue == [], "nothing twice"
    assert store.reads == reads
    await hub.stop()


async def test_the_periodic_check_finds_events_no_message_announced() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, check_seconds=0.05)
    await hub.start()
    group = await joined(hub, "group:1")
    for event_id in (1, 2, 3):
        store.add(event_id, "group:1")  # stored, and the bus said nothing (an outage)
    heard: list[str] = []
    await collect(hub, group, heard, 4)
    assert ids(heard) == [1, 2, 3]
    await hub.stop()


async def test_after_a_bus_outage_catch_up_gives_each_channel_its_own_events_once() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    one, two, board = [await joined(hub, c) for c in ("group:1", "group:2", "board:1")]
    for event_id in range(1, 7):
        store.add(event_id, f"group:{event_id % 2 + 1}", "board:1")
    await hub.catch_up()
    await asyncio.sleep(0.05)
    got: dict[str, list[str]] = {"one": [], "two": [], "board": []}
    await collect(hub, one, got["one"], 4)
    await collect(hub, two, got["two"], 4)
    await collect(hub, board, got["board"], 7)
    assert ids(got["one"]) == [2, 4, 6]
    assert ids(got["two"]) == [1, 3, 5]
    assert ids(got["board"]) == [1, 2, 3, 4, 5, 6]
    await hub.catch_up()
    assert all(c.queue == [] for c in (one, two, board)), "nothing twice"
    await hub.stop()


async def test_a_socket_whose_queue_fills_reads_on_from_the_store_and_misses_nothing() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    board = await joined(hub, "board:1", maxsize=5)
    for event_id in range(1, 2 * PAGE + 50):  # a storm: far more than the queue between turns
        await publish(hub, store.add(event_id, "board:1")[1])
    assert not board.dropped
    assert len(board.queue) <= 5
    heard: list[str] = []
    await collect(hub, board, heard, 2 * PAGE + 49)
    assert ids(heard) == list(range(1, 2 * PAGE + 50))
    assert not board.dropped
    await hub.stop()


async def test_a_replay_longer_than_a_page_is_read_page_by_page_then_goes_live() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    for event_id in range(1, 3 * PAGE + 1):
        store.add(event_id, "group:1")
    connection = Connection("group:1", community_id=1, maxsize=10)
    await hub.join(connection)
    first = (await store.channel_after("group:1", 7, PAGE))[:PAGE]
    connection.start("hello", first, head=3 * PAGE, at=7, more=True)
    live = [store.add(3 * PAGE + i, "group:1")[1] for i in (1, 2)]
    for message in live:  # published while the replay is read: held, then sent once
        await publish(hub, message)
    heard: list[str] = []
    await collect(hub, connection, heard, 3 * PAGE - 7 + 3)
    assert heard[0] == "hello"
    assert ids(heard) == list(range(8, 3 * PAGE + 3))
    assert connection.live
    await hub.stop()


async def test_events_published_while_a_socket_replays_come_after_the_replay_once() -> None:
    hub = Hub(MemoryBus(), store=Store())
    connection = Connection("group:1", community_id=1, maxsize=100)
    for i in (5, 6, 7):  # live events that arrive while the replay is read
        connection.push(i, event(i))
    connection.start(
        "hello", [(4, event(4)), (5, event(5)), (6, event(6))], head=6, at=3, more=False
    )
    sent: list[str] = []
    await collect(hub, connection, sent, 5)
    assert sent[0] == "hello"
    assert ids(sent) == [4, 5, 6, 7]
    assert connection.sent == 7


async def test_a_stuck_socket_is_dropped_with_its_position_and_never_slows_its_neighbours() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, heartbeat_seconds=0.2, send_timeout_seconds=0.3)
    await hub.start()
    stuck, healthy = await joined(hub, maxsize=3), await joined(hub, maxsize=3)
    dropped = asyncio.Event()
    stuck.on_drop = dropped.set
    sent_to_stuck: list[str] = []

    async def blocked_send(message: str) -> None:
        sent_to_stuck.append(message)
        if len(sent_to_stuck) > 2:  # hello and event 1 went; the client stops reading
            await asyncio.Event().wait()

    stuck_writer = asyncio.create_task(stuck.run(blocked_send, hub.page))
    sent: list[str] = []
    for i in range(1, 11):
        await publish(hub, store.add(i, "group:1")[1])
        await collect(hub, healthy, sent, len(sent) + (2 if i == 1 else 1))
    async with asyncio.timeout(2):
        await dropped.wait()
    assert stuck.dropped
    assert stuck.sent == 1, "the position it resumes from: the last event it was handed"
    assert ids(sent) == list(range(1, 11))
    stuck_writer.cancel()
    await hub.stop()


async def test_a_community_is_subscribed_while_it_has_sockets_and_only_then() -> None:
    bus, store = MemoryBus(), Store()
    hub = Hub(bus, store=store)
    await hub.start()
    sockets = [Connection(f"group:{i}", community_id=1, maxsize=5) for i in range(10)]
    await asyncio.gather(*(hub.join(s) for s in sockets))
    assert hub.connections == 10
    await asyncio.gather(*(hub.leave(s) for s in sockets[:9]))
    sockets[9].start("hello", [], head=0, at=0, more=False)
    await publish(hub, store.add(1, "group:9")[1])
    assert len(sockets[9].queue) == 1
    await hub.leave(sockets[9])
    await publish(hub, store.add(2, "group:9")[1])
    assert len(sockets[9].queue) == 1
    assert hub.connections == 0
    assert bus._channels == set()
    await hub.stop()


class SlowBus(MemoryBus):
    """A bus whose subscriptions take a round trip, counting how many are under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed: set[str] = set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def subscribe(self, channel: str) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        await super().subscribe(channel)
        self.subscribed.add(channel)
        self.in_flight -= 1

    async def unsubscribe(self, channel: str) -> None:
        await super().unsubscribe(channel)
        self.subscribed.discard(channel)


async def test_communities_subscribe_side_by_side_and_a_join_returns_once_in_force() -> None:
    bus = SlowBus()
    hub = Hub(bus, store=Store())
    await hub.start()
    sockets = [Connection(f"group:{i}", community_id=i % 20, maxsize=5) for i in range(60)]

    async def join(socket: Connection) -> None:
        await hub.join(socket)
        assert community_channel(socket.community_id) in bus.subscribed  # before join returns

    await asyncio.gather(*(join(s) for s in sockets))
    assert bus.most_in_flight == 20  # one subscription a community, all under way together
    assert bus.subscribed == {community_channel(i) for i in range(20)}
    await hub.stop()


async def test_a_socket_that_leaves_while_its_community_subscribes_leaves_it_unsubscribed() -> None:
    bus = SlowBus()
    hub = Hub(bus, store=Store())
    await hub.start()
    socket = Connection("group:7", community_id=1, maxsize=5)
    joining = asyncio.create_task(hub.join(socket))
    await asyncio.sleep(0)  # the join's subscription is under way
    await hub.leave(socket)
    await joining
    assert bus.subscribed == set()
    assert hub.connections == 0
    await hub.stop()


async def test_a_quiet_socket_hears_a_heartbeat_and_a_busy_one_does_not() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store, heartbeat_seconds=0.4)
    await hub.start()
    quiet, busy = await joined(hub, "group:1"), await joined(hub, "group:2")
    heard: dict[str, list[str]] = {"quiet": [], "busy": []}
    writers = []
    for name, connection in (("quiet", quiet), ("busy", busy)):

        async def send(message: str, into: list[str] = heard[name]) -> None:
            into.append(message)

        writers.append(asyncio.create_task(connection.run(send, hub.page)))
    for i in range(1, 11):  # the busy socket hears an event every 0.1 s for a second
        await asyncio.sleep(0.1)
        await publish(hub, store.add(i, "group:2")[1])
    await asyncio.sleep(0.05)
    beats = heard["quiet"].count(HEARTBEAT)
    assert 1 <= beats <= 3, f"one beat per 0.4 s of silence, not {beats} in 1 s"
    assert HEARTBEAT not in heard["busy"]
    quiet.close()
    await asyncio.wait_for(writers[0], 1)
    assert writers[0].done(), "a closed connection's writer returns"
    writers[1].cancel()
    await hub.stop()


async def test_every_quiet_socket_of_many_hears_its_beat_within_a_quarter_period_late() -> None:
    hub = Hub(MemoryBus(), store=Store(), heartbeat_seconds=0.4)
    quiet = [Connection(f"group:{i % 7}", community_id=1, maxsize=5) for i in range(300)]
    for connection in quiet:
        await hub.join(connection)
        connection.start("hello", [], head=0, at=0, more=False)
        connection.last_sent = asyncio.get_running_loop().time()
    await hub.start()
    await asyncio.sleep(0.3)
    assert not any(c.queue for c in quiet), "no beat before a period of silence"
    await asyncio.sleep(0.4)
    assert all(c.queue == [HEARTBEAT] for c in quiet), "each one beat by 1.25 periods, no more"
    await hub.stop()


async def test_the_memory_bus_refuses_the_separator_as_redis_does() -> None:
    bus = MemoryBus()
    await bus.connect(lambda channel, message: None)
    with pytest.raises(ValueError, match="separator"):
        await bus.publish(["group:1"], 'a\x1e{"id":1}')


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"id":42,"type":"alert.raised","data":{"id":7}}', 42),  # the wire form: id first
        ('{"type":"alert.raised","id":43}', 43),
        ('{"id": 44, "type": "alert.raised"}', 44),
        ('{"id":45}', 45),
    ],
)
def test_an_events_id_is_read_whatever_its_layout(message: str, expected: int) -> None:
    assert event_id_of(message) == expected


async def test_a_stored_events_wire_form_gives_its_id_off_the_front() -> None:
    from datetime import UTC, datetime

    from server.alarms.events import render
    from server.alarms.models import AlertEvent

    at = datetime(2026, 11, 29, tzinfo=UTC)
    wire = render(AlertEvent(id=9876, type="t", alert_id=1, community_id=2, created_at=at, data={}))
    assert wire.startswith('{"id":9876,')
    assert event_id_of(wire) == 9876


async def test_a_message_that_is_not_a_sealed_event_is_ignored_and_its_gap_filled() -> None:
    store = Store()
    hub = Hub(MemoryBus(), store=store)
    await hub.start()
    group = await joined(hub, "group:1")
    store.add(1, "group:1")
    await publish(hub, event(1))  # an older process's layout: no prev, no channels
    await publish(hub, store.add(2, "group:1")[1])
    heard: list[str] = []
    await collect(hub, group, heard, 3)
    assert ids(heard) == [1, 2]
    await hub.stop()
