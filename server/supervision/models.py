"""The supervision's probe: one row per round, the silent test alarm that is stored."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, BigId, UTCDateTime


class Probe(Base):
    """One round's test alarm: which process sent it, when, and its outbox job. No community,
    no alarm, no event: nobody's socket, board or phone is told. Pruned after KEEP."""

    __tablename__ = "supervision_probes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process: Mapped[str] = mapped_column(String(64))
    outbox_id: Mapped[int | None] = mapped_column(BigId)
    """Its outbox job (no foreign key: the prune deletes both)."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
