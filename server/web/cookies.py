"""The pages' credential: a session cookie the browser keeps (HttpOnly, so no script reads it)
and a second, readable cookie that a page echoes in a header on every state-changing request
(double submit: a cross-site page can make the browser send the cookies, not read them)."""

import secrets
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION = "tw_session"
CSRF = "tw_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def secure(connection: HTTPConnection, *, public_base_url: str) -> bool:
    """Whether the cookies must only travel over https: behind https, or asked over it."""
    return public_base_url.startswith("https://") or connection.url.scheme in ("https", "wss")


def give(response: Response, *, token: str, expires_at: datetime, secure: bool) -> None:
    """Set the session cookie and its CSRF companion, both ending with the session."""
    response.set_cookie(
        SESSION, token, expires=expires_at, path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.set_cookie(
        CSRF,
        secrets.token_urlsafe(18),
        expires=expires_at,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def take_back(response: Response, *, secure: bool) -> None:
    """Clear both cookies (signed out, or a session that is no more)."""
    for name in (SESSION, CSRF):
        response.delete_cookie(name, path="/", secure=secure, httponly=name == SESSION)


def same_origin(connection: HTTPConnection) -> bool:
    """Whether an Origin the browser sent (if any) is this service's own host."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    host = connection.headers.get("host", "")
    return origin.partition("://")[2].rstrip("/") == host


def cross_site(connection: HTTPConnection, method: str) -> bool:
    """Whether a request authenticated by the cookie may have been made by another site: a
    state-changing one without the CSRF cookie echoed in its header, or from another origin."""
    if method in SAFE_METHODS:
        return False
    echoed = connection.headers.get(CSRF_HEADER, "")
    expected = connection.cookies.get(CSRF, "")
    if not expected or not secrets.compare_digest(echoed, expected):
        return True
    return not same_origin(connection)
