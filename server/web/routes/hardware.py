"""The register's hardware (docs/devices.md): panic buttons paired with households, sirens,
strobes and loudspeakers paired with a building or the yard, how each button stands (ok, low,
quiet), and the topics heard that no device owns. Not the signed-in phones (`/devices`)."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from groups import hardware
from groups.address import parse_address
from server.accounts import Principal
from server.alarms.buttons import thresholds
from server.errors import Forbidden, Invalid, NotFound
from server.settings import Settings
from server.web.deps import CurrentPrincipal, Now, Session

router = APIRouter(prefix="/api/hardware", tags=["hardware"])
DeviceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The device's id.")]


class DeviceIn(BaseModel):
    """A device to pair: a button with a household's address (and where it is), a sounder
    with a building (none: the whole yard). The topic defaults to Zigbee2MQTT's for the name."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["button", "siren", "strobe", "speaker"]
    name: str = Field(min_length=1, max_length=100)
    topic: str | None = Field(default=None, max_length=200)
    household: str | None = Field(default=None, max_length=40, description="like B11-1-301")
    label: str | None = Field(default=None, max_length=100)
    alert_type: Literal["help", "medical", "fire"] = "help"
    building: str | None = Field(default=None, max_length=20)
    group_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    command_topic: str | None = Field(default=None, max_length=200)


class DeviceOut(BaseModel):
    """A paired device and how it stands."""

    id: int
    kind: str
    name: str
    topic: str
    household: str | None
    label: str | None
    alert_type: str
    building: str | None
    group_id: int | None
    command_topic: str | None
    battery: int | None
    linkquality: int | None
    available: bool | None
    last_seen_at: datetime | None
    state: Literal["ok", "low", "quiet"] | None = Field(description="a button's; None: a sounder")


class UnknownOut(BaseModel):
    """A topic heard that no device owns."""

    topic: str
    messages: int
    last_payload: str | None
    first_seen_at: datetime
    last_seen_at: datetime


def _admin(principal: Principal) -> None:
    if principal.kind != "staff" or principal.role != "admin":
        raise Forbidden("only the community admin keeps the register")  # pairing is keeping it


def _out(
    device: hardware.Device, address: str | None, *, now: datetime, settings: Settings
) -> DeviceOut:
    quiet_after, low_below = thresholds(settings)
    state = (
        hardware.state_of(device, now=now, quiet_after=quiet_after, low_below=low_below)
        if device.kind == hardware.Kind.BUTTON
        else None
    )
    return DeviceOut(
        id=device.id,
        kind=device.kind,
        name=device.name,
        topic=device.topic,
        household=address,
        label=device.label,
        alert_type=device.alert_type,
        building=device.building,
        group_id=device.group_id,
        command_topic=device.command_topic,
        battery=device.battery,
        linkquality=device.linkquality,
        available=device.available,
        last_seen_at=device.last_seen_at,
        state=state,
    )


@router.get("", response_model=list[DeviceOut])
async def list_hardware(
    principal: CurrentPrincipal, session: Session, now: Now, request: Request
) -> list[DeviceOut]:
    """The community's buttons and sounders, each button ok, low or quiet."""
    _admin(principal)
    settings: Settings = request.state.settings
    found = await hardware.devices(session, community_id=principal.community_id)
    return [_out(d, address, now=now, settings=settings) for d, address in found]


@router.post("", status_code=201, response_model=DeviceOut)
async def pair(
    body: DeviceIn, principal: CurrentPrincipal, session: Session, now: Now, request: Request
) -> DeviceOut:
    """Pair a button with a household, or a siren, strobe or loudspeaker with a building."""
    _admin(principal)
    try:
        household_id = (
            await hardware.household_at(
                session, community_id=principal.community_id, address=body.household
            )
            if body.household is not None
            else None
        )
        device = await hardware.pair(
            session,
            community_id=principal.community_id,
            kind=body.kind,
            name=body.name,
            topic=body.topic or hardware.z2m_topic(body.name.strip()),
            household_id=household_id,
            label=body.label,
            alert_type=body.alert_type,
            building=body.building.strip().upper() if body.building else None,
            group_id=body.group_id,
            command_topic=body.command_topic,
        )
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    await session.commit()
    address = str(parse_address(body.household)) if body.household is not None else None
    return _out(device, address, now=now, settings=request.state.settings)


@router.delete("/{device_id}", status_code=204)
async def unpair(device_id: DeviceId, principal: CurrentPrincipal, session: Session) -> None:
    """Forget a device."""
    _admin(principal)
    try:
        await hardware.unpair(session, community_id=principal.community_id, device_id=device_id)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    await session.commit()


@router.get("/unknown", response_model=list[UnknownOut])
async def unknown(principal: CurrentPrincipal, session: Session) -> list[UnknownOut]:
    """The topics heard that no paired device owns (a button to pair, or a stranger's)."""
    _admin(principal)
    return [
        UnknownOut(
            topic=u.topic,
            messages=u.messages,
            last_payload=u.last_payload,
            first_seen_at=u.first_seen_at,
            last_seen_at=u.last_seen_at,
        )
        for u in await hardware.unknown(session)
    ]
