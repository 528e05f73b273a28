"""The supervision's tests' hands: rounds close together, a route that stops the outbox worker,
and /readyz's staff details waited on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from prometheus_client import REGISTRY

from tests.harness import poll_until

ROUND: dict[str, Any] = {"supervision_seconds": 0.2, "supervision_deadline_seconds": 2.0}
"""Rounds close together, each leg given 2 s."""

hands = APIRouter()


@hands.post("/test/outbox/stop")
async def stop_outbox(request: Request) -> dict[str, str]:
    """Stop this process's outbox worker, as a wedged or crashed one would be."""
    await request.state.outbox.stop()
    return {"outbox": "stopped"}


async def readiness(base: str, staff: str) -> dict[str, Any]:
    """/readyz as staff see it."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.get("/readyz", headers={"Authorization": f"Bearer {staff}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def until(base: str, staff: str, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait (10 s at most) until /readyz's staff details satisfy holds; returns them."""
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.clear()
        seen.update(await readiness(base, staff))
        return holds(seen)

    try:
        await poll_until(check, timeout=10)
    except TimeoutError:
        raise AssertionError(f"/readyz never got there: {seen}") from None
    return seen


def healthy(body: dict[str, Any]) -> bool:
    supervision = body["supervision"]
    return supervision["state"] == "ok" and all(leg["ok"] for leg in supervision["legs"].values())


def failing(leg: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body["supervision"]["failing"] == leg


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)
