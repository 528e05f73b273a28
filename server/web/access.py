"""One log line per HTTP request, and a request id on every line written while it is served.

A pure ASGI middleware (no `BaseHTTPMiddleware`: no task and no body buffering a request). The
line has the method, the path WITHOUT its query string (which may hold a one-time ticket), the
status, the milliseconds to the last byte and the request id, which is the proxy's
`X-Request-ID` when it sent a plausible one, else a fresh one, and goes back to the client in
the same header. While logging is at WARNING or above the middleware does nothing at all.
"""

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

log = logging.getLogger("tenwatch.access")

HEADER = b"x-request-id"
_PLAUSIBLE = re.compile(rb"[\w.:-]{1,64}")


def request_id(scope: Scope) -> str:
    """The request's id: the proxy's X-Request-ID if it looks like one, else 12 random hex."""
    for name, value in scope.get("headers", ()):
        if name == HEADER and _PLAUSIBLE.fullmatch(value):
            return bytes(value).decode("ascii")
    return os.urandom(6).hex()


class AccessLog:
    """Writes `request` lines: method, path, status, ms, request_id (docs/operate.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id bound to every line, then write its line."""
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        header = (HEADER, rid.encode("ascii"))
        status = 500  # what the client gets if the app raises before it answers
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        tokens = bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            reset_contextvars(**tokens)
