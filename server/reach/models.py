"""Reachability's tables: which credentials have a socket open on which process (written on
connect and disconnect, not per event), each process's last sign of life, and the routine
button tests with one check per channel."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, BigId, UTCDateTime, utcnow


class ReachProcess(Base):
    """An app process that holds sockets: its presence rows count while it was seen lately
    (a process that died without saying so stops counting after a few beats)."""

    __tablename__ = "reach_processes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReachPresence(Base):
    """A resident's credential with sockets open on one process. No foreign keys: a row is
    written by a process after the fact and must not fail because its credential just went
    (readers join the credentials, so a gone one counts for nothing)."""

    __tablename__ = "reach_presence"

    process: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    sockets: Mapped[int] = mapped_column(default=1)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HouseholdTest(Base):
    """One routine button test of a household's channels, started by a resident of it or
    by the admin. It alarms no one: no alarm row, nothing to neighbours or boards."""

    __tablename__ = "household_tests"
    __table_args__ = (Index("ix_household_tests_household", "household_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(100))
    """Who pressed it: "resident:12" or "staff:3"."""


class HouseholdTestCheck(Base):
    """One channel's part of a test: the app's sockets, one push subscription or one phone.
    `result` is pending, ok, failed or none (no such channel); a push's or a text's settles
    from its outbox job (its receipt), the app's is written by the process that delivered it."""

    __tablename__ = "household_test_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    test_id: Mapped[int] = mapped_column(
        ForeignKey("household_tests.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str | None] = mapped_column(String(100))
    outbox_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("outbox.id", ondelete="SET NULL")
    )
    result: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
