"""Liveness and readiness."""

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from notifier.hub import Hub
from server.accounts import Principals
from server.errors import database_away, in_brief
from server.supervision.supervisor import Supervisor
from server.supervision.watchdog import Watchdog
from server.web import cookies

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "ok or degraded"},
        503: {"description": "unavailable (no database), or draining (stopping: SIGTERM)"},
    },
)
async def readyz(request: Request) -> JSONResponse:
    """The database, the bus, the outbox, the schedulers (and SQLite's checkpoint), the
    watchdog and the supervision's last round: 200 ok, 200 degraded, 503 without a database
    or while the process drains (it is stopping).
    Anyone is told the status alone; staff (`Authorization: Bearer <staff token>`, or a staff
    session's cookie: the board) are told each part's state, the supervision and the sockets."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "bus": "ok"}
    try:
        async with request.state.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        away = database_away(exc)
        said = f"unreachable: {away}" if away else f"error: {in_brief(exc)}"
        body.update(status="unavailable", database=said)
        log.warning("readiness: database %s", said)
    hub: Hub = request.state.hub
    bus_error = await hub.bus.check()
    if bus_error is not None:
        body["bus"] = f"degraded: {bus_error}"
        if body["status"] == "ok":
            body["status"] = "degraded"
    watchdog: Watchdog = request.state.watchdog
    wedged = watchdog.wedged()  # a worker whose loop no longer turns
    for name, worker in watchdog.workers.items():
        error = wedged.get(name, worker.error)
        body[name] = "ok" if error is None else f"degraded: {error}"
        if error is not None and body["status"] == "ok":
            body["status"] = "degraded"
    body["wedged"] = sorted(wedged)
    supervisor: Supervisor = request.state.supervisor  # the last test alarm's legs
    body["supervision"] = supervisor.report()
    if supervisor.said() is not None and body["status"] == "ok":
        body["status"] = "degraded"
    link_error = request.state.devices.check()  # the device link: a lost broker degrades
    if link_error is not None:
        body["devices"] = f"degraded: {link_error}"
        if body["status"] == "ok":
            body["status"] = "degraded"
    body["sockets"] = hub.connections
    # A rolling upgrade reads these: the bus format each process writes, and how often its
    # sockets' events came from the store instead of the bus (docs/operate.md, Upgrades).
    body["stream"] = {
        "bus_format": request.state.settings.bus_format,
        "fills": hub.fills,
        "unreadable": hub.unreadable,
    }
    if request.state.drain.draining:  # SIGTERM: a load balancer sends nothing new here
        body["status"] = "draining"
    code = 503 if body["status"] in ("unavailable", "draining") else 200
    if not await _staff(request):
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=code)


async def _staff(request: Request) -> bool:
    """Whether the request carries a staff member's bearer token or session cookie (read here,
    so that an anonymous probe needs none and a bad one is no error)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get(cookies.SESSION, "")
    if not token.strip():
        return False
    principals: Principals = request.state.principals
    try:
        principal = await principals.check(token.strip())
    except Exception:  # no database: the status says so, the details wait
        return False
    return principal is not None and principal.kind == "staff"
