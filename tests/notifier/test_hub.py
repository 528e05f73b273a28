"""The hub: per-socket bounded queues, replay hand-off without loss or duplicate, catch-up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from notifier.bus import MemoryBus
from notifier.hub import HEARTBEAT, Connection, Event, Hub, event_id_of


def event(event_id: int) -> str:
    return json.dumps({"id": event_id, "type": "alert.raised"})


class Stored:
    """The event store as the hub sees it."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def after(self, channel: str, after: int) -> Sequence[Event]:
        return [(i, m) for i, m in self.events if i > after]


async def collect(connection: Connection, sent: list[str], n: int) -> None:
    """Run the connection's writer until sent holds n messages."""
    enough = asyncio.Event()

    async def send(message: str) -> None:
        sent.append(message)
        if len(sent) >= n:
            enough.set()

    task = asyncio.create_task(connection.run(send))
    async with asyncio.timeout(2):
        await enough.wait()
    task.cancel()


async def test_a_stuck_socket_is_dropped_and_never_slows_its_neighbours() -> None:
    hub = Hub(MemoryBus(), fetch=Stored().after)
    await hub.start()
    stuck, healthy = Connection("group:1", maxsize=3), Connection("group:1", maxsize=3)
    for connection in (stuck, healthy):
        await hub.join(connection)
        connection.start("hello", [], head=0)
    dropped = asyncio.Event()
    stuck.on_overflow = dropped.set
    never = asyncio.Event()

    async def blocked_send(message: str) -> None:
        await never.wait()

    stuck_writer = asyncio.create_task(stuck.run(blocked_send))
    sent: list[str] = []
    for i in range(1, 11):
        await hub.bus.publish(["group:1"], event(i))
        await collect(healthy, sent, len(sent) + (2 if i == 1 else 1))
    assert dropped.is_set()
    assert stuck.overflowed
    assert [json.loads(m)["id"] for m in sent[1:]] == list(range(1, 11))
    stuck_writer.cancel()
    await hub.stop()


async def test_events_published_while_a_socket_replays_come_after_the_replay_once() -> None:
    connection = Connection("group:1", maxsize=100)
    for i in (5, 6, 7):  # live events that arrive while the replay is read
        connection.push(i, event(i))
    connection.start("hello", [(4, event(4)), (5, event(5)), (6, event(6))], head=6)
    sent: list[str] = []
    await collect(connection, sent, 5)
    assert sent[0] == "hello"
    assert [json.loads(m)["id"] for m in sent[1:]] == [4, 5, 6, 7]
    assert connection.last_id == 7


async def test_after_a_bus_outage_every_socket_gets_what_it_missed_once() -> None:
    store = Stored()
    hub = Hub(MemoryBus(), fetch=store.after)
    await hub.start()
    behind, ahead = Connection("board:1", maxsize=50), Connection("board:1", maxsize=50)
    for connection in (behind, ahead):
        await hub.join(connection)
    behind.start("hello", [], head=2)
    ahead.start("hello", [], head=4)
    store.events = [(i, event(i)) for i in range(1, 7)]
    await hub.catch_up()
    got_behind: list[str] = []
    got_ahead: list[str] = []
    await collect(behind, got_behind, 5)
    await collect(ahead, got_ahead, 3)
    assert [json.loads(m)["id"] for m in got_behind[1:]] == [3, 4, 5, 6]
    assert [json.loads(m)["id"] for m in got_ahead[1:]] == [5, 6]
    await hub.stop()


async def test_a_channel_is_subscribed_while_it_has_sockets_and_only_then() -> None:
    bus = MemoryBus()
    hub = Hub(bus, fetch=Stored().after)
    await hub.start()
    sockets = [Connection("group:9", maxsize=5) for _ in range(10)]
    await asyncio.gather(*(hub.join(s) for s in sockets))
    assert hub.connections == 10
    await asyncio.gather(*(hub.leave(s) for s in sockets[:9]))
    sockets[9].start("hello", [], head=0)
    await bus.publish(["group:9"], event(1))
    assert len(sockets[9].queue) == 1
    await hub.leave(sockets[9])
    await bus.publish(["group:9"], event(2))
    assert len(sockets[9].queue) == 1
    assert hub.connections == 0
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


async def test_channels_subscribe_side_by_side_and_a_join_returns_once_in_force() -> None:
    bus = SlowBus()
    hub = Hub(bus, fetch=Stored().after)
    await hub.start()
    sockets = [Connection(f"group:{i % 20}", maxsize=5) for i in range(60)]

    async def join(socket: Connection) -> None:
        await hub.join(socket)
        assert socket.channel in bus.subscribed  # in force before join returns

    await asyncio.gather(*(join(s) for s in sockets))
    assert bus.most_in_flight == 20  # one subscription a channel, all under way together
    assert bus.subscribed == {f"group:{i}" for i in range(20)}
    await hub.stop()


async def test_a_socket_that_leaves_while_its_channel_subscribes_leaves_it_unsubscribed() -> None:
    bus = SlowBus()
    hub = Hub(bus, fetch=Stored().after)
    await hub.start()
    socket = Connection("group:7", maxsize=5)
    joining = asyncio.create_task(hub.join(socket))
    await asyncio.sleep(0)  # the join's subscription is under way
    await hub.leave(socket)
    await joining
    assert bus.subscribed == set()
    assert hub.connections == 0
    await hub.stop()


async def test_a_quiet_socket_hears_a_heartbeat_and_a_busy_one_does_not() -> None:
    hub = Hub(MemoryBus(), fetch=Stored().after, heartbeat_seconds=0.4)
    await hub.start()
    quiet, busy = Connection("group:1", maxsize=50), Connection("group:2", maxsize=50)
    heard: dict[str, list[str]] = {"quiet": [], "busy": []}
    writers = []
    for name, connection in (("quiet", quiet), ("busy", busy)):
        await hub.join(connection)
        connection.start("hello", [], head=0)

        async def send(message: str, into: list[str] = heard[name]) -> None:
            into.append(message)

        writers.append(asyncio.create_task(connection.run(send)))
    for i in range(1, 11):  # the busy socket hears an event every 0.1 s for a second
        await asyncio.sleep(0.1)
        await hub.bus.publish(["group:2"], event(i))
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
    hub = Hub(MemoryBus(), fetch=Stored().after, heartbeat_seconds=0.4)
    quiet = [Connection(f"group:{i % 7}", maxsize=5) for i in range(300)]
    for connection in quiet:
        await hub.join(connection)
        connection.start("hello", [], head=0)
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
