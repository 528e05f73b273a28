"""The app factory and its lifespan, which owns every client the service uses."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.types import Receive, Scope, Send

from notifier.bus import create_bus
from notifier.devices import DeviceLink
from notifier.hub import Hub
from notifier.outbox import OutboxWorker
from notifier.policy import OutboxPolicy
from notifier.push import PushSender, create_push_sender
from notifier.sms import SmsSender, create_sender
from notifier.verify import Verifier, create_verifier
from server import errors
from server.accounts import Principals
from server.alarms import buttons, events
from server.alarms.batch import Presses
from server.alarms.escalation import Scheduler
from server.errors import Refusal, TooMany, Unavailable
from server.phone import delivery, inbound
from server.reach.presence import Presence
from server.rollcall.scheduler import Scheduler as RollCallScheduler
from server.runtime import work
from server.runtime.checkpoint import Checkpointer
from server.runtime.clock import Clock, system_clock
from server.runtime.drain import Drain
from server.runtime.heap import Heap
from server.runtime.work import Announcer, Work
from server.settings import Settings, get_settings, hidden
from server.signin import revocation
from server.supervision.supervisor import Supervisor
from server.supervision.watchdog import Watchdog
from server.web import deps, invalid
from server.web.access import AccessLog
from server.web.routes import (
    admin,
    alerts,
    hardware,
    health,
    metrics,
    pages,
    plan,
    push,
    register,
    reports,
    rollcall,
    signin,
    steps,
    stream,
    twilio,
)
from server.web.routes import app as resident_app
from server.web.routes import recipients as recipient_table
from server.web.security import SecurityHeaders
from storage.db import AsyncSession, create_engine, create_sessionmaker, is_sqlite

log = logging.getLogger(__name__)


class State(TypedDict):
    """What the lifespan yields; routes read it from request.state."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[Work]
    reads: async_sessionmaker[AsyncSession]
    hub: Hub
    sender: SmsSender
    push: PushSender
    outbox: OutboxWorker
    clock: Clock
    scheduler: Scheduler
    principals: Principals
    checkpointer: Checkpointer | None
    presses: Presses
    verifier: Verifier
    presence: Presence
    devices: DeviceLink
    drain: Drain
    supervisor: Supervisor
    watchdog: Watchdog


def _sender(settings: Settings) -> SmsSender:
    token = settings.twilio_auth_token
    return create_sender(
        settings.sms_url,
        account_sid=settings.twilio_account_sid,
        auth_token=token.get_secret_value() if token else None,
        from_=settings.twilio_from,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        voice_from=settings.twilio_voice_from,
        api_url=settings.twilio_api_url,
    )


def _push(settings: Settings) -> PushSender:
    key = settings.vapid_private_key
    return create_push_sender(
        settings.push_url,
        private_key=key.get_secret_value() if key else None,
        subject=settings.vapid_subject,
        allow_http=settings.push_allow_http,
    )


def _verifier(settings: Settings) -> Verifier:
    token = settings.twilio_auth_token
    return create_verifier(
        settings.verify_url,
        account_sid=settings.twilio_account_sid,
        auth_token=token.get_secret_value() if token else None,
        service_sid=settings.twilio_verify_service_sid,
        api_url=settings.twilio_api_url,
    )


REVOKED = "signed out: this session was revoked"


async def _hear_revocations(hub: Hub, principals: Principals) -> None:
    """On every process, a revocation forgets the credentials and closes their sockets."""

    def hear(message: str) -> None:
        revoked = set(revocation.parse(message))
        if revoked:
            principals.forget(revoked)
            hub.end(lambda connection: connection.credential in revoked, REVOKED)

    await hub.listen(revocation.CHANNEL, hear)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    """Open the database, the bus, the SMS sender, the outbox worker and the escalation
    scheduler; close them in reverse."""
    settings: Settings = app.state.settings
    path = make_url(settings.database_url).database if is_sqlite(settings.database_url) else None
    checkpoint = bool(path) and path != ":memory:" and settings.sqlite_checkpoint_seconds > 0
    pool: dict[str, Any] = (
        {}
        if is_sqlite(settings.database_url)
        else {
            "pool_timeout": settings.database_pool_seconds,
            "connect_args": {"timeout": settings.database_connect_seconds},
        }
    )
    engine = create_engine(settings.database_url, autocheckpoint=not checkpoint, **pool)
    # Reads that need no write lock (credentials, a socket's replay) on SQLite go through
    # connections of their own, beside the one writer; PostgreSQL's pool serves both.
    read_engine = (
        create_engine(settings.database_url, read_only=True)
        if path and path != ":memory:"
        else engine
    )
    reads = create_sessionmaker(read_engine)

    bus = create_bus(settings.bus_url)
    announce = Announcer(bus.publish_all, writes=settings.bus_format)
    sessions = work.sessionmaker(engine, publish=announce)
    hub = Hub(
        bus,
        store=events.Reader(reads),
        heartbeat_seconds=settings.ws_heartbeat_seconds,
        send_timeout_seconds=settings.ws_send_timeout_seconds,
        check_seconds=settings.stream_check_seconds,
        degraded_check_seconds=settings.stream_degraded_check_seconds,
    )
    checkpointer = (
        Checkpointer(
            engine,
            str(path),
            poll_seconds=settings.sqlite_checkpoint_seconds,
            restart_frames=settings.sqlite_restart_frames,
        )
        if checkpoint
        else None
    )
    await hub.start()
    sender = _sender(settings)
    pusher = _push(settings)
    clock: Clock = app.state.clock
    devices = buttons.create_link(settings)  # buttons, sirens and loudspeakers (docs/devices.md)
    outbox = OutboxWorker(
        sessions,
        sender,
        policy=OutboxPolicy(
            poll_seconds=settings.outbox_poll_seconds,
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.outbox_lease_seconds,
            concurrency=settings.sms_concurrency,
            status_callback=(
                inbound.public_url(settings.public_base_url, path="/twilio/status")
                if settings.sms_url == "twilio://"
                else None
            ),
            rate_per_second=settings.sms_rate_per_second,
            rate_burst=settings.sms_rate_burst,
        ),
        on_failed=lambda jobs: delivery.publish_failures(sessions, jobs, now=clock()),
        render_call=lambda job: inbound.voice_callout(
            job, public_base_url=settings.public_base_url
        ),
        push=pusher,
        devices=devices,
        clock=clock,
    )
    outbox.start()
    announce.wake = outbox.wake
    scheduler = Scheduler(sessions, clock=clock, poll_seconds=settings.scheduler_poll_seconds)
    scheduler.start()
    rollcalls = RollCallScheduler(
        sessions, clock=clock, poll_seconds=settings.scheduler_poll_seconds
    )
    rollcalls.start()  # the roll calls' call-out deadlines (server/rollcall)
    heap = Heap(freeze_seconds=settings.gc_freeze_seconds, full_seconds=settings.gc_full_seconds)
    if settings.gc_freeze_seconds > 0:
        heap.start()
    if checkpointer is not None:
        checkpointer.start()
    presses = Presses(sessions, wait_seconds=settings.press_wait_seconds, arrivals=hub.arrivals)
    await devices.start(buttons.Buttons(sessions, presses=presses, link=devices, clock=clock).hear)
    principals = Principals(seconds=settings.principal_cache_seconds, reads=reads, now=clock)
    await _hear_revocations(hub, principals)
    presence = Presence(sessions, clock=clock)  # who has the app open, for reachability
    await presence.start(hub)
    verifier = _verifier(settings)
    drain = Drain(hub, seconds=settings.drain_seconds)  # SIGTERM: sockets first (drain.py)
    drain.install()
    # The alarm path's own test alarm and the workers' watchdog (docs/operate.md, Supervision).
    watched = {"outbox": outbox, "scheduler": scheduler, "rollcall": rollcalls}
    watchdog = Watchdog(
        watched if checkpointer is None else {**watched, "checkpoint": checkpointer},
        floor_seconds=settings.watchdog_seconds,
    )
    watchdog.start()
    supervisor = Supervisor(
        sessions,
        hub=hub,
        clock=clock,
        interval_seconds=settings.supervision_seconds,
        deadline_seconds=settings.supervision_deadline_seconds,
        to=settings.supervision_to,
    )
    await supervisor.start()
    log.info(
        "TenWatch ready: database %s, bus %s, sms %s",
        engine.url.render_as_string(hide_password=True),
        hidden(settings.bus_url),
        settings.sms_url,
    )
    try:
        yield State(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reads=reads,
            hub=hub,
            sender=sender,
            push=pusher,
            outbox=outbox,
            clock=clock,
            scheduler=scheduler,
            principals=principals,
            checkpointer=checkpointer,
            presses=presses,
            verifier=verifier,
            presence=presence,
            devices=devices,
            drain=drain,
            supervisor=supervisor,
            watchdog=watchdog,
        )
    finally:
        drain.uninstall()
        await supervisor.stop()
        await watchdog.stop()
        await devices.close()
        await presses.stop()
        await verifier.close()
        if checkpointer is not None:
            await checkpointer.stop()
        await heap.stop()
        await rollcalls.stop()
        await scheduler.stop()
        await outbox.stop()
        await sender.close()
        await pusher.close()
        await presence.stop()
        await hub.stop()
        await engine.dispose()
        if read_engine is not engine:
            await read_engine.dispose()


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """Any refusal of the family, as its status and its sentence."""
    assert isinstance(exc, Refusal)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooMany):
        headers = {"Retry-After": str(exc.retry_after)}
    # The pages name their language (Accept-Language: zh / en); a client that names none
    # reads the sentence as raised.
    wanted = request.headers.get("accept-language")
    sentence = exc.say(wanted) if wanted else exc.sentence
    return JSONResponse({"detail": sentence}, status_code=exc.status, headers=headers)


async def database_away(request: Request, exc: Exception) -> Response:
    """A database that can't be reached, as Unavailable with a sentence (a press is told its
    alarm may not be stored, and what to do; a call or text to an alarm number hears it in
    TwiML); any other database error is re-raised, a 500 in the log."""
    if invalid.out_of_range(exc):
        return await invalid.too_large(request, exc)
    reason = errors.database_away(exc)
    if reason is None:
        raise exc
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, reason)
    phoned = twilio.outage_answer(request)  # a call or text to an alarm number: TwiML
    if phoned is not None:
        return phoned
    pressed = request.scope.get("endpoint") is alerts.create
    sentence = errors.PRESS_NOT_STORED if pressed else errors.DATABASE_AWAY
    return await refused(request, Unavailable(sentence))


class App(FastAPI):
    """The service: FastAPI, with the live stream (`/ws`) handed over at the ASGI entry, ahead
    of FastAPI's, Starlette's and the error middleware's layers, which would otherwise stay on
    every socket's stack for its life (≈ 2 KiB a socket, bench/README.md)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve `/ws` as the stream; everything else as FastAPI does."""
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await stream.serve(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    """Build the TenWatch app for the given settings (the environment's by default); every
    deadline is measured by the given clock."""
    settings = settings or get_settings()
    docs = settings.docs_enabled  # Swagger and ReDoc load from a CDN: development only
    app = App(
        title="TenWatch 十户联防",
        summary="One household asks, many come: ten-household joint-defence alerts.",
        lifespan=lifespan,
        dependencies=[Depends(deps.authorize)],
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.add_middleware(SecurityHeaders, hsts=settings.public_base_url.startswith("https://"))
    app.add_middleware(AccessLog)  # a line a request, the request id on every line (not /ws)
    app.state.settings = settings
    app.state.clock = clock
    routers = (health, alerts, steps, admin, pages, twilio, signin, register, push, resident_app)
    app.include_router(rollcall.router)
    app.include_router(hardware.router)  # buttons and sirens (docs/devices.md)
    for module in routers:
        app.include_router(module.router)
    app.include_router(signin.pages)
    app.include_router(plan.router)
    app.include_router(plan.page)
    app.include_router(reports.router)  # the monthly report and its page
    app.include_router(recipient_table.router)
    app.include_router(metrics.router)  # for Prometheus (docs/operate.md, "Metrics")
    app.add_exception_handler(Refusal, refused)
    app.add_exception_handler(RequestValidationError, invalid.invalid_request)
    app.add_exception_handler(OverflowError, invalid.too_large)
    invalid.document(app)
    app.add_exception_handler(sa_exc.DBAPIError, database_away)
    app.add_exception_handler(sa_exc.TimeoutError, database_away)
    return app
