"""A roll call and the households it asks, with each one's answer."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.columns import EnumText
from storage.db import Base, BigId, UTCDateTime, utcnow


class Scope(StrEnum):
    """Whom a roll call asks: the households of one building, of one grid, or all of them."""

    BUILDING = "building"
    GRID = "grid"
    COMMUNITY = "community"


class RollAnswer(StrEnum):
    """A household's answer: all well, or it needs help (which raises an alarm)."""

    OK = "ok"
    HELP = "help"


class RollCall(Base):
    """One roll call: its scope, its note, when its unanswered households are phoned."""

    __tablename__ = "rollcalls"
    __table_args__ = (Index("ix_rollcalls_open", "closed_at", "call_due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    scope: Mapped[Scope] = mapped_column(EnumText(Scope, 10))
    building: Mapped[str | None] = mapped_column(String(20))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str] = mapped_column(String(100), default="")
    started_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    call_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the households that have not answered are phoned (a stored deadline: it survives
    a restart, and fires once across processes)."""
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(100))

    @property
    def is_open(self) -> bool:
        """Whether it still takes answers."""
        return self.closed_at is None


class RollCallHousehold(Base):
    """One household a roll call asks, where it is (for the door-knocking list) and what it
    answered (none yet: not answered)."""

    __tablename__ = "rollcall_households"
    __table_args__ = (Index("ix_rollcall_households_household", "household_id", "rollcall_id"),)

    rollcall_id: Mapped[int] = mapped_column(
        ForeignKey("rollcalls.id", ondelete="CASCADE"), primary_key=True
    )
    household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(40))
    building: Mapped[str] = mapped_column(String(20))
    unit: Mapped[int]
    floor: Mapped[int]
    room: Mapped[int]
    answer: Mapped[RollAnswer | None] = mapped_column(EnumText(RollAnswer, 4))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(10))
    """Through what it answered: app, push, sms, voice."""
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    """The alarm its "need help" raised."""
    called: Mapped[bool] = mapped_column(default=False)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    """The digest of the answer token its push notifications carry."""
