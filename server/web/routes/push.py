"""Web Push: a resident's device subscribes to the app's notifications, and an alarm
notification's buttons answer it without opening the app (docs/push.md)."""

import base64
import binascii
from datetime import datetime
from ipaddress import ip_address
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from notifier.push import PushSender
from notifier.push.models import PushAnswer, PushSubscription
from server import accounts
from server.accounts import Principal
from server.alarms import lifecycle
from server.alarms.models import Answer
from server.alarms.recipients import answer_digest
from server.errors import Forbidden, Invalid
from server.settings import Settings
from server.web.deps import CurrentPrincipal, Now, Session

router = APIRouter(prefix="/api/push", tags=["push"])

_KEY = r"^[A-Za-z0-9_-]+={0,2}$"


class Keys(BaseModel):
    """The browser's keys: its P-256 public key and its 16-byte auth secret (base64url)."""

    model_config = ConfigDict(extra="forbid")

    p256dh: str = Field(min_length=80, max_length=100, pattern=_KEY)
    auth: str = Field(min_length=16, max_length=50, pattern=_KEY)


class Subscribe(BaseModel):
    """A browser's `PushSubscription.toJSON()`."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=12, max_length=1000)
    expirationTime: float | None = None  # noqa: N815 (the browser's name)
    keys: Keys


class Unsubscribe(BaseModel):
    """The endpoint of a subscription to forget."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=12, max_length=1000)


class PushAnswerIn(BaseModel):
    """A notification button's answer, with the answer token its push carried."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=100)
    answer: Literal["coming", "cant"]
    alert_id: int | None = Field(None, ge=1, le=2**63 - 1)


def _decoded(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("the subscription's keys are not base64url") from None


def _check(body: Subscribe, settings: Settings) -> None:
    """A push endpoint we may POST to: https on a public host name (http and local hosts only
    when TENWATCH_PUSH_ALLOW_HTTP, for a test's push service), keys of the right size."""
    try:
        parts = urlsplit(body.endpoint)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise Invalid("the push endpoint is not a URL") from None
    allowed = ("https", "http") if settings.push_allow_http else ("https",)
    if parts.scheme not in allowed or not host or parts.username or parts.password:
        raise Invalid("the push endpoint must be an https:// URL of a push service")
    if port is not None and not 0 < port < 65536:
        raise Invalid("the push endpoint is not a URL")
    if not settings.push_allow_http:
        local = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
        try:
            address = ip_address(host.strip("[]"))
            local = local or not address.is_global
        except ValueError:
            pass
        if local:
            raise Invalid("the push endpoint must be a public push service")
    key = _decoded(body.keys.p256dh)
    if len(key) != 65 or key[0] != 4:
        raise Invalid("keys.p256dh must be an uncompressed P-256 public key")
    if len(_decoded(body.keys.auth)) != 16:
        raise Invalid("keys.auth must be 16 bytes")


def _resident(principal: Principal) -> int:
    if principal.kind != "resident" or principal.resident_id is None:
        raise Forbidden("only a resident's device can subscribe to alarms")
    return principal.resident_id


@router.get("/key")
async def key(request: Request, principal: CurrentPrincipal) -> dict[str, str | None]:
    """The application server key to subscribe with; null when push is off."""
    _resident(principal)
    sender: PushSender = request.state.push
    return {"public_key": sender.public_key}


@router.post("/subscriptions", status_code=201)
async def subscribe(
    request: Request, body: Subscribe, principal: CurrentPrincipal, session: Session, now: Now
) -> dict[str, int]:
    """Subscribe this device to alarm pushes (again with the same endpoint: updated)."""
    resident_id = _resident(principal)
    _check(body, request.state.settings)
    values = {
        "community_id": principal.community_id,
        "resident_id": resident_id,
        "credential_id": principal.credential_id,
        "p256dh": body.keys.p256dh,
        "auth": body.keys.auth,
        "last_error": None,
        "failed_at": None,
    }
    for attempt in range(2):
        found = await session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == body.endpoint)
        )
        if found is not None:
            for name, value in values.items():
                setattr(found, name, value)
            await session.commit()
            return {"id": found.id}
        subscription = PushSubscription(endpoint=body.endpoint, created_at=now, **values)
        session.add(subscription)
        try:
            await session.commit()
        except IntegrityError:  # the same endpoint, subscribed at the same moment
            await session.rollback()
            if attempt:
                raise
            continue
        return {"id": subscription.id}
    raise AssertionError("unreachable")


@router.delete("/subscriptions", status_code=204)
async def unsubscribe(body: Unsubscribe, principal: CurrentPrincipal, session: Session) -> Response:
    """Forget this device's subscription (one of the resident's own)."""
    resident_id = _resident(principal)
    await session.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint == body.endpoint, PushSubscription.resident_id == resident_id
        )
    )
    await session.commit()
    return Response(status_code=204)


async def _spend(
    session: Session, *, token: str, alert_id: int | None, now: datetime
) -> tuple[int, int]:
    """Spend an answer token: (alarm id, credential id); Forbidden if it is unknown, spent,
    expired or another alarm's."""
    wanted = [
        PushAnswer.token_hash == answer_digest(token),
        PushAnswer.used_at.is_(None),
        PushAnswer.expires_at > now,
    ]
    if alert_id is not None:
        wanted.append(PushAnswer.alert_id == alert_id)
    row = (
        await session.execute(
            update(PushAnswer)
            .where(*wanted)
            .values(used_at=now)
            .returning(PushAnswer.alert_id, PushAnswer.credential_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        raise Forbidden("this notification can no longer answer; open the app to answer")
    return int(row[0]), int(row[1])


@router.post("/answer")
async def answer(body: PushAnswerIn, session: Session, now: Now) -> dict[str, int | str]:
    """Answer an alarm from its notification's button, once, with its answer token."""
    alert_id, credential_id = await _spend(
        session, token=body.token, alert_id=body.alert_id, now=now
    )
    principal = await accounts.by_credential(session, credential_id, now=now)
    if principal is None:
        raise Forbidden("this device was signed out; sign in to answer")
    change = await lifecycle.respond(
        session, principal=principal, alert_id=alert_id, answer=Answer(body.answer), now=now
    )
    await session.commit()
    return {"alert_id": alert_id, "answer": body.answer, "coming": change.alert.coming}
