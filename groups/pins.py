"""Household PINs: the cancel PIN and the duress PIN, stored salted and hashed, and the lockout
of wrong PINs given to change them.

PBKDF2 is slow on purpose (≈ 25 ms a hash), so hashing never runs on the event loop, and the
two uses have threads of their own: a cancel's check (`check`) is never queued behind PIN
changes, and PIN changes (`check_to_change`, `hash_pins`) use one thread, so a flood of them
takes at most one core. A PIN change counts its try before it hashes (`try_change`), so a
lockout stops the hashing too, and concurrent tries cannot slip past it."""

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from groups.models import Household

_PIN = re.compile(r"^[0-9]{4,8}$")
_ITERATIONS = 60_000
_CANCELS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pin-cancel")
_CHANGES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pin-change")

TRIES = 5
"""Wrong current PINs in a row after which a household's PIN changes are locked out."""
LOCK_SECONDS = 60
"""The first lockout; each one after it (every TRIES more wrong PINs) lasts twice as long."""
LOCK_MAX_SECONDS = 86_400

T = TypeVar("T")


class BadPin(ValueError):
    """A PIN that is not 4 to 8 digits."""


def check_format(pin: str) -> str:
    """The PIN if it is 4 to 8 digits, else BadPin."""
    if not _PIN.match(pin):
        raise BadPin("a PIN is 4 to 8 digits")
    return pin


def hash_pin(pin: str) -> str:
    """A salted PBKDF2 hash of a PIN, as stored."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", check_format(pin).encode(), salt.encode(), _ITERATIONS)
    return f"{salt}${digest.hex()}"


async def _off_loop(executor: ThreadPoolExecutor, work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(executor, work)


async def check(pin: str, *stored: str | None) -> list[bool]:
    """Whether a PIN matches each stored hash, worked out off the event loop (a cancel's
    check, on threads PIN changes never hold)."""
    return await _off_loop(_CANCELS, lambda: [matches(pin, one) for one in stored])


async def check_to_change(pin: str, stored: str | None) -> bool:
    """Whether the current PIN given to change the PINs matches, off the event loop."""
    return await _off_loop(_CHANGES, lambda: matches(pin, stored))


async def hash_pins(*new: str) -> list[str]:
    """Hashes of new PINs, worked out off the event loop."""
    return await _off_loop(_CHANGES, lambda: [hash_pin(pin) for pin in new])


def matches(pin: str, stored: str | None) -> bool:
    """Whether a PIN matches a stored hash (never when none is stored)."""
    if not stored or "$" not in stored:
        return False
    salt, expected = stored.split("$", 1)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), _ITERATIONS)
    return hmac.compare_digest(digest.hex(), expected)


def lockout(failures: int) -> timedelta | None:
    """How long PIN changes are locked out after the failures-th wrong PIN in a row: after
    every TRIES-th, LOCK_SECONDS doubled for each lockout before it (at most a day); else
    None."""
    if failures <= 0 or failures % TRIES:
        return None
    doublings = min(failures // TRIES - 1, 20)
    return timedelta(seconds=min(LOCK_SECONDS * 2**doublings, LOCK_MAX_SECONDS))


def locked_until(household: Household, *, now: datetime) -> datetime | None:
    """When the household's lockout ends, if it is locked out now."""
    until = household.pin_locked_until
    return until if until is not None and until > now else None


class LockedOut(Exception):
    """PIN changes of the household are locked out until `until` after wrong PINs."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"PIN changes are locked out until {until.isoformat()}")
        self.until = until


async def try_change(session: AsyncSession, *, household_id: int, now: datetime) -> Household:
    """The household, locked for this transaction, with one more try at its current PIN
    counted when it has one, and the lockout that try earns if it proves wrong set already (a
    right PIN lifts it: `changed`); LockedOut while a lockout holds, with nothing counted.
    Counting before hashing means a lockout stops the hashing, and tries that come together are
    counted one by one."""
    household = await session.get(
        Household, household_id, with_for_update=True, populate_existing=True
    )
    if household is None:
        raise LookupError(f"no household {household_id}")
    until = locked_until(household, now=now)
    if until is not None:
        raise LockedOut(until)
    if household.pin_hash is not None:
        household.pin_failures += 1
        pause = lockout(household.pin_failures)
        if pause is not None:
            household.pin_locked_until = now + pause
    return household


async def changed(
    session: AsyncSession, *, household_id: int, pin_hash: str, duress_pin_hash: str
) -> None:
    """Store new PIN hashes and forget the wrong tries and the lockout (a right PIN was given,
    or none was set)."""
    household = await session.get(
        Household, household_id, with_for_update=True, populate_existing=True
    )
    if household is None:
        raise LookupError(f"no household {household_id}")
    household.pin_hash, household.duress_pin_hash = pin_hash, duress_pin_hash
    household.pin_failures = 0
    household.pin_locked_until = None
