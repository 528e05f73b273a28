"""Household PINs: the cancel PIN and the duress PIN, stored salted and hashed."""

import asyncio
import hashlib
import hmac
import re
import secrets

_PIN = re.compile(r"^[0-9]{4,8}$")
_ITERATIONS = 60_000


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


async def check(pin: str, *stored: str | None) -> list[bool]:
    """Whether a PIN matches each stored hash, worked out off the event loop (PBKDF2 is slow on
    purpose)."""
    return await asyncio.to_thread(lambda: [matches(pin, one) for one in stored])


async def hash_pins(*new: str) -> list[str]:
    """Hashes of new PINs, worked out off the event loop."""
    return await asyncio.to_thread(lambda: [hash_pin(pin) for pin in new])


def matches(pin: str, stored: str | None) -> bool:
    """Whether a PIN matches a stored hash (never when none is stored)."""
    if not stored or "$" not in stored:
        return False
    salt, expected = stored.split("$", 1)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), _ITERATIONS)
    return hmac.compare_digest(digest.hex(), expected)
