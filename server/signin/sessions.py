"""Device sessions and integration tokens: opened, listed, revoked. A revocation is announced on
the bus when its transaction commits, so every process forgets the credential and closes its
sockets at once (`server/signin/revocation.py`)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from groups.models import Credential, Household, Resident, Staff
from server import accounts
from server.runtime.work import announce_later
from server.signin import revocation
from server.signin.codes import Identity
from storage.db import AsyncSession


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a session lasts (settings): long for residents, a shift for staff."""

    resident_days: float = 180.0
    staff_hours: float = 12.0


async def open_session(
    session: AsyncSession, *, identity: Identity, device: str, lifetimes: Lifetimes, now: datetime
) -> tuple[str, Credential]:
    """A new session for the identity on a device: its secret (for the cookie) and its row."""
    if identity.resident_id is not None:
        ends = accounts.ends(now=now, days=lifetimes.resident_days)
    else:
        ends = accounts.ends(now=now, hours=lifetimes.staff_hours)
    return await accounts.issue_credential(
        session,
        community_id=identity.community_id,
        resident_id=identity.resident_id,
        staff_id=identity.staff_id,
        kind="session",
        device=device[:80],
        expires_at=ends,
    )


@dataclass(frozen=True, slots=True)
class Listed:
    """A credential as its owner or an admin sees it (never its secret)."""

    id: int
    kind: str
    device: str | None
    created_at: datetime
    expires_at: datetime | None
    who: str
    resident_id: int | None
    staff_id: int | None


async def listed(
    session: AsyncSession,
    *,
    community_id: int,
    now: datetime,
    resident_id: int | None = None,
    staff_id: int | None = None,
) -> list[Listed]:
    """The credentials in force of one person, or (with neither id) of a whole community,
    newest first."""
    query = (
        select(Credential, Resident.name, Household.address, Staff.name)
        .outerjoin(Resident, Credential.resident_id == Resident.id)
        .outerjoin(Household, Resident.household_id == Household.id)
        .outerjoin(Staff, Credential.staff_id == Staff.id)
        .where(Credential.community_id == community_id, Credential.revoked_at.is_(None))
        .order_by(Credential.id.desc())
    )
    if resident_id is not None:
        query = query.where(Credential.resident_id == resident_id)
    if staff_id is not None:
        query = query.where(Credential.staff_id == staff_id)
    found = []
    for credential, resident, address, staff in await session.execute(query):
        if credential.expires_at is not None and credential.expires_at <= now:
            continue
        who = f"{address} {resident}" if resident is not None else str(staff)
        found.append(
            Listed(
                id=credential.id,
                kind=credential.kind,
                device=credential.device,
                created_at=credential.created_at,
                expires_at=credential.expires_at,
                who=who,
                resident_id=credential.resident_id,
                staff_id=credential.staff_id,
            )
        )
    return found


async def find(session: AsyncSession, *, credential_id: int) -> Credential | None:
    """A credential by its id, revoked or not."""
    return await session.get(Credential, credential_id)


async def revoke(session: AsyncSession, *, credential_ids: list[int], now: datetime) -> list[int]:
    """Revoke these credentials (those still in force); every process hears it on commit.
    Returns the ids revoked."""
    if not credential_ids:
        return []
    rows = await session.scalars(
        update(Credential)
        .where(Credential.id.in_(credential_ids), Credential.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(Credential.id)
    )
    revoked = sorted(rows)
    if revoked:
        announce_later(session, channel=revocation.CHANNEL, message=revocation.message(revoked))
    return revoked
