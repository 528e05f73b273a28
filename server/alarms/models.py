"""Alerts and their events: an alarm's whole life is the ordered list of its events."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.columns import EnumText
from storage.db import Base, BigId, UTCDateTime, utcnow


class AlertType(StrEnum):
    """What kind of trouble a household is in."""

    HELP = "help"
    MEDICAL = "medical"
    FIRE = "fire"
    INTRUSION = "intrusion"
    DISPUTE = "dispute"
    OTHER = "other"


class Status(StrEnum):
    """Where an alarm is in its life (`server.alarms.transitions` says what moves it)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN: frozenset[Status] = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.ON_SCENE})
"""The statuses of an alarm that still needs someone, taken or not."""


class Answer(StrEnum):
    """A neighbour household's answer to an alarm."""

    COMING = "coming"
    CANT = "cant"
    CALLED_110 = "called_110"


class Outcome(StrEnum):
    """How an alarm ended, as the patrol closes it (a cancel closes it as a false alarm)."""

    HANDLED = "handled"
    FALSE_ALARM = "false_alarm"
    POLICE = "police"
    MEDICAL = "medical"
    OTHER = "other"


class Audience(StrEnum):
    """Who hears an event: everyone, the group only (what a raiser under duress is shown), or
    the board only (duress, notes, deliveries)."""

    ALL = "all"
    GROUP = "group"
    BOARD = "board"


class Channel(StrEnum):
    """Through what an alarm was raised or a step was taken."""

    APP = "app"
    SMS = "sms"
    VOICE = "voice"
    DRILL = "drill"
    SYSTEM = "system"
    ROLLCALL = "rollcall"  # a household's "need help" to a roll call (server/rollcall)
    BUTTON = "button"  # a paired panic button, over the device link


class EventType(StrEnum):
    """What a step of an alarm's life was; the `type` of its event on the wire."""

    RAISED = "alert.raised"
    PRESSED = "alert.pressed"
    CONFIRMED = "alert.confirmed"
    RESPONSE = "alert.response"
    ACKNOWLEDGED = "alert.acknowledged"
    ON_SCENE = "alert.on_scene"
    ESCALATED = "alert.escalated"
    RESOLVED = "alert.resolved"
    NOTE = "alert.note"
    CANCELLED = "alert.cancelled"
    PIN_FAILED = "alert.pin_failed"
    DURESS = "alert.duress"
    DELIVERY = "alert.delivery"
    SEEN = "alert.seen"
    """A neighbour household's device showed the alarm (the app, or its notification): the
    board's alone."""
    CALLER = "alert.caller"
    """An unidentified caller's number, whole, to call back: the board's alone (residents are
    shown it masked)."""
    # A roll call's events (server/rollcall): of no alarm, their alert_id is null.
    ROLLCALL_STARTED = "rollcall.started"
    ROLLCALL_ASKED = "rollcall.asked"
    ROLLCALL_ANSWERED = "rollcall.answered"
    ROLLCALL_CALLED = "rollcall.called"
    ROLLCALL_CLOSED = "rollcall.closed"


class Deadline(StrEnum):
    """A stored timer of an alarm: the neighbours' quorum, or the patrol's turn."""

    QUORUM = "quorum"
    PATROL = "patrol"


class Fired(StrEnum):
    """What came of a deadline."""

    FIRED = "fired"
    MET = "met"
    SKIPPED = "skipped"
    STOOD_DOWN = "stood_down"


class Alert(Base):
    """An alarm raised by (or for) one household of a group."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_open", "community_id", "status"),
        Index("ix_alerts_group_open", "group_id", "status"),
        Index("ix_alerts_household_closed", "household_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"))
    """The grid of the household that raised it: its grid manager's scope (none for a caller
    the register does not know)."""
    raised_by_resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL")
    )
    address: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[AlertType] = mapped_column(EnumText(AlertType, 20))
    status: Mapped[Status] = mapped_column(EnumText(Status, 20), default=Status.OPEN)
    source: Mapped[Channel] = mapped_column(EnumText(Channel, 10), default=Channel.APP)
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
    outcome: Mapped[Outcome | None] = mapped_column(EnumText(Outcome, 20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caller: Mapped[str | None] = mapped_column(String(20))
    """The phone number of an unidentified caller (no household known), for a call back; the
    staff's to read whole, shown to residents masked (`texts.masked_phone`)."""
    shown_cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a raiser under duress was shown the alarm cancelled: the raiser's and the group's
    view of it stays at that moment (closed then, updated then), as a real cancel's does."""

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
    alert_id: Mapped[int | None] = mapped_column(  # null: a roll call's event
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    type: Mapped[EventType] = mapped_column(EnumText(EventType, 40))
    actor: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[Channel] = mapped_column(EnumText(Channel, 10), default=Channel.APP)
    audience: Mapped[Audience] = mapped_column(EnumText(Audience, 5), default=Audience.ALL)
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
    answer: Mapped[Answer] = mapped_column(EnumText(Answer, 12))
    channel: Mapped[Channel] = mapped_column(EnumText(Channel, 10), default=Channel.APP)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDeadline(Base):
    """A stored timer of an alarm; a scheduler claims it once it is due and marks it done."""

    __tablename__ = "alert_deadlines"
    __table_args__ = (Index("ix_alert_deadlines_due", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[Deadline] = mapped_column(EnumText(Deadline, 10))
    cycle: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[Fired | None] = mapped_column(EnumText(Fired, 12))


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


class SeenVia(StrEnum):
    """Where a resident's device showed an alarm: the app's screen, or its push notification."""

    APP = "app"
    PUSH = "push"


class AlertSeen(Base):
    """A household's device showed an alarm (the app displayed it, or the service worker showed
    its notification): the first time per household and way is kept, later ones change nothing."""

    __tablename__ = "alert_seen"
    __table_args__ = (UniqueConstraint("alert_id", "household_id", "via"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    via: Mapped[SeenVia] = mapped_column(EnumText(SeenVia, 5))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
