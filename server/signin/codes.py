"""Sign-in codes: sent on request (rate-limited per number and per client, the same answer
whether or not anyone has the number), checked with a limit of tries, and once checked, who of
the people with that phone signs in."""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update

from groups.models import Group, Household, Resident, Staff
from notifier.verify import Verifier, VerifyError
from server.errors import Invalid, Refusal, Unauthenticated, Unavailable
from server.signin.models import SignInCode
from storage.db import AsyncSession

HOUR = timedelta(hours=1)


class TooMany(Refusal):
    """Too many codes asked for, or too many wrong ones typed: wait, then ask again."""

    status = 429


@dataclass(frozen=True, slots=True)
class Limits:
    """How codes are limited (settings)."""

    valid_seconds: int = 300
    tries: int = 5
    per_phone_an_hour: int = 5
    per_client_an_hour: int = 20


@dataclass(frozen=True, slots=True)
class Identity:
    """Someone a phone belongs to: a resident of a household, or a staff member."""

    key: str  # "resident:12", "staff:3": what the person chooses by
    community_id: int
    label: str  # "B11-1-301 王芳", "巡逻队 李强"
    resident_id: int | None = None
    staff_id: int | None = None
    language: str = "zh"


async def identities(session: AsyncSession, *, phone: str) -> list[Identity]:
    """Everyone registered with this phone, in any household or staff list, oldest first."""
    residents = await session.execute(
        select(Resident.id, Resident.name, Household.community_id, Household.address)
        .add_columns(Household.language)
        .join(Household, Resident.household_id == Household.id)
        .outerjoin(Group, Household.group_id == Group.id)
        .where(Resident.phone == phone)
        .order_by(Resident.id)
    )
    staff = await session.execute(
        select(Staff.id, Staff.name, Staff.community_id, Staff.role)
        .where(Staff.phone == phone)
        .order_by(Staff.id)
    )
    found = [
        Identity(
            key=f"resident:{rid}",
            community_id=community,
            label=f"{address} {name}",
            resident_id=rid,
            language=language or "zh",
        )
        for rid, name, community, address, language in residents
    ]
    found += [
        Identity(key=f"staff:{sid}", community_id=community, label=f"{name} ({role})", staff_id=sid)
        for sid, name, community, role in staff
    ]
    return found


Sessions = Callable[[], AsyncSession]


async def send(
    sessions: Sessions,
    *,
    phone: str,
    client: str,
    verifier: Verifier,
    limits: Limits,
    now: datetime,
) -> int:
    """Send a code to phone if anyone has it (recorded either way, so the answer and the limit
    are the same for any number); returns the seconds it is valid. TooMany past the limits.

    The provider is asked between two short transactions, never inside one: on SQLite a
    transaction holds the one write lock that every press needs."""
    async with sessions() as session:
        since = now - HOUR
        per_phone = await _count(session, SignInCode.phone == phone, since)
        per_client = await _count(session, SignInCode.client == client[:64], since)
        if per_phone >= limits.per_phone_an_hour or per_client >= limits.per_client_an_hour:
            raise TooMany("Too many codes asked for: wait an hour, or ask your group leader.")
        people = await identities(session, phone=phone)
        row = SignInCode(
            phone=phone,
            client=client[:64],
            registered=bool(people),
            created_at=now,
            expires_at=now + timedelta(seconds=limits.valid_seconds),
            tries=0,
        )
        session.add(row)
        await session.commit()
        row_id = row.id
    if not people:
        return limits.valid_seconds
    kept: str | None = None
    failed: VerifyError | None = None
    try:
        kept = await verifier.send(phone=phone, language=people[0].language)
    except VerifyError as exc:
        failed = exc
    async with sessions() as session:
        await session.execute(
            update(SignInCode)
            .where(SignInCode.id == row_id)
            .values(kept=kept, expires_at=now if failed else SignInCode.expires_at)
        )
        await session.commit()
    if failed is not None:
        raise Unavailable("The code could not be sent just now; try again in a minute.") from failed
    return limits.valid_seconds


async def _count(session: AsyncSession, where: ColumnElement[bool], since: datetime) -> int:
    found = await session.scalar(
        select(func.count()).select_from(SignInCode).where(where, SignInCode.created_at > since)
    )
    return int(found or 0)


WRONG = "That code is not right, or it has ended: check it, or ask for a new one."


async def check(
    sessions: Sessions,
    *,
    phone: str,
    code: str,
    verifier: Verifier,
    limits: Limits,
    now: datetime,
) -> tuple[int, list[Identity]]:
    """Check the code last sent to phone: the code row's id (now verified) and who the phone
    belongs to. Unauthenticated for a wrong or ended code; TooMany after the last try (then
    a new code is needed). The try is counted before the provider is asked."""
    async with sessions() as session:
        row = await session.scalar(
            select(SignInCode)
            .where(SignInCode.phone == phone, SignInCode.verified_at.is_(None))
            .order_by(SignInCode.id.desc())
            .limit(1)
        )
        if row is None or row.expires_at <= now:
            raise Unauthenticated(WRONG)
        if row.tries >= limits.tries:
            raise TooMany("Too many wrong codes: ask for a new one.")
        row.tries += 1
        last_try = row.tries >= limits.tries
        row_id, registered, kept = row.id, row.registered, row.kept
        await session.commit()
    good = False
    if registered and code.isascii() and code.isdigit() and len(code) == 6:
        try:
            good = await verifier.check(phone=phone, code=code, kept=kept)
        except VerifyError as exc:
            raise Unavailable("The code could not be checked just now; try again.") from exc
    async with sessions() as session:
        if not good:
            if last_try:  # spent: a new code is needed
                await session.execute(
                    update(SignInCode).where(SignInCode.id == row_id).values(expires_at=now)
                )
                await session.commit()
            raise Unauthenticated(WRONG)
        done = await session.execute(
            update(SignInCode)
            .where(SignInCode.id == row_id, SignInCode.verified_at.is_(None))
            .values(verified_at=now)
        )
        people = await identities(session, phone=phone)
        await session.commit()
    if not people or done.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthenticated(WRONG)
    return row_id, people


async def offer_choice(session: AsyncSession, *, code_id: int) -> str:
    """A secret proving that a code was checked, for choosing who of the phone's people signs
    in."""
    secret = secrets.token_urlsafe(24)
    await session.execute(
        update(SignInCode).where(SignInCode.id == code_id).values(choice_hash=_hash(secret))
    )
    return secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def chosen(
    session: AsyncSession, *, phone: str, choice: str, key: str, limits: Limits, now: datetime
) -> Identity:
    """The identity chosen with a checked code's secret (once: the secret is spent)."""
    row = await session.scalar(
        select(SignInCode).where(SignInCode.phone == phone, SignInCode.choice_hash == _hash(choice))
    )
    verified = row.verified_at if row is not None else None
    if row is None or verified is None or verified + timedelta(seconds=limits.valid_seconds) <= now:
        raise Unauthenticated("That sign-in has ended: ask for a new code.")
    people = {p.key: p for p in await identities(session, phone=phone)}
    if key not in people:
        raise Invalid("choose one of: {people}", people=", ".join(people))
    row.choice_hash = None
    return people[key]
