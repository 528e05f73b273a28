"""The outbox table (one row per text or call to make, written in the alarm's own transaction)
and the inbound log (one row per call or text Twilio brought us)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, BigId, UTCDateTime, utcnow

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
WITHDRAWN = "withdrawn"

PROBE = "probe"
"""The channel of the supervision's test job (server.supervision): with a number it is a text
through the sender like any other; without one the worker settles it itself. No community's."""


# Delivery statuses as the provider reports them, ranked: a receipt only ever moves a job forward,
# whatever order the callbacks arrive in. Equal ranks are alternatives (the first one stands).
DELIVERY_RANKS = {
    "sms": {
        "accepted": 0,
        "scheduled": 0,
        "queued": 0,
        "sending": 1,
        "sent": 2,
        "delivered": 3,
        "undelivered": 3,
        "failed": 3,
        "read": 4,
    },
    "voice": {
        "queued": 0,
        "initiated": 1,
        "ringing": 2,
        "in-progress": 3,
        "answered": 3,
        "completed": 4,
        "busy": 4,
        "no-answer": 4,
        "failed": 4,
        "canceled": 4,
    },
}
UNDELIVERED = frozenset({"undelivered", "failed", "busy", "no-answer", "canceled"})


def moves_forward(*, channel: str, current: str | None, new: str) -> bool:
    """Whether a reported delivery status is news: later than the current one, never earlier."""
    ranks = DELIVERY_RANKS.get(channel, DELIVERY_RANKS["sms"])
    if new not in ranks:
        return False
    return current is None or ranks[new] > ranks.get(current, -1)


class OutboxMessage(Base):
    """A text or call waiting for the worker, with what happened to it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    """None only for the supervision's probe, which is no community's."""
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(BigId)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the job's last word came: the provider's final receipt (delivered, undelivered,
    failed, a call's end) or the send's failure for good; the recipient table's time of it."""
    maybe_sent: Mapped[bool] = mapped_column(default=False, server_default=false())
    """An attempt got no answer (a crash mid-send, a timeout): the provider may have taken it.
    The worker looks it up before sending again."""
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the first attempt that may have reached the provider began; written (and committed)
    before the request goes out, cleared when the provider surely took nothing. A crashed
    worker's job without it was never sent; with it, it is looked up from this time on."""
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The claim holding the job ("host:pid:batch"): only its worker renews the lease, marks the
    send started or records the outcome, so a worker that lost its lease cannot."""

    @property
    def recipient(self) -> str:
        """Whom the job goes to as a log line says it: a phone masked (+86139****9999), a
        push by its subscription's id, a device command by its topic."""
        if self.channel in ("push", "device"):
            return self.to
        return self.to[:-8] + "****" + self.to[-4:] if len(self.to) > 10 else "****"


class InboundMessage(Base):
    """One call or text Twilio brought us, once: a retried webhook finds it and does nothing new."""

    __tablename__ = "phone_inbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    from_number: Mapped[str] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
