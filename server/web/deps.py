"""Dependencies routes share: a session per request, and who is asking."""

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from server import accounts, roles
from server.accounts import Principal
from server.errors import Forbidden, Unauthenticated
from server.runtime.work import Work
from server.web import cookies

log = logging.getLogger(__name__)
bearer = HTTPBearer(
    auto_error=False,
    description="A token issued by `tenwatch token` (the pages use the session cookie instead).",
)
CROSS_SITE = (
    "This request may come from another site: reload the page and try again "
    "(a page sends the tw_csrf cookie back in the X-CSRF-Token header)."
)


async def get_session(request: Request) -> AsyncIterator[Work]:
    """This request's unit of work; the route commits, which publishes what it recorded."""
    # Closed here rather than by `async with`, whose exit runs the close in a task of its own
    # so a cancellation cannot cut it short: FastAPI already shields a dependency's exit.
    session: Work = request.state.sessions()
    try:
        yield session
    finally:
        await session.close()


async def get_now(request: Request) -> datetime:
    """Now, by the app's clock."""
    now: datetime = request.state.clock()
    return now


async def get_reads(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads only: on SQLite it reads beside the writer, never taking its lock."""
    session: AsyncSession = request.state.reads()
    try:
        yield session
    finally:
        await session.close()


Session = Annotated[Work, Depends(get_session)]
Reads = Annotated[AsyncSession, Depends(get_reads)]
Now = Annotated[datetime, Depends(get_now)]


_CHECKED = "tenwatch.principal"


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The resident or staff member the bearer token, or else the session cookie, speaks for;
    401 without a valid one, 403 for a cookie's state-changing request another site may have
    made."""
    checked: Principal | None = request.scope.get(_CHECKED)
    if checked is not None:
        return checked
    if credentials is not None:
        token = credentials.credentials
    else:
        token = request.cookies.get(cookies.SESSION, "")
        if not token:
            raise Unauthenticated("no credential: sign in first (or send Authorization: Bearer …)")
        if cookies.cross_site(request, request.method):
            raise Forbidden(CROSS_SITE)
    principals: accounts.Principals = request.state.principals
    # Its own short read, with the other requests' that came together (one query for them
    # all): the request's session holds no connection while the route waits (a press waits for
    # its community's batch, which needs one), and on SQLite it reads beside the writer.
    principal = await principals.check(token)
    if principal is None:
        raise Unauthenticated("unknown, expired or revoked credential: sign in again")
    request.scope[_CHECKED] = principal
    return principal


async def authorize(request: Request) -> None:
    """The role table's word on this route (`server/roles.py`), before anything else of the
    request is read: a public route passes; any other needs a principal holding one of its
    roles (401 without one, 403 with the wrong ones). A route without a row is refused."""
    route = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    key = (method, getattr(route, "path", ""))
    if key not in roles.ROUTES:
        log.error("no row in the role table for %s %s: refused", *key)
        raise Forbidden("this route has no row in the role table")
    rule = roles.ROUTES[key]
    if rule is roles.PUBLIC:
        return
    principal = await get_principal(request, await bearer(request))
    if not roles.allowed(rule, principal):
        held = ", ".join(sorted(roles.roles_of(principal))) or "nobody"
        raise Forbidden(roles.NOT_YOURS, roles=", ".join(sorted(rule)), held=held)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
