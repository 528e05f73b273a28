"""Every recipient of an alarm: the staff's table of who was alerted and how far each got, and
the residents' devices saying they showed it ("seen")."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from notifier.push.models import PushAnswer
from server import accounts
from server.accounts import Principal
from server.alarms import deliveries, seen, views
from server.alarms.models import SeenVia
from server.alarms.recipients import answer_digest
from server.errors import Forbidden
from server.web.deps import CurrentPrincipal, Now, Session
from server.web.schemas import MAX_ID, AlertId

router = APIRouter(prefix="/api", tags=["recipients"])


class SeenIn(BaseModel):
    """Where this device showed the alarm."""

    model_config = ConfigDict(extra="forbid")

    via: Literal["app", "push"] = Field(
        description="app: the app displayed it; push: the service worker showed its notification."
    )


class PushSeenIn(BaseModel):
    """A notification shown, with the answer token its push carried."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=100)
    alert_id: int = Field(ge=1, le=MAX_ID)


class SeenOut(BaseModel):
    """A household's first sighting of an alarm, as stored."""

    alert_id: int
    household: str | None
    via: str
    seen_at: datetime


async def _seen(
    session: Session, *, principal: Principal, alert_id: int, via: SeenVia, now: datetime
) -> SeenOut | Response:
    first = await seen.mark(session, principal=principal, alert_id=alert_id, via=via, now=now)
    await session.commit()
    if first is None:
        return Response(status_code=204)
    return SeenOut(
        alert_id=first.alert_id, household=first.household, via=first.via, seen_at=first.seen_at
    )


@router.post(
    "/alerts/{alert_id}/seen",
    status_code=201,
    response_model=SeenOut,
    responses={204: {"description": "Known already (or your own household's alarm)."}},
)
async def mark_seen(
    alert_id: AlertId, body: SeenIn, principal: CurrentPrincipal, session: Session, now: Now
) -> SeenOut | Response:
    """This device showed the alarm: 201 the first time for your household and this way (the
    board hears it), 204 after, or for your own household's alarm; 404 outside your scope."""
    return await _seen(
        session, principal=principal, alert_id=alert_id, via=SeenVia(body.via), now=now
    )


@router.post(
    "/push/seen",
    status_code=201,
    response_model=SeenOut,
    responses={204: {"description": "Known already."}},
)
async def push_seen(body: PushSeenIn, session: Session, now: Now) -> SeenOut | Response:
    """The service worker showed an alarm's notification: the answer token its push carried
    says whose (it is not spent, and still answers). 403 for a token that is unknown, expired,
    another alarm's, or of a device since signed out."""
    credential_id = await session.scalar(
        select(PushAnswer.credential_id).where(
            PushAnswer.token_hash == answer_digest(body.token),
            PushAnswer.alert_id == body.alert_id,
            PushAnswer.expires_at > now,
        )
    )
    principal = (
        await accounts.by_credential(session, credential_id, now=now)
        if credential_id is not None
        else None
    )
    if principal is None:
        raise Forbidden("this notification can no longer say it was seen")
    return await _seen(
        session, principal=principal, alert_id=body.alert_id, via=SeenVia.PUSH, now=now
    )


class DeliveryOut(BaseModel):
    """One text, call or push to one phone or device, and how far it got."""

    job_id: int
    cell: str = Field(description="The recipient's phone or device on one channel.")
    channel: str = Field(description="sms, voice or push.")
    to: str = Field(description="The phone, masked (push: device).")
    state: str = Field(description="queued, sent, delivered, failed or withdrawn.")
    status: str | None = Field(description="The provider's own word (queued, undelivered …).")
    error_code: str | None = Field(description="The provider's error code (21211 …).")
    reason: str | None = Field(
        description="Why it failed, as the catalogue's recipients.reason.* (invalid_number …)."
    )
    detail: str | None = Field(description="The provider's refusal as it was recorded.")
    resident: str | None
    queued_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None


class RecipientOut(BaseModel):
    """A household or staff member alerted."""

    key: str = Field(description="household:{id}, staff:{id} or phone:{masked}.")
    kind: str = Field(description="household, staff or phone.")
    household: str | None
    name: str | None
    role: str = Field(
        description="neighbour, building_leader, grid_manager, resident, or the staff role."
    )
    state: str = Field(
        description="The furthest it got: none (the app only), queued, sent, delivered, "
        "failed, seen or answered."
    )
    deliveries: list[DeliveryOut]
    seen: dict[str, datetime] = Field(description="When a device showed it: app, push.")
    answer: str | None = Field(description="coming, cant, called_110; staff: taken.")
    answer_channel: str | None
    answered_at: datetime | None


class RecipientsOut(BaseModel):
    """The alarm's recipient table."""

    alert_id: int
    recipients: list[RecipientOut]


@router.get("/alerts/{alert_id}/recipients", response_model=RecipientsOut)
async def recipients(
    alert_id: AlertId, principal: CurrentPrincipal, session: Session
) -> RecipientsOut:
    """Everyone an alarm alerted, one row per household and staff member: each text, call and
    push (queued → sent → delivered / failed, with the provider's reason), seen, answered.
    Staff of the alarm's scope (a grid manager: their grid); 404 outside it."""
    found = await views.one(session, principal=principal, alert_id=alert_id)
    rows = await deliveries.table(session, alert=found.alert)
    return RecipientsOut(
        alert_id=alert_id,
        recipients=[
            RecipientOut(
                key=row.key,
                kind=row.kind,
                household=row.household,
                name=row.name,
                role=row.role,
                state=row.state,
                deliveries=[DeliveryOut(**_fields(d)) for d in row.deliveries],
                seen=row.seen,
                answer=row.answer,
                answer_channel=row.answer_channel,
                answered_at=row.answered_at,
            )
            for row in rows
        ],
    )


def _fields(delivery: deliveries.Delivery) -> dict[str, object]:
    return {name: getattr(delivery, name) for name in DeliveryOut.model_fields}
