"""People acting on a running service through its HTTP API, so that a test reads as what they do:
a resident presses help and cancels with a PIN, a neighbour answers, the patrol takes the alarm,
goes on scene and resolves it, the admin sets the policy and the duty roster.

Every verb is open to everyone: the service, not this module, decides who may do what, so a test
can have a resident try the patrol's step and read the refusal. A verb answers the service's
response (its status code is the test's to check), or its JSON where only a reading is wanted.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.harness import Seed, call


class Person:
    """Someone signed in to the service at base with token: a resident or a member of staff."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any other call of the API, as this person."""
        return await call(self.base, self.token, method, path, **kwargs)

    async def _step(
        self, alarm: int, step: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await self.call("POST", f"/api/alerts/{alarm}/{step}", json=body)

    # A household's verbs.

    async def press(
        self, alert_type: str = "help", *, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        """Press help (extra goes into the request body; key is its Idempotency-Key)."""
        headers = {} if key is None else {"Idempotency-Key": key}
        body = {"type": alert_type, **extra}
        return await self.call("POST", "/api/alerts", json=body, headers=headers)

    async def raise_alarm(self, alert_type: str = "help", **extra: Any) -> int:
        """Press help; the id of the alarm the press raised or joined."""
        alarm: int = (await self.press(alert_type, **extra)).json()["alert"]["id"]
        return alarm

    async def answer(self, alarm: int, answer: str) -> httpx.Response:
        """Answer a neighbour's alarm ("coming", "cant")."""
        return await self._step(alarm, "responses", {"answer": answer})

    async def cancel(self, alarm: int, *, pin: str) -> httpx.Response:
        """Call off one's own alarm with the household's PIN."""
        return await self._step(alarm, "cancel", {"pin": pin})

    async def set_pins(self, pin: str = "1234", duress: str = "9999") -> httpx.Response:
        """Give the household its cancel PIN and its duress PIN."""
        return await self.call("PUT", "/api/household/pin", json={"pin": pin, "duress_pin": duress})

    async def start_drill(self, label: str, **extra: Any) -> httpx.Response:
        """Start a drill of the group (an admin names the household in extra)."""
        return await self.call("POST", "/api/drills", json={"label": label, **extra})

    # The patrol's verbs.

    async def take(self, alarm: int) -> httpx.Response:
        """Take the alarm: I am on my way."""
        return await self._step(alarm, "take")

    async def on_scene(self, alarm: int) -> httpx.Response:
        """Say that I have arrived."""
        return await self._step(alarm, "on-scene")

    async def resolve(self, alarm: int, outcome: str, *, note: str | None = None) -> httpx.Response:
        """Close the alarm with an outcome, and a note for the staff if given."""
        body = {"outcome": outcome} if note is None else {"outcome": outcome, "note": note}
        return await self._step(alarm, "resolve", body)

    async def escalate(self, alarm: int) -> httpx.Response:
        """Call in the police office."""
        return await self._step(alarm, "escalate")

    # The admin's verbs.

    async def set_policy(self, **policy: Any) -> httpx.Response:
        """Change the community's escalation policy."""
        return await self.call("PUT", "/api/policy", json=policy)

    async def policy(self) -> httpx.Response:
        """Read the community's escalation policy."""
        return await self.call("GET", "/api/policy")

    async def report(self) -> httpx.Response:
        """Read the community's report of alarms and drills."""
        return await self.call("GET", "/api/reports")

    async def add_shift(self, phone: str, *, days: str, starts: str, ends: str) -> httpx.Response:
        """Put the patrol member with phone on the weekly roster."""
        shift = {"phone": phone, "days": days, "starts": starts, "ends": ends}
        return await self.call("POST", "/api/duty/shifts", json=shift)

    async def add_override(
        self, phone: str, *, starts_at: str, ends_at: str, on_duty: bool
    ) -> httpx.Response:
        """Put the patrol member with phone on or off duty for a while."""
        override = {"phone": phone, "starts_at": starts_at, "ends_at": ends_at, "on_duty": on_duty}
        return await self.call("POST", "/api/duty/overrides", json=override)

    # What anyone reads.

    async def look_at(self, alarm: int) -> dict[str, Any]:
        """The alarm as this person is shown it."""
        shown: dict[str, Any] = (await self.call("GET", f"/api/alerts/{alarm}")).json()
        return shown

    async def timeline(self, alarm: int) -> list[dict[str, Any]]:
        """The alarm's events that this person may see, oldest first."""
        events: list[dict[str, Any]] = (
            await self.call("GET", f"/api/alerts/{alarm}/timeline")
        ).json()
        return events

    async def alarms(self, *, closed: bool = False) -> list[dict[str, Any]]:
        """The open alarms this person sees (or the closed ones)."""
        path = "/api/alerts?closed=true" if closed else "/api/alerts"
        shown: list[dict[str, Any]] = (await self.call("GET", path)).json()
        return shown

    async def me(self) -> dict[str, Any]:
        """Who the service takes this person for."""
        found: dict[str, Any] = (await self.call("GET", "/api/me")).json()
        return found

    async def on_duty(self) -> list[dict[str, Any]]:
        """The patrol members on duty now."""
        found: list[dict[str, Any]] = (await self.call("GET", "/api/duty")).json()
        return found


class Resident(Person):
    """The resident of the household at address: the raiser of an alarm, or a neighbour."""

    def __init__(self, base: str, token: str, address: str) -> None:
        super().__init__(base, token)
        self.address = address


def resident(base: str, seed: Seed, address: str) -> Resident:
    """The household of seed at address, acting on the service at base."""
    return Resident(base, seed.households[address], address)
