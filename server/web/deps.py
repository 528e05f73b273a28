"""Dependencies routes share: a session per request, and who is asking."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from server import accounts
from server.accounts import Principal
from server.errors import Forbidden, Unauthenticated
from server.runtime.work import Work
from server.web import cookies

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


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The resident or staff member the bearer token, or else the session cookie, speaks for;
    401 without a valid one, 403 for a cookie's state-changing request another site may have
    made."""
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
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
