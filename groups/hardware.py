"""The register's devices: panic buttons paired with a household (or a bed, a door), and the
sirens, strobes and loudspeakers that sound for a building or the whole yard; what each last
said of itself (seen, battery, link, availability); and the topics heard that no device owns.

The directory knows devices by their MQTT topic and nothing of MQTT itself: what a message
means is the device link's business (notifier/devices) and the alarm path's (server/alarms).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from groups.address import parse_address
from groups.models import Group, Household
from storage.db import Base, UTCDateTime, utcnow


class Kind(StrEnum):
    """What a device is: a button raises an alarm; the others sound for one."""

    BUTTON = "button"
    SIREN = "siren"
    STROBE = "strobe"
    SPEAKER = "speaker"


SOUNDERS = frozenset({Kind.SIREN, Kind.STROBE, Kind.SPEAKER})
ALERT_TYPES = ("help", "medical", "fire")
"""What a button may raise: help, medical (a bedside button), fire (a smoke sensor)."""


class Device(Base):
    """One paired device. A button's `topic` is where it speaks (`zigbee2mqtt/<friendly
    name>`); a sounder's `command_topic` is where it is told to sound (`.../set`)."""

    __tablename__ = "hardware"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    """The device's id or Zigbee2MQTT friendly name, as the admin knows it."""
    topic: Mapped[str] = mapped_column(String(200), unique=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(String(100))
    """Where it is: a bed, a door, the yard's gate (free text)."""
    alert_type: Mapped[str] = mapped_column(String(10), default="help")
    building: Mapped[str | None] = mapped_column(String(20))
    """A sounder's building (B11); None: it sounds for the whole community (the yard)."""
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    """A sounder for one ten-household group only (None: every group of its building)."""
    command_topic: Mapped[str | None] = mapped_column(String(200))
    """Where a sounder is told to sound, or a button told its press was heard (its LED)."""
    battery: Mapped[int | None]
    linkquality: Mapped[int | None]
    available: Mapped[bool | None]
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnknownDevice(Base):
    """A topic heard that no paired device owns: logged, listed for the admin, never an alarm."""

    __tablename__ = "hardware_unknown"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), unique=True)
    messages: Mapped[int] = mapped_column(default=0)
    last_payload: Mapped[str | None] = mapped_column(String(500))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def z2m_topic(friendly_name: str, *, base: str = "zigbee2mqtt") -> str:
    """The topic Zigbee2MQTT publishes a device's state on."""
    return f"{base}/{friendly_name}"


# -- pairing -----------------------------------------------------------------------------------


async def household_at(session: AsyncSession, *, community_id: int, address: str) -> int:
    """The id of the community's household at an address (like B11-1-301). ValueError for an
    address that is not one, LookupError for no such household."""
    shown = str(parse_address(address))
    found = await session.scalar(
        select(Household.id).where(
            Household.community_id == community_id, Household.address == shown
        )
    )
    if found is None:
        raise LookupError(f"no household {shown} in this community")
    return found


async def pair(
    session: AsyncSession,
    *,
    community_id: int,
    kind: str,
    name: str,
    topic: str,
    household_id: int | None = None,
    label: str | None = None,
    alert_type: str = "help",
    building: str | None = None,
    group_id: int | None = None,
    command_topic: str | None = None,
) -> Device:
    """Pair a device with the community (a button with one of its households). Raises
    ValueError for what cannot be paired, LookupError for a household not of the community."""
    if kind not in tuple(Kind):
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(Kind)}")
    topic = topic.strip().strip("/")
    if not topic or any(c in topic for c in "#+") or len(topic) > 200:
        raise ValueError("a topic is a plain MQTT topic, without wildcards (# or +)")
    if kind == Kind.BUTTON:
        if household_id is None:
            raise ValueError("a button is paired with a household")
        if alert_type not in ALERT_TYPES:
            raise ValueError(f"a button raises one of {', '.join(ALERT_TYPES)}")
        household = await session.get(Household, household_id)
        if household is None or household.community_id != community_id:
            raise LookupError(f"no household {household_id} in this community")
        building, group_id = None, None
    else:
        household_id = None
        command_topic = (command_topic or f"{topic}/set").strip().strip("/")
        if any(c in command_topic for c in "#+"):
            raise ValueError("a command topic is a plain MQTT topic, without wildcards (# or +)")
        group = await session.get(Group, group_id) if group_id is not None else None
        if group_id is not None and (group is None or group.community_id != community_id):
            raise LookupError(f"no group {group_id} in this community")
    known = await session.scalar(select(Device.id).where(Device.topic == topic))
    if known is not None:
        raise ValueError(f"the topic {topic} is already paired (device {known})")
    device = Device(
        community_id=community_id,
        kind=kind,
        name=name.strip(),
        topic=topic,
        household_id=household_id,
        label=label,
        alert_type=alert_type,
        building=building or None,
        group_id=group_id,
        command_topic=command_topic or None,
    )
    session.add(device)
    await session.flush()
    return device


async def unpair(session: AsyncSession, *, community_id: int, device_id: int) -> None:
    """Forget a device. LookupError if the community has no such device."""
    device = await session.get(Device, device_id)
    if device is None or device.community_id != community_id:
        raise LookupError(f"no device {device_id} in this community")
    await session.delete(device)


async def devices(session: AsyncSession, *, community_id: int) -> list[tuple[Device, str | None]]:
    """The community's devices with their household's address, in the order they were paired."""
    rows = await session.execute(
        select(Device, Household.address)
        .outerjoin(Household, Device.household_id == Household.id)
        .where(Device.community_id == community_id)
        .order_by(Device.id)
    )
    return [(device, address) for device, address in rows]


async def by_topic(session: AsyncSession, *, topic: str) -> Device | None:
    """The device that speaks on a topic, or is told to on it."""
    return await session.scalar(
        select(Device).where((Device.topic == topic) | (Device.command_topic == topic)).limit(1)
    )


async def unknown(session: AsyncSession) -> list[UnknownDevice]:
    """The topics heard that no device owns, the latest first."""
    found = await session.scalars(
        select(UnknownDevice).order_by(UnknownDevice.last_seen_at.desc()).limit(200)
    )
    return list(found)


async def heard_unknown(
    session: AsyncSession, *, topic: str, payload: str, now: datetime
) -> UnknownDevice:
    """Note a message on a topic that no device owns."""
    row = await session.scalar(select(UnknownDevice).where(UnknownDevice.topic == topic))
    if row is None:
        row = UnknownDevice(topic=topic[:200], first_seen_at=now)
        session.add(row)
    row.messages = (row.messages or 0) + 1
    row.last_payload = payload[:500]
    row.last_seen_at = now
    return row


# -- reachability ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    """How a button stands: ok, low (battery under the threshold) or quiet (not heard within
    the threshold, or reported offline)."""

    device_id: int
    name: str
    household_id: int | None
    address: str | None
    label: str | None
    state: str
    last_seen_at: datetime | None
    battery: int | None


def state_of(device: Device, *, now: datetime, quiet_after: timedelta, low_below: int) -> str:
    """ok, low or quiet (quiet wins: a silent button's battery is old news)."""
    seen = device.last_seen_at
    if seen is None or now - seen > quiet_after or device.available is False:
        return "quiet"
    if device.battery is not None and device.battery < low_below:
        return "low"
    return "ok"


async def reachability(
    session: AsyncSession,
    *,
    community_id: int,
    now: datetime,
    quiet_after: timedelta,
    low_below: int,
) -> list[Health]:
    """The community's buttons as reachability problems or not: what the reachability view
    shows beside the phones that cannot be reached (the quiet and low ones first)."""
    found = [
        Health(
            device_id=device.id,
            name=device.name,
            household_id=device.household_id,
            address=address,
            label=device.label,
            state=state_of(device, now=now, quiet_after=quiet_after, low_below=low_below),
            last_seen_at=device.last_seen_at,
            battery=device.battery,
        )
        for device, address in await devices(session, community_id=community_id)
        if device.kind == Kind.BUTTON
    ]
    order = {"quiet": 0, "low": 1, "ok": 2}
    return sorted(found, key=lambda h: (order[h.state], h.device_id))
