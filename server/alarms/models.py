"""Alerts and their events: an alarm's whole life is the ordered list of its events."""

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, BigId, UTCDateTime, utcnow

AlertType = Literal["help", "medical", "fire", "intrusion", "dispute", "other"]
ALERT_TYPES: tuple[str, ...] = get_args(AlertType)
Status = Literal["open", "acknowledged", "on_scene", "resolved", "cancelled"]
OPEN: tuple[str, ...] = ("open", "acknowledged", "on_scene")
Answer = Literal["coming", "cant", "called_110"]
Outcome = Literal["handled", "false_alarm", "police", "medical", "other"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
Audience = Literal["all", "group", "board"]


class Alert(Base):
    """An alarm raised by (or for) one household of a group."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_open", "community_id", "status"),
        Index("ix_alerts_group_open", "group_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    raised_by_resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL")
    )
    address: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")
    source: Mapped[str] = mapped_column(String(10), default="app")
    drill: Mapped[bool] = mapped_column(default=False)
    drill_label: Mapped[str | None] = mapped_column(String(100))
    presses: Mapped[int] = mapped_column(default=1)
    neighbours: Mapped[int] = mapped_column(default=0)
    coming: Mapped[int] = mapped_column(default=0)
    duress: Mapped[bool] = mapped_column(default=False)
    masked: Mapped[bool] = mapped_column(default=False)
    pin_failures: Mapped[int] = mapped_column(default=0)
    confirmed: Mapped[bool] = mapped_column(default=False)
    linked_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL")
    )
    widened: Mapped[bool] = mapped_column(default=False)
    patrol_cycles: Mapped[int] = mapped_column(default=0)
    taken_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_scene_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caller: Mapped[str | None] = mapped_column(String(20))
    """The phone number of an unidentified caller (no household known), for a call back."""

    @property
    def is_open(self) -> bool:
        """Whether the alarm still needs someone (taken or not)."""
        return self.status in OPEN


class AlertEvent(Base):
    """One step of an alarm; its id is the monotonically increasing event id clients resume from.

    `audience` keeps a step from the group ("board": duress, notes) or from the board ("group":
    the cancellation a raiser under duress is shown)."""

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
    audience: Mapped[str] = mapped_column(String(5), default="all")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertGroup(Base):
    """A further group an alarm was widened to; its sockets hear the alarm from then on."""

    __tablename__ = "alert_groups"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AlertResponse(Base):
    """A neighbour household's answer to an alarm; a later answer replaces an earlier one."""

    __tablename__ = "alert_responses"
    __table_args__ = (UniqueConstraint("alert_id", "household_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    answer: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(10), default="app")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDeadline(Base):
    """A stored timer of an alarm; a scheduler claims it once it is due and marks it done."""

    __tablename__ = "alert_deadlines"
    __table_args__ = (Index("ix_alert_deadlines_due", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    cycle: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(12))


class EscalationPolicy(Base):
    """How a community escalates an alarm nobody answers; defaults when it has no row."""

    __tablename__ = "escalation_policies"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    quorum: Mapped[int] = mapped_column(default=2)
    quorum_seconds: Mapped[int] = mapped_column(default=45)
    patrol_seconds: Mapped[int] = mapped_column(default=90)
    repeat_seconds: Mapped[int] = mapped_column(default=90)
    max_cycles: Mapped[int] = mapped_column(default=10)
    cancel_seconds: Mapped[int] = mapped_column(default=120)
    confirm_seconds: Mapped[int] = mapped_column(default=120)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Base):
    """A press a client may repeat: the same key from the same resident gets the same alarm."""

    __tablename__ = "idempotency_keys"

    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
