"""Help requests: a resident presses help; anyone in scope reads alarms."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from notifier.hub import Hub
from notifier.outbox import OutboxWorker
from server import alerts
from server.deps import CurrentPrincipal, Session, get_hub, get_outbox
from server.models import AlertType

router = APIRouter(prefix="/api", tags=["alerts"])


class HelpRequest(BaseModel):
    """A press of the help button."""

    model_config = ConfigDict(extra="forbid")

    type: AlertType = "help"
    household: str | None = Field(
        None, description="The household in trouble (B11-1-301); only your own.", max_length=40
    )


class AlertOut(BaseModel):
    """An alarm as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    status: str
    source: str
    group_id: int | None
    household_id: int | None
    created_at: datetime
    household: str | None = Field(None, description="The address, like B11-1-301.")
    group: str | None = Field(None, description="The ten-household group's name.")
    raised_by: str | None = Field(None, description="Who pressed.")

    @classmethod
    def of(cls, view: alerts.AlertView) -> "AlertOut":
        """The API form of an alarm and its names."""
        return cls.model_validate(view.alert).model_copy(
            update={"household": view.household, "group": view.group, "raised_by": view.raised_by}
        )


class Raised(BaseModel):
    """The stored alarm, with what was set in motion."""

    alert: AlertOut
    event_id: int
    neighbours: int = Field(description="Households of the group that are alerted.")
    texts: int = Field(description="SMS jobs queued for neighbours' phones.")


@router.post("/alerts", status_code=201, response_model=Raised)
async def create(
    body: HelpRequest,
    principal: CurrentPrincipal,
    session: Session,
    hub: Annotated[Hub, Depends(get_hub)],
    outbox: Annotated[OutboxWorker, Depends(get_outbox)],
) -> Raised:
    """Press help: store the alarm, then alert the group, the board and the neighbours' phones."""
    try:
        raised = await alerts.create(
            session, principal=principal, alert_type=body.type, address=body.household
        )
    except alerts.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    await session.commit()
    await hub.bus.publish(raised.channels, raised.message)
    if raised.texts:
        outbox.wake()
    return Raised(
        alert=AlertOut.model_validate(raised.alert).model_copy(
            update={"household": principal.address, "raised_by": principal.name}
        ),
        event_id=raised.event.id,
        neighbours=raised.neighbours,
        texts=raised.texts,
    )


@router.get("/alerts", response_model=list[AlertOut])
async def list_open(principal: CurrentPrincipal, session: Session) -> list[AlertOut]:
    """The open alarms you may see: your group's, or your community's board."""
    return [AlertOut.of(view) for view in await alerts.list_open(session, principal=principal)]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get(alert_id: int, principal: CurrentPrincipal, session: Session) -> AlertOut:
    """One alarm, if it is in your scope."""
    view = await alerts.get(session, principal=principal, alert_id=alert_id)
    if view is None:
        raise HTTPException(404, f"no alarm {alert_id} in your scope")
    return AlertOut.of(view)


class Me(BaseModel):
    """Who the credential speaks for, and which stream it hears."""

    kind: str
    name: str
    community_id: int
    household: str | None
    group_id: int | None
    group: str | None
    role: str | None
    channel: str


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    """Who you are to TenWatch."""
    return Me(
        kind=principal.kind,
        name=principal.name,
        community_id=principal.community_id,
        household=principal.address,
        group_id=principal.group_id,
        group=principal.group_name,
        role=principal.role,
        channel=principal.channel,
    )
