"""The live stream: a resident's socket hears its group, a patrol socket its board."""

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketState

from notifier.connection import Connection, Event
from notifier.hub import Hub
from server import accounts
from server.accounts import Principal
from server.alarms import events
from server.alarms.events import PAGE
from server.errors import database_away
from server.runtime.drain import RECONNECT
from server.signin import tickets
from server.web import cookies

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013
CLOSE_SECONDS = 60.0


NO_DATABASE = "the service cannot reach its database just now: reconnect with last_event_id"

PROTOCOLS = (1, 2)
"""The stream protocol versions this server speaks (docs/protocol.md, Versions): 2's hello
leaves out `truncated`. A client that asks for none is answered in 1, the protocol of the
clients from before versions."""


class Refused(Exception):
    """The socket may not be served; the message says why."""


def _credential(scope: Scope) -> tuple[str, str, str | None]:
    """How the socket's request says who it is — ("bearer", token), ("cookie", token) or
    ("ticket", ticket) — and its raw last_event_id, read off its scope: the parsed headers and
    query a WebSocket caches would live as long as the socket. A token in the query is not
    read: URLs end up in access logs."""
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    resume = query.get("last_event_id")
    cookie = origin = host = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            if header.lower().startswith("bearer "):
                return "bearer", header[7:].strip(), resume
        elif name == b"cookie":
            cookie = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    if "ticket" in query:
        return "ticket", query["ticket"], resume
    if cookie is not None:
        jar = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(cookie)
        session = jar.get(cookies.SESSION)
        if session is not None and session.value:
            # A browser sends the cookie with a socket any site opens: only this origin's count.
            if origin is not None and origin.partition("://")[2].rstrip("/") != host:
                raise Refused("a socket from another site: open it from this service's pages")
            return "cookie", session.value, resume
    return "none", "", resume


def _protocol(scope: Scope) -> int:
    """The protocol the socket is answered in: the highest this server speaks that is no
    higher than the one the client asks for (`?protocol=N` or a `TenWatch-Protocol: N`
    header), 1 when it asks for none."""
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    raw = query.get("protocol")
    if raw is None:
        raw = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"tenwatch-protocol"), None
        )
    if raw is None:
        return PROTOCOLS[0]
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < PROTOCOLS[0]:
        raise Refused(f"protocol must be an integer of at least {PROTOCOLS[0]}, not {raw[:30]!r}")
    return min(int(raw), PROTOCOLS[-1])


def _resume_point(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise Refused(f"last_event_id must be a non-negative integer, not {raw[:30]!r}")
    return int(raw)


async def _principal(state: Any, how: str, secret: str) -> Principal | None:
    if how == "ticket":
        now = state.clock()
        async with state.sessions() as session:
            credential_id = await tickets.redeem(session, ticket=secret, now=now)
            await session.commit()
        if credential_id is None:
            raise Refused("that ticket is unknown, used or ended: ask for a new one")
        async with state.reads() as session:
            return await accounts.by_credential(session, credential_id, now=now)
    if how == "none":
        return None
    found: Principal | None = await state.principals.check(secret)
    return found


async def _admit(scope: Scope, state: Any) -> tuple[str, int, int | None, int]:
    """Who the socket is for: its channel (interned: thousands of sockets share a few), its
    community, where it resumes from and its credential. Everything the check held (its
    session, the principal) ends here, not with the socket."""
    how, secret, raw = _credential(scope)
    resume_from = _resume_point(raw)
    principal = await _principal(state, how, secret)
    if principal is None:
        raise Refused("sign in first (the session cookie, Authorization, or ?ticket=…)")
    if principal.kind == "resident" and principal.group_id is None:
        raise Refused("your household is not in a group yet")
    if resume_from is not None:
        async with state.reads() as session:
            newest = await events.head(session)
        if resume_from > newest:
            raise Refused(f"unknown last_event_id {resume_from}: the newest event is {newest}")
    channel = sys.intern(principal.channel)
    return channel, principal.community_id, resume_from, principal.credential_id or 0


async def _greet(
    state: Any, connection: Connection, resume_from: int | None, *, protocol: int
) -> None:
    """Put the hello (in the socket's protocol) and the first page of the replay in front of
    the connection's queue."""
    replay, head, replayed = await _replay(state.reads, connection.channel, resume_from)
    hello: dict[str, Any] = {
        "type": "hello",
        "protocol": protocol,
        "channel": connection.channel,
        "last_event_id": head,
        "replayed": replayed,
        "heartbeat": state.settings.ws_heartbeat_seconds,
    }
    if protocol == 1:
        hello["truncated"] = False  # never, now that a replay is paged: protocol 1 has it
    connection.start(
        json.dumps(hello, separators=(",", ":")),
        replay,
        head=head,
        at=head if resume_from is None else resume_from,
        more=replayed > len(replay),
    )


async def _replay(
    sessions: async_sessionmaker[AsyncSession], channel: str, resume_from: int | None
) -> tuple[Sequence[Event], int, int]:
    """What a joining socket is owed: the first page of the events after resume_from, the
    channel's newest event (where the replay ends) and how many events the whole replay is;
    the socket's writer reads the pages after the first from the store itself."""
    async with sessions() as session:
        if resume_from is None:
            return [], await events.head(session, channel=channel), 0
        first = await events.after(session, channel=channel, event_id=resume_from, limit=PAGE)
        if len(first) < PAGE:
            return first, first[-1][0] if first else resume_from, len(first)
        head = await events.head(session, channel=channel)
        replayed = await events.count(session, channel=channel, after=resume_from, upto=head)
        return first, head, replayed


async def _write(websocket: WebSocket, connection: Connection, hub: Hub) -> None:
    """Send the connection's messages from this (the socket's own) task until the client goes
    or is dropped. One task fewer per socket than a separate writer: a drop cancels this task
    to break a send stuck on a client that does not read."""
    task = asyncio.current_task()
    assert task is not None
    connection.on_drop = task.cancel
    try:
        await connection.run(websocket.send_text, hub.page)
    except asyncio.CancelledError:
        if not connection.dropped or task.uncancel() > 0:
            raise  # a cancellation that is not ours
    finally:
        connection.on_drop = None


async def _read(websocket: WebSocket, connection: Connection) -> None:
    """Wait for the client to go (a client says nothing else), then end the connection."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        connection.close()


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    """The stream as a plain ASGI app: the service's app hands `/ws` here before any of its
    layers (a socket lives for hours, and every layer it passed through stays on its stack:
    memory per socket)."""
    await stream(WebSocket(scope, receive, send))


async def stream(websocket: WebSocket) -> None:
    """Events of your scope, live; ?last_event_id=N first replays every event after N;
    ?protocol=N asks for a protocol version."""
    await websocket.accept()
    state = websocket.state
    hub: Hub = state.hub
    if state.drain.draining:  # this process is stopping: another one serves the socket
        await websocket.close(SERVICE_RESTART, RECONNECT)
        return
    try:
        protocol = _protocol(websocket.scope)
        channel, community_id, resume_from, credential = await _admit(websocket.scope, state)
    except Refused as exc:
        log.info("socket refused", extra={"why": str(exc)})
        await websocket.close(POLICY_VIOLATION, str(exc))
        return
    except Exception as exc:
        if database_away(exc) is None:
            raise
        await websocket.close(TRY_AGAIN_LATER, NO_DATABASE)
        return

    connection = Connection(
        channel,
        community_id=community_id,
        maxsize=state.settings.ws_queue_size,
        credential=credential,
    )
    opened = time.monotonic()
    log.info("socket open", extra={"socket": channel.partition(":")[0], "community": community_id})
    reader: asyncio.Task[None] | None = None
    try:
        await hub.join(connection)
        state.presence.arrive(connection)  # reachability: written on change, not per event
        await _greet(state, connection, resume_from, protocol=protocol)
        reader = asyncio.create_task(_read(websocket, connection))
        await _write(websocket, connection, hub)
    except WebSocketDisconnect:
        pass
    except Exception as exc:
        if database_away(exc) is None or websocket.client_state != WebSocketState.CONNECTED:
            raise
        with contextlib.suppress(Exception):
            await websocket.close(TRY_AGAIN_LATER, NO_DATABASE)
    finally:
        if reader is not None:
            reader.cancel()
        if connection.ended is not None and websocket.client_state == WebSocketState.CONNECTED:
            # Before leaving the hub: a drain waits for the hub to be empty, then the server
            # cuts what is left.
            code = SERVICE_RESTART if connection.ended == RECONNECT else POLICY_VIOLATION
            with contextlib.suppress(Exception):
                await websocket.close(code, connection.ended)
        state.presence.depart(connection)
        await hub.leave(connection)
        if connection.dropped and websocket.client_state == WebSocketState.CONNECTED:
            # The close frame follows what was sent, so a client that reads again gets all of
            # it and then the position to resume from. One that never does is given up on
            # after CLOSE_SECONDS (uvicorn's pings give up on a dead one sooner), and uvicorn
            # closes the transport when this returns.
            reason = f"too slow: resume with last_event_id={connection.sent}"
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await websocket.close(TRY_AGAIN_LATER, reason)
        _log_closed(connection, seconds=time.monotonic() - opened)


def _log_closed(connection: Connection, *, seconds: float) -> None:
    """The `socket closed` line: its kind, how long it was open, and why it ended."""
    why = connection.ended or ("too slow" if connection.dropped else "client or server")
    kind = connection.channel.partition(":")[0]
    log.info("socket closed", extra={"socket": kind, "seconds": round(seconds, 1), "why": why})
