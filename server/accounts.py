"""Credentials: secrets that speak for one resident or staff member — a device's session
(signing in by phone) or an integration's token (`tenwatch token`) — and who they speak for."""

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, bindparam, or_, select

from groups.models import Credential, Group, Household, Resident, Staff
from server.runtime.batches import Batches
from storage.db import AsyncSession, read, utcnow

TOKEN_PREFIX = "tw_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a resident of a household, or a staff member of a community."""

    kind: Literal["resident", "staff"]
    community_id: int
    name: str
    resident_id: int | None = None
    household_id: int | None = None
    address: str | None = None
    group_id: int | None = None
    group_name: str | None = None
    group_leader: bool = False
    staff_id: int | None = None
    role: str | None = None
    roles: frozenset[str] = frozenset()
    """What more the person does: a resident's roles (building_leader, grid_manager, …), or the
    staff member's role; `server/roles.py` reads them."""
    grid_id: int | None = None
    """The household's grid, or the grid a staff member (a grid manager) looks after."""
    building: str | None = None
    """The household's building (B11)."""
    credential_id: int | None = None
    """The session or token this principal was checked by (None when made by the service)."""
    expires_at: datetime | None = None
    """When that credential ends (None: not by time)."""

    @property
    def grid_scope(self) -> int | None:
        """The grid a grid manager on the staff acts on (None: the whole community)."""
        if self.kind == "staff" and self.role == "grid_manager":
            return self.grid_id
        return None

    @property
    def channel(self) -> str:
        """The one stream this principal may hear: its group's, its grid's (a grid manager's
        board) or its community's board."""
        if self.kind == "resident":
            return group_channel(self.group_id or 0)
        if self.grid_scope is not None:
            return grid_channel(self.grid_scope)
        return board_channel(self.community_id)


def group_channel(group_id: int) -> str:
    """The bus channel of a ten-household group."""
    return f"group:{group_id}"


def grid_channel(grid_id: int) -> str:
    """The bus channel of a grid's board: the board's events of the alarms of that grid."""
    return f"grid:{grid_id}"


def board_channel(community_id: int) -> str:
    """The bus channel of a community's board."""
    return f"board:{community_id}"


def digest(token: str) -> str:
    """How a secret is stored and looked up: its SHA-256, never the secret."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    session: AsyncSession,
    *,
    community_id: int,
    resident_id: int | None = None,
    staff_id: int | None = None,
    kind: Literal["session", "token"] = "token",
    device: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a credential for one resident or staff member; returns the secret (shown once,
    stored only as its digest)."""
    return (
        await issue_credential(
            session,
            community_id=community_id,
            resident_id=resident_id,
            staff_id=staff_id,
            kind=kind,
            device=device,
            expires_at=expires_at,
        )
    )[0]


async def issue_credential(
    session: AsyncSession,
    *,
    community_id: int,
    resident_id: int | None = None,
    staff_id: int | None = None,
    kind: Literal["session", "token"] = "token",
    device: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, Credential]:
    """`issue`, also giving the credential's row (its id names the session)."""
    if (resident_id is None) == (staff_id is None):
        raise ValueError("a credential speaks for exactly one resident or one staff member")
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    credential = Credential(
        token_hash=digest(token),
        community_id=community_id,
        resident_id=resident_id,
        staff_id=staff_id,
        kind=kind,
        device=device,
        expires_at=expires_at,
    )
    session.add(credential)
    await session.flush()
    return token, credential


def ends(*, now: datetime, days: float = 0, hours: float = 0) -> datetime | None:
    """The end of a credential opened now that lasts so long (None: no end, for 0)."""
    span = timedelta(days=days, hours=hours)
    return now + span if span > timedelta(0) else None


# Columns in the order _principal takes them.
_CREDENTIAL = (
    select(
        Resident.id,
        Resident.name,
        Household.id,
        Household.community_id,
        Household.address,
        Household.group_id,
        Group.name,
        Group.leader_household_id,
        Staff.id,
        Staff.community_id,
        Staff.name,
        Staff.role,
        Credential.id,
        Credential.expires_at,
        Resident.roles,
        Household.grid_id,
        Household.building,
        Staff.grid_id,
    )
    .select_from(Credential)
    .outerjoin(Resident, Credential.resident_id == Resident.id)
    .outerjoin(Household, Resident.household_id == Household.id)
    .outerjoin(Group, Household.group_id == Group.id)
    .outerjoin(Staff, Credential.staff_id == Staff.id)
    .where(
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > bindparam("now")),
    )
)
_CREDENTIAL_OF = _CREDENTIAL.where(Credential.token_hash == bindparam("digest"))
_CREDENTIALS_OF = _CREDENTIAL.add_columns(Credential.token_hash).where(
    Credential.token_hash.in_(bindparam("digests", expanding=True))
)
_CREDENTIAL_BY_ID = _CREDENTIAL.where(Credential.id == bindparam("id"))


async def authenticate(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The principal a token speaks for, or None if the token is unknown, ended or revoked."""
    if not _well_formed(token):
        return None
    params = {"digest": digest(token), "now": now or utcnow()}
    row = (await read(session, _CREDENTIAL_OF, params)).one_or_none()
    return _principal(row) if row is not None else None


async def authenticate_all(
    session: AsyncSession, tokens: Iterable[str], *, now: datetime | None = None
) -> dict[str, Principal]:
    """The principals of several tokens in one query; a token unknown, ended or revoked is
    missing."""
    digests = {digest(t): t for t in tokens if _well_formed(t)}
    if not digests:
        return {}
    rows = await read(session, _CREDENTIALS_OF, {"digests": list(digests), "now": now or utcnow()})
    found = {digests[row[-1]]: _principal(row[:-1]) for row in rows}
    return {token: principal for token, principal in found.items() if principal is not None}


async def by_credential(
    session: AsyncSession, credential_id: int, *, now: datetime | None = None
) -> Principal | None:
    """The principal of a credential named by its id, while it is in force."""
    params = {"id": credential_id, "now": now or utcnow()}
    row = (await read(session, _CREDENTIAL_BY_ID, params)).one_or_none()
    return _principal(row) if row is not None else None


def _well_formed(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


def _principal(row: Any) -> Principal | None:
    credential_id, expires_at, resident_roles, grid_id, building, staff_grid = row[12:18]
    if row[0] is not None and row[2] is not None:
        found = _resident_principal(*row[:8], roles=resident_roles, grid_id=grid_id)
        found = dataclasses.replace(found, building=building)
    elif row[8] is not None:
        found = _staff_principal(*row[8:12], grid_id=staff_grid)
    else:
        return None
    return dataclasses.replace(found, credential_id=credential_id, expires_at=expires_at)


def _resident_principal(
    resident_id: int,
    name: str,
    household_id: int,
    community_id: int,
    address: str,
    group_id: int | None,
    group_name: str | None,
    leader: int | None,
    *,
    roles: str = "",
    grid_id: int | None = None,
) -> Principal:
    return Principal(
        kind="resident",
        community_id=community_id,
        name=name,
        resident_id=resident_id,
        household_id=household_id,
        address=address,
        group_id=group_id,
        group_name=group_name,
        group_leader=leader is not None and leader == household_id,
        roles=frozenset(r for r in roles.split(",") if r),
        grid_id=grid_id,
    )


def _staff_principal(
    staff_id: int, community_id: int, name: str, role: str, *, grid_id: int | None = None
) -> Principal:
    return Principal(
        kind="staff",
        community_id=community_id,
        name=name,
        staff_id=staff_id,
        role=role,
        roles=frozenset({role}),
        grid_id=grid_id,
    )


class Principals:
    """Credentials checked in the last few seconds: a press costs no credential query. Only
    known ones are kept, so a newly issued one works at once; a change to who one speaks for
    (a household regrouped) shows within `seconds`; a revoked one is forgotten at once when
    the revocation is heard (`forget`), and an ended one is never taken from memory."""

    def __init__(
        self,
        *,
        seconds: float,
        size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        reads: Callable[[], AsyncSession] | None = None,
    ) -> None:
        self._seconds = seconds
        self._size = size
        self._clock = clock
        self._now = now
        self._known: dict[str, tuple[float, Principal]] = {}
        self._reads = reads
        self._lookups: Batches[None, str, Principal | None] = Batches(self._look_up)

    async def check(self, token: str) -> Principal | None:
        """`authenticate` with a session of its own: the tokens not fresh in memory that come
        together are looked up together, one query for them all (a storm's presses and
        sockets each bring one)."""
        cached = self._fresh(token)
        if cached is not None:
            return cached
        return await self._lookups.submit(None, token)

    def forget(self, credential_ids: Collection[int]) -> None:
        """Drop what is known of these credentials (revoked): the next check asks the
        database."""
        wanted = set(credential_ids)
        self._known = {
            token: known
            for token, known in self._known.items()
            if known[1].credential_id not in wanted
        }

    def _fresh(self, token: str) -> Principal | None:
        cached = self._known.get(token)
        if cached is None or cached[0] <= self._clock():
            return None
        ends = cached[1].expires_at
        if ends is not None and ends <= self._now():
            return None
        return cached[1]

    async def _look_up(self, _key: None, tokens: Sequence[str]) -> list[Principal | None]:
        assert self._reads is not None, "Principals(reads=...) to look tokens up by themselves"
        async with self._reads() as session:
            found = await authenticate_all(session, set(tokens), now=self._now())
        return [self._remember(token, found.get(token)) for token in tokens]

    def _remember(self, token: str, principal: Principal | None) -> Principal | None:
        now = self._clock()
        if principal is not None and self._seconds > 0:
            if len(self._known) >= self._size:
                self._known = {k: v for k, v in self._known.items() if v[0] > now}
                if len(self._known) >= self._size:
                    self._known.clear()
            self._known[token] = (now + self._seconds, principal)
        else:
            self._known.pop(token, None)
        return principal

    async def authenticate(self, session: AsyncSession, token: str) -> Principal | None:
        """The principal a token speaks for, from memory while fresh, else from the database."""
        cached = self._fresh(token)
        if cached is not None:
            return cached
        return self._remember(token, await authenticate(session, token, now=self._now()))


def of_resident(
    resident: Resident, household: Household, group_name: str | None, leader: int | None = None
) -> Principal:
    """The principal of a resident of a household (whose group's leader household is given)."""
    found = _resident_principal(
        resident.id,
        resident.name,
        household.id,
        household.community_id,
        household.address,
        household.group_id,
        group_name,
        leader,
        roles=resident.roles,
        grid_id=household.grid_id,
    )
    return dataclasses.replace(found, building=household.building)


def of_staff(staff: Staff) -> Principal:
    """The principal of a staff member."""
    return _staff_principal(
        staff.id, staff.community_id, staff.name, staff.role, grid_id=staff.grid_id
    )


async def for_household(session: AsyncSession, *, household_id: int) -> Principal | None:
    """A principal for the first resident of a household (for presses made on its behalf)."""
    return await _resident(session, Household.id == household_id)


async def for_resident(session: AsyncSession, *, resident_id: int) -> Principal | None:
    """The principal of one resident."""
    return await _resident(session, Resident.id == resident_id)


async def _resident(session: AsyncSession, where: ColumnElement[bool]) -> Principal | None:
    row = (
        await session.execute(
            select(Resident, Household, Group.name, Group.leader_household_id)
            .join(Household, Resident.household_id == Household.id)
            .outerjoin(Group, Household.group_id == Group.id)
            .where(where)
            .order_by(Resident.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    resident, household, group_name, leader = row
    return of_resident(resident, household, group_name, leader)
