"""Alerts and their events: an alarm's whole life is the ordered list of its events."""

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from groups.db import Base, BigId, UTCDateTime, utcnow

AlertType = Literal["help", "medical", "fire", "intrusion", "dispute", "other"]
ALERT_TYPES: tuple[str, ...] = get_args(AlertType)


class Alert(Base):
    """An alarm raised by (or for) one household of a group."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "community_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    raised_by_resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL")
    )
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")
    source: Mapped[str] = mapped_column(String(10), default="app")
    drill: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caller: Mapped[str | None] = mapped_column(String(20))
    """The phone number of an unidentified caller (no household known), for a call back."""


class AlertEvent(Base):
    """One step of an alarm; its id is the monotonically increasing event id clients resume from."""

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_group", "group_id", "id"),
        Index("ix_alert_events_community", "community_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[str] = mapped_column(String(10), default="app")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
