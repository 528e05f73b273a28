"""MQTT for the tests: the shared Mosquitto on 127.0.0.1:1883, a private one (with persistence
in a folder, to restart mid-test), and a client that plays a button or listens as a siren."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

SHARED = ("127.0.0.1", 1883)


def answers(host: str, port: int) -> bool:
    """Whether a broker listens at host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def shared_broker() -> str:
    """The machine's Mosquitto's URL (the test is skipped without one)."""
    if not answers(*SHARED):
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (.ci/run starts one)")
    return f"mqtt://{SHARED[0]}:{SHARED[1]}"


def prefix() -> str:
    """A topic prefix of this test alone (the shared broker serves other tests too)."""
    return f"tw-test-{uuid.uuid4().hex[:10]}"


class Broker:
    """A private Mosquitto that keeps its sessions in a folder across restarts."""

    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self.url = f"mqtt://127.0.0.1:{port}"
        self._config = folder / "mosquitto.conf"
        data = folder / "data"
        data.mkdir(exist_ok=True)
        self._config.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 1\n" + (f"user {getpass.getuser()}\n" if os.geteuid() == 0 else "")
            # As root, Mosquitto drops to the `mosquitto` user, who cannot write in a test's
            # private folder: stay the user we are.
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it listens."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._process = subprocess.Popen(
            [binary, "-c", str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", self.port):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("the private mosquitto did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM: it writes its sessions to disk first)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@contextmanager
def private_broker(folder: Path, port: int) -> Iterator[Broker]:
    """A private broker on port, stopped at the end."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    broker = Broker(folder, port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@asynccontextmanager
async def device(url: str, *listening: str) -> AsyncIterator[Device]:
    """A test client on the broker at url: a button that presses, a siren that listens."""
    host, _, port = url.removeprefix("mqtt://").partition(":")
    async with aiomqtt.Client(
        host, int(port or 1883), identifier=f"tw-dev-{uuid.uuid4().hex}"
    ) as c:
        for topic in listening:
            await c.subscribe(topic, qos=1)
        yield Device(c)


class Device:
    """What a test does on the broker."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client

    async def say(self, topic: str, payload: Any) -> None:
        """Publish as a device would (QoS 1)."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(topic, text, qos=1)

    async def heard(self, timeout: float = 5.0) -> tuple[str, Any]:
        """The next message on the listened topics: (topic, JSON payload)."""
        async with asyncio.timeout(timeout):
            message = await anext(aiter(self.client.messages))
        raw = message.payload
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return message.topic.value, json.loads(text)

    async def quiet(self, seconds: float = 0.5) -> bool:
        """True if nothing arrives within seconds."""
        try:
            await self.heard(seconds)
        except TimeoutError:
            return True
        return False
