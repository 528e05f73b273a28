"""The tables of signing in: the codes sent, and one-time tickets for the stream."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow


class SignInCode(Base):
    """A code sent to a phone: what to check it by, its tries and its end. Rows are also the
    rate limit's record (codes per number, per client, in the last hour)."""

    __tablename__ = "sign_in_codes"
    __table_args__ = (
        Index("ix_sign_in_codes_phone", "phone", "created_at"),
        Index("ix_sign_in_codes_client", "client", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(64))
    kept: Mapped[str | None] = mapped_column(String(120))
    """The backend's record to check the code by (a salted digest), or None when its provider
    keeps the code (Twilio Verify)."""
    registered: Mapped[bool] = mapped_column(default=False)
    """Whether anyone has this number: a code for an unknown one is never sent, but the
    answer looks the same."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tries: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    choice_hash: Mapped[str | None] = mapped_column(String(64))
    """A checked code that several people share a phone of waits for the choice of who signs
    in; this is the digest of the secret that proves the check."""


class StreamTicket(Base):
    """A one-time, short-lived pass onto the stream for a client that can't send a cookie or
    a header with its websocket (stored hashed)."""

    __tablename__ = "stream_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
