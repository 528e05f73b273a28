"""The directory's tables: community → grid, group → household → resident; staff; credentials;
the register's audit log."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base, UTCDateTime, utcnow

RESIDENT_ROLES = frozenset({"stairwell_leader", "building_leader", "grid_manager"})
STAFF_ROLES = frozenset(
    {"patrol_member", "patrol_leader", "grid_manager", "police_office", "admin"}
)
PATROL_ROLES = frozenset({"patrol_member", "patrol_leader"})
LANGUAGES = ("zh", "en")


class Community(Base):
    """A residential community (社区 / 小区): the scope of one board."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Grid(Base):
    """A grid (网格) of the community, looked after by a grid manager."""

    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))


class Group(Base):
    """A ten-household joint-defence group (十户联防组)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    leader_household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", use_alter=True, ondelete="SET NULL")
    )
    # Set when the admin chose the leader: regrouping then keeps that leader while it stays.
    leader_chosen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    households: Mapped[list["Household"]] = relationship(
        back_populates="group", foreign_keys="Household.group_id", order_by="Household.id"
    )


class Household(Base):
    """One home, addressed like B11-1-301 (building B11, unit 1, room 301)."""

    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("community_id", "address"),
        Index("ix_households_placement", "community_id", "building", "unit", "floor", "room"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(40))
    building: Mapped[str] = mapped_column(String(20))
    unit: Mapped[int]
    floor: Mapped[int]
    room: Mapped[int]
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str] = mapped_column(String(8), default="zh")
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    duress_pin_hash: Mapped[str | None] = mapped_column(String(200))
    pin_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    """Wrong current PINs given in a row to change the PINs (groups/pins.py locks them out)."""
    pin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Until when no PIN change is tried (a lockout after wrong PINs), shown to staff."""
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The responder context: what a neighbour or the patrol needs to know on the way.
    spare_key_holder: Mapped[str | None] = mapped_column(String(200))
    care_note: Mapped[str | None] = mapped_column(String(500))  # mobility or medical
    away_until: Mapped[date | None]

    group: Mapped[Group | None] = relationship(back_populates="households", foreign_keys=[group_id])
    residents: Mapped[list["Resident"]] = relationship(
        back_populates="household", order_by="Resident.id", cascade="all, delete-orphan"
    )


class Resident(Base):
    """A person living in a household; roles name what more they do (stairwell leader, …)."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    roles: Mapped[str] = mapped_column(String(200), default="")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    household: Mapped[Household] = relationship(back_populates="residents")

    @property
    def role_set(self) -> frozenset[str]:
        """The resident's roles as a set."""
        return frozenset(r for r in self.roles.split(",") if r)


class Staff(Base):
    """A patrol member or leader, grid manager or police-office contact of a community."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("community_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DutyShift(Base):
    """A weekly shift of a staff member: on duty every given weekday between two local times."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]
    starts_minute: Mapped[int]
    ends_minute: Mapped[int]


class DutyOverride(Base):
    """A one-off change to the roster: on (or off) duty between two instants."""

    __tablename__ = "duty_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_duty: Mapped[bool] = mapped_column(default=True)


class Credential(Base):
    """A secret (stored hashed) that speaks for one resident or one staff member: a device's
    session (`kind` "session", opened by signing in by phone, named from its browser) or an
    integration's token (`kind` "token", issued by `tenwatch token`). It ends at expires_at or
    when revoked."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(10), default="token", server_default="token")
    device: Mapped[str | None] = mapped_column(String(80))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlarmNumber(Base):
    """A phone number (a Twilio number) people call or text to raise an alarm.

    With a group it is that group's number; without one it serves the whole community, and the
    caller's own number finds the household."""

    __tablename__ = "alarm_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """One admin action on the register, or one look at what staff see only when they must
    (a household's responder context, a full phone number): who, what, when, before → after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_community_at", "community_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
