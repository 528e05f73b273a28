"""A hollow TenWatch for `python -m bench --hollow`: the service's stack without the service.

The same uvicorn and flags, a press route of the same shape (a bearer credential, a validated
body, a response model), the same hub, Redis bus, socket writer and collector worker
(`server.runtime.heap`), and no database and no alarm logic: a press publishes one event of the real
wire form to its group and its board. What a run costs here is the floor under the service's
own work at that rate. The credentials come from a JSON file (`TENWATCH_HOLLOW_TOKENS`: token →
its channel, and a household's board) that the bench writes from its seed. Event ids are
counted in the process, so it runs as one worker.
"""

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from notifier.bus import create_bus
from notifier.connection import Connection
from notifier.hub import Hub, community_channel, seal
from server.runtime.heap import Heap
from server.web.routes.stream import _read, _write

if TYPE_CHECKING:  # the served app does not import the seed's modules
    from bench.seed import Seeded

QUEUE = 64
HEARTBEAT_SECONDS = 20.0
bearer = HTTPBearer(auto_error=False)


class HelpRequest(BaseModel):
    """A press of the help button, as the service takes it."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["help", "medical", "fire", "intrusion", "dispute", "other"] = "help"


class Raised(BaseModel):
    """The answer to a press: the event it published."""

    event_id: int
    status: str


async def get_holder(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> list[str]:
    """The channels a press by this credential reaches: its group's and its board's."""
    tokens: dict[str, list[str]] = request.app.state.tokens
    found = tokens.get(credentials.credentials) if credentials is not None else None
    if found is None:
        raise HTTPException(401, "unknown credential")
    return found


def options(seeded: "Seeded", workdir: Path) -> dict[str, Any]:
    """procs.start_server's arguments that serve this app on the seeded credentials: each
    token's channel (and a household's board) in a file it reads."""
    board = f"board:{seeded.community_id}"
    tokens = {token: [f"group:{group}", board] for token, group in seeded.households}
    tokens.update({token: [board] for token in seeded.boards})
    path = workdir / "hollow-tokens.json"
    path.write_text(json.dumps(tokens))
    return {"app": "bench.hollow:create_app", "env": {"TENWATCH_HOLLOW_TOKENS": str(path)}}


def create_app() -> FastAPI:
    """The hollow app (a uvicorn factory)."""
    with open(os.environ["TENWATCH_HOLLOW_TOKENS"], encoding="utf-8") as source:
        tokens: dict[str, list[str]] = json.load(source)
    bus = create_bus(os.environ.get("TENWATCH_REDIS_URL") or "memory://")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(bus, store=_Nothing(), heartbeat_seconds=HEARTBEAT_SECONDS)
        heap = Heap(freeze_seconds=1.0, full_seconds=3600.0)  # the service's default treatment
        await hub.start()
        heap.start()
        app.state.hub, app.state.tokens, app.state.ids = hub, tokens, itertools.count(1)
        yield
        await heap.stop()
        await hub.stop()

    app = FastAPI(lifespan=lifespan)
    app.add_api_route("/readyz", ready)
    app.add_api_route("/api/alerts", press, methods=["POST"], status_code=201)
    app.add_api_websocket_route("/ws", stream)
    return app


class _Nothing:
    """No event store: the hub's gaps (none on one worker) are filled with nothing."""

    async def heads(self, community_ids: object) -> dict[int, int]:
        return {}

    async def community_after(self, *args: object) -> list[tuple[int, tuple[str, ...], str]]:
        return []

    async def channel_after(self, *args: object) -> list[tuple[int, str]]:
        return []


async def ready() -> dict[str, str]:
    """Always ready."""
    return {"status": "ok"}


async def press(
    body: HelpRequest, request: Request, channels: Annotated[list[str], Depends(get_holder)]
) -> Raised:
    """Publish one event of a press to the holder's group and board."""
    event_id = next(request.app.state.ids)
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event = {
        "id": event_id,
        "type": "alert.raised",
        "alert_id": event_id,
        "community_id": 1,
        "group_id": int(channels[0].split(":")[1]),
        "at": at,
        "actor": "resident:1",
        "channel": "app",
        "data": {"status": "open", "alert_type": body.type, "household": "B1-1-101"},
    }
    wire = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    message = seal(event_id - 1, channels, wire)  # ids are counted here: each follows the last
    await request.app.state.hub.bus.publish_all([((community_channel(1),), message)])
    return Raised(event_id=event_id, status="open")


async def stream(websocket: WebSocket) -> None:
    """A socket hears its token's channel, behind the hub's bounded queue."""
    await websocket.accept()
    channels = websocket.app.state.tokens.get(websocket.query_params.get("token", ""))
    if channels is None:
        await websocket.close(1008, "unknown credential")
        return
    hub: Hub = websocket.app.state.hub
    connection = Connection(channels[0], community_id=1, maxsize=QUEUE)
    await hub.join(connection)
    hello = {"type": "hello", "channel": connection.channel, "last_event_id": 0}
    connection.start(json.dumps(hello, separators=(",", ":")), [], head=0, at=0, more=False)

    reader = asyncio.create_task(_read(websocket, connection))  # the service's own loop
    try:
        await _write(websocket, connection, hub)
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await hub.leave(connection)
