"""`/metrics`: the process's metrics in Prometheus's text format, for its scraper (docs/operate.md,
"Metrics")."""

import hmac
import logging

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from notifier.metrics import Backlog, backlog
from server.accounts import Principals
from server.errors import Forbidden, Unauthenticated, database_away
from server.runtime import readings
from server.settings import Settings
from server.web.deps import Now

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

NOT_ALLOWED = "only staff or the metrics token read the metrics"


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        401: {"description": "no credential, or one that is not known"},
        403: {"description": "a credential that is not staff's"},
    },
)
async def metrics(request: Request, now: Now) -> Response:
    """Presses, latencies, sockets, the bus, the outbox, escalations and the database, in
    Prometheus's text format: with the metrics token (`Authorization: Bearer …`) or a staff
    token; open without one in development while no token is set."""
    await _allowed(request)
    state = request.state
    found: list[Backlog] | None
    try:
        async with state.reads() as session:
            found = await backlog(session, now=now)
    except Exception as exc:
        if database_away(exc) is None:
            raise
        log.warning("metrics: the outbox could not be read: %s", database_away(exc))
        found = None
    pools = {"main": state.engine}
    read_engine = state.reads.kw.get("bind")
    if read_engine is not None and read_engine is not state.engine:
        pools["read"] = read_engine
    settings: Settings = state.settings
    body = readings.render(
        hub=state.hub,
        bus=settings.bus_url.partition(":")[0],
        outbox=found,
        checkpointer=state.checkpointer,
        pools=pools,
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _allowed(request: Request) -> None:
    """The metrics token or a staff token; anyone in development without a token set.
    Refused 401 without a known credential, 403 with another's."""
    settings: Settings = request.state.settings
    token = settings.metrics_token
    if token is None and settings.environment == "development":
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    if not given:
        raise Unauthenticated("no credential: sign in first (or send Authorization: Bearer …)")
    if token is not None and hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return
    principals: Principals = request.state.principals
    principal = await principals.check(given)
    if principal is None:
        raise Unauthenticated("unknown, expired or revoked credential: sign in again")
    if principal.kind != "staff":
        raise Forbidden(NOT_ALLOWED)
