"""A community's escalation policy: stored per community, defaults when none is stored."""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from server.alarms.models import EscalationPolicy
from storage.db import AsyncSession, utcnow


@dataclass(frozen=True, slots=True)
class Policy:
    """How an alarm nobody answers escalates, and the windows of the alarm's life (seconds)."""

    quorum: int = 2
    quorum_seconds: int = 45
    patrol_seconds: int = 90
    repeat_seconds: int = 90
    max_cycles: int = 10
    cancel_seconds: int = 120
    confirm_seconds: int = 120

    def as_dict(self) -> dict[str, int]:
        """The policy's fields by name."""
        return asdict(self)


FIELDS = tuple(f.name for f in fields(Policy))


def _of(row: EscalationPolicy | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(**{name: getattr(row, name) for name in FIELDS})


@dataclass(frozen=True, slots=True)
class Locked:
    """A community whose row this transaction holds: its policy and local time zone."""

    community_id: int
    timezone: str
    policy: Policy


async def get(session: AsyncSession, *, community_id: int) -> Policy:
    """The community's policy (the defaults if it has none stored)."""
    return _of(await session.get(EscalationPolicy, community_id))


async def update(session: AsyncSession, *, community_id: int, **changes: Any) -> Policy:
    """Change some fields of the community's policy; every field stays a positive whole number
    (the quorum may be 0)."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        if not isinstance(value, int) or value < (0 if name == "quorum" else 1):
            raise ValueError(f"{name} must be a whole number ≥ {0 if name == 'quorum' else 1}")
    policy = replace(await get(session, community_id=community_id), **changes)
    row = await session.get(EscalationPolicy, community_id)
    if row is None:
        row = EscalationPolicy(community_id=community_id)
        session.add(row)
    for name in FIELDS:
        setattr(row, name, getattr(policy, name))
    row.updated_at = utcnow()
    await session.flush()
    return policy
