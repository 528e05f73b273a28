"""The resident app's own routes: the numbers to call without the service, and what makes the
page installable (the manifest, its icons, the service worker served from the root)."""

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from groups.models import AlarmNumber
from server.web.deps import CurrentPrincipal, Reads
from server.web.routes.pages import STATIC

router = APIRouter(tags=["app"])

EMERGENCY = {"police": "110", "fire": "119", "medical": "120"}
"""China's emergency numbers, by the service each type of alarm needs."""


class Numbers(BaseModel):
    """The numbers a phone keeps to call for help when the service can't be reached."""

    group_number: Annotated[
        str | None,
        Field(description="The group's alarm number (call or text it), else the community's."),
    ]
    emergency: dict[str, str] = Field(description="police, fire and medical numbers.")


@router.get("/api/me/numbers", response_model=Numbers)
async def numbers(principal: CurrentPrincipal, reads: Reads) -> Numbers:
    """Your group's alarm number (or the community's) and the emergency numbers by service."""
    rows = await reads.scalars(
        select(AlarmNumber)
        .where(
            AlarmNumber.community_id == principal.community_id,
            or_(AlarmNumber.group_id.is_(None), AlarmNumber.group_id == principal.group_id),
        )
        .order_by(AlarmNumber.id)
    )
    found = list(rows)
    own = [n.number for n in found if n.group_id is not None and n.group_id == principal.group_id]
    shared = [n.number for n in found if n.group_id is None]
    chosen = next(iter(own or shared), None)
    return Numbers(group_number=chosen, emergency=dict(EMERGENCY))


NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> FileResponse:
    """The resident app's service worker, from the root so its scope covers /app."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=NO_CACHE)


@router.get("/manifest.webmanifest", include_in_schema=False)
async def manifest() -> FileResponse:
    """The resident app's web manifest (installing it on a phone's home screen)."""
    return FileResponse(
        STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers=NO_CACHE
    )


@router.get("/icon-192.png", include_in_schema=False)
async def icon_192() -> FileResponse:
    """The app's icon, 192 px."""
    return FileResponse(STATIC / "icon-192.png", media_type="image/png")


@router.get("/icon-512.png", include_in_schema=False)
async def icon_512() -> FileResponse:
    """The app's icon, 512 px."""
    return FileResponse(STATIC / "icon-512.png", media_type="image/png")
