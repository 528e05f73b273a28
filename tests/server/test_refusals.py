"""Every refusal of the one family answers with its own status and its sentence, and nothing
else: one handler maps them all."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from server import errors
from server.errors import Refusal
from server.settings import Settings
from tests.harness import running

FAMILY = [
    cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, Refusal)
]
refusing = APIRouter()


@refusing.get("/test/refuse/{name}")
async def refuse(name: str) -> None:
    """Raise the refusal named."""
    raise getattr(errors, name)(f"{name} because a test said so")


def test_the_family_has_one_status_a_member() -> None:
    statuses = [cls.status for cls in FAMILY if cls is not Refusal]
    assert len(statuses) == len(set(statuses)) >= 7
    assert all(400 <= status < 600 for status in statuses)


@pytest.mark.parametrize("refusal", FAMILY, ids=lambda cls: cls.__name__)
async def test_a_refusal_answers_its_status_with_its_sentence(
    sqlite_url: str, refusal: type[Refusal]
) -> None:
    settings = Settings(database_url=sqlite_url)
    async with running(settings, router=refusing) as base, httpx.AsyncClient(base_url=base) as c:
        answer = await c.get(f"/test/refuse/{refusal.__name__}")
    assert answer.status_code == refusal.status
    assert answer.json() == {"detail": f"{refusal.__name__} because a test said so"}
    challenged = answer.headers.get("www-authenticate")
    assert (challenged == "Bearer") == (refusal.status == 401)
