"""A local stand-in for browsers' push services (Web Push, RFC 8030) on loopback, for the real
pywebpush: it checks each push's VAPID signature (RFC 8292) and decrypts its aes128gcm body
(RFC 8291/8188) with the keys of the "browser" that subscribed.

    with FakePush() as fake:
        subscription = fake.subscribe()      # what a browser's PushSubscription.toJSON() gives
        ...                                  # the app pushes to subscription["endpoint"]
        assert fake.received[0].payload["type"] == "alert"

A push whose Authorization is not `vapid t=<JWT>, k=<key>` signed with that key (ES256),
whose `aud` is not the endpoint's origin, whose `exp` is past (or more than 24 h away) or that
has no `sub` is refused 403 and kept in `refused`; one that does not decrypt is refused 400.
`fake.gone(endpoint)` makes the service answer 410 for a subscription from then on;
`fake.fail_next(status)` scripts the next answer.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64(data: bytes) -> str:
    """base64url without padding, as browsers write keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """base64url, padded or not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Browser:
    """One subscribed browser: its keys, as a browser makes them."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def to_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
        }


@dataclass(frozen=True, slots=True)
class Received:
    """One push the service took, decrypted."""

    endpoint: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


def check_vapid(authorization: str, *, origin: str) -> dict[str, Any]:
    """The claims of a valid VAPID Authorization header for this origin; ValueError if not."""
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"not a vapid authorization: {scheme!r}")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    token, key = parts["t"], parts["k"]
    signed, _, signature = token.rpartition(".")
    header = json.loads(unb64(signed.split(".")[0]))
    if header.get("alg") != "ES256":
        raise ValueError(f"alg {header.get('alg')!r}")
    claims: dict[str, Any] = json.loads(unb64(signed.split(".")[1]))
    raw = unb64(signature)
    if len(raw) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, signed.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("bad signature") from None
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    now = time.time()
    if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
        raise ValueError(f"exp {claims.get('exp')!r}")
    if not claims.get("sub"):
        raise ValueError("no sub")
    return claims


class FakePush:
    """The stand-in push service (see the module)."""

    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.refused: list[tuple[str, str]] = []
        self._gone: set[str] = set()
        self._script: deque[int] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = fake._take(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{fake.url}/messages/{secrets.token_hex(8)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def subscribe(self) -> dict[str, Any]:
        """A new browser's subscription to this service, as `toJSON()` gives it."""
        browser = Browser(
            endpoint=f"{self.url}/push/{secrets.token_urlsafe(16)}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
        )
        self.browsers[browser.endpoint] = browser
        return browser.to_json()

    def gone(self, endpoint: str) -> None:
        """From now on, answer 410 Gone for this subscription."""
        self._gone.add(endpoint)

    def fail_next(self, status: int) -> None:
        """Answer the next push with this status."""
        self._script.append(status)

    def to(self, endpoint: str) -> list[Received]:
        """The pushes taken for one subscription, in order."""
        return [r for r in self.received if r.endpoint == endpoint]

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        endpoint = self.url + path
        browser = self.browsers.get(endpoint)
        if browser is None or endpoint in self._gone:
            return 410 if endpoint in self._gone else 404
        if self._script:
            return self._script.popleft()
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            claims = check_vapid(lower.get("authorization", ""), origin=self.url)
        except (ValueError, KeyError) as exc:
            self.refused.append((endpoint, f"vapid: {exc}"))
            return 403
        if lower.get("content-encoding") != "aes128gcm" or "ttl" not in lower:
            self.refused.append((endpoint, "no aes128gcm or no TTL"))
            return 400
        try:
            clear = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
            payload = json.loads(clear)
        except Exception as exc:
            self.refused.append((endpoint, f"decrypt: {exc!r}"))
            return 400
        with self._lock:
            self.received.append(Received(endpoint, payload, lower, claims))
        return 201

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
