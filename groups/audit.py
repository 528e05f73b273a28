"""The register's audit log: who did what to it, when, and what it was before and after.

Every admin action on the register is recorded here, in the action's own transaction (so an
action that is rolled back leaves no entry, and one that commits always has one). So is a look
at what staff see only when they must: a household's responder context or a full phone number
(`record(..., action="viewed")`), which the alarm views call as well as the register's.
"""

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from groups.models import AuditEntry
from storage.db import AsyncSession, utcnow

CSV_COLUMNS = ("at", "actor", "actor_kind", "actor_id", "action", "subject", "before", "after")


@dataclass(frozen=True)
class Actor:
    """Who acted, as a person reads it (a name) and as the database knows them (kind and id)."""

    name: str
    kind: str  # "staff", "resident" or "system"
    id: int | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} {self.id})" if self.id is not None else self.name


SYSTEM = Actor(name="TenWatch", kind="system")


def plain(value: Any) -> Any:
    """A value as JSON holds it: dates as ISO text, sets and tuples as sorted lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(
    session: AsyncSession,
    *,
    community_id: int,
    actor: Actor,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one entry to the log in the caller's transaction (the caller commits)."""
    entry = AuditEntry(
        community_id=community_id,
        at=at or utcnow(),
        actor=actor.name[:100],
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action[:40],
        subject=subject[:200],
        before=plain(before),
        after=plain(after),
        note=note[:500] if note else None,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class Page:
    """One page of the log, newest first, and how many entries match in all."""

    entries: list[AuditEntry]
    total: int


async def search(
    session: AsyncSession,
    *,
    community_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    subject: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The community's entries at or after since and before until whose subject contains the
    given text, newest first."""
    where = [AuditEntry.community_id == community_id]
    if since is not None:
        where.append(AuditEntry.at >= since)
    if until is not None:
        where.append(AuditEntry.at < until)
    if subject:
        escaped = subject.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(AuditEntry.subject.like(f"%{escaped}%", escape="\\"))
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*where))
    rows = await session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return Page(entries=list(rows), total=total or 0)


def to_csv(entries: Sequence[AuditEntry]) -> str:
    """Entries as CSV (before and after as JSON text), for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "note"])
    for e in entries:
        writer.writerow(
            [
                e.at.isoformat(),
                e.actor,
                e.actor_kind,
                "" if e.actor_id is None else e.actor_id,
                e.action,
                e.subject,
                "" if e.before is None else json.dumps(e.before, ensure_ascii=False),
                "" if e.after is None else json.dumps(e.after, ensure_ascii=False),
                e.note or "",
            ]
        )
    return out.getvalue()
