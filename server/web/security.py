"""Security headers on every HTTP answer: a content security policy, no framing, no MIME
sniffing, no referrer, and HSTS when the service is public over https.

A pure ASGI middleware (it only adds headers to `http.response.start`), so it costs a press one
function call and never sits on a websocket's stack: `/ws` is handed over before FastAPI's
layers (server/web/app.py `App.__call__`), this one included."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The pages (server/web/static/*.html) still carry inline scripts and styles, hence
# 'unsafe-inline' for both; once they move into files of their own it goes, and script-src is
# 'self' alone. Everything else is this origin's only: the stream is a same-origin websocket
# (CSP 3 counts ws:/wss: of this host as 'self'), the icon a data: URL.
PAGES_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# FastAPI's Swagger and ReDoc pages (development only) load their code from a CDN.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Add the security headers to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
        ]
        if hsts:
            common.append(("Strict-Transport-Security", HSTS))
        self.pages = [*common, ("Content-Security-Policy", PAGES_CSP)]
        self.docs = [*common, ("Content-Security-Policy", DOCS_CSP)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding the headers to its response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.docs if scope["path"] in DOCS_PATHS else self.pages

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
