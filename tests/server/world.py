"""A seeded community served on a clock the test moves, and what tests read back from it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from notifier.models import OutboxMessage
from server.runtime.clock import ManualClock
from server.settings import Settings
from tests.actors import Person, Resident
from tests.harness import Seed, rows

RAISER = "B11-1-301"
POLICE = "+8613900000004"


@dataclass
class World:
    """A seeded database, settings for it, and the clock the service runs on."""

    url: str
    settings: Settings
    seed: Seed
    clock: ManualClock

    def token(self, address: str) -> str:
        """A resident credential of the household at address."""
        return self.seed.households[address]

    def neighbours(self, address: str = RAISER) -> list[str]:
        """The other households of address's group."""
        return [a for a in self.seed.group_of(address) if a != address]

    def resident(self, base: str, address: str = RAISER) -> Resident:
        """The household at address, acting on the service at base."""
        return Resident(base, self.token(address), address)

    def staff(self, base: str, role: str) -> Person:
        """The member of staff of role ("patrol_member", "admin", ...) acting on base."""
        return Person(base, self.seed.staff[role])


async def texts_to(world: World, alert_id: int) -> list[tuple[str, str, str]]:
    """(to, body, status) of every outbox row of an alarm, oldest first."""
    found = await rows(
        world.url,
        select(OutboxMessage.to, OutboxMessage.body, OutboxMessage.status)
        .where(OutboxMessage.alert_id == alert_id)
        .order_by(OutboxMessage.id),
    )
    return [(to, body, status) for to, body, status in found]


async def set_pins(household: Person, pin: str = "1234", duress: str = "9999") -> None:
    """Give a household its cancel PIN and duress PIN."""
    answer = await household.set_pins(pin, duress)
    assert answer.status_code == 204, answer.text


async def all_sent(world: World, alert_id: int) -> bool:
    """Whether every text of the alarm has left the outbox."""
    found = await texts_to(world, alert_id)
    return bool(found) and all(status == "sent" for _, _, status in found)
