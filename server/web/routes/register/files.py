"""The register's import and export (CSV), and its audit log (read, and exported as CSV)."""

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from groups import audit, importer
from groups.models import Community
from server.errors import Invalid, NotFound
from server.web.deps import CurrentPrincipal, Session
from server.web.routes.register.access import admin
from server.web.routes.register.schemas import AuditOut, AuditPage, ImportOut, ImportRefused

router = APIRouter(prefix="/api/register", tags=["register"])
MAX_UPLOAD = importer.MAX_BYTES


# -- import and export -----------------------------------------------------------------------


async def _community_name(session: Session, community_id: int) -> str:
    name = await session.scalar(select(Community.name).where(Community.id == community_id))
    if name is None:
        raise NotFound("your community is no longer registered")
    return name


@router.post(
    "/import",
    response_model=ImportOut,
    responses={422: {"model": ImportRefused}, 413: {"model": ImportRefused}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_register(
    request: Request, principal: CurrentPrincipal, session: Session
) -> ImportOut | JSONResponse:
    """Import a CSV register (UTF-8, the columns of docs/register.md) into your community: all
    rows are checked first, and nothing is written when any is bad."""
    actor = admin(principal)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD:
            sentence = f"the file is larger than {MAX_UPLOAD // 1024 // 1024} MiB; split it"
            return JSONResponse({"detail": sentence, "errors": []}, status_code=413)
    name = await _community_name(session, principal.community_id)
    try:
        report = await importer.import_csv(session, source=bytes(data), community=name)
    except importer.Unreadable as exc:
        return JSONResponse({"detail": str(exc), "errors": []}, status_code=422)
    except importer.ImportFailed as exc:
        await session.rollback()
        errors = [{"row": e.row, "reason": e.reason} for e in exc.errors]
        return JSONResponse({"detail": str(exc), "errors": errors}, status_code=422)
    out = ImportOut(
        households=report.households,
        residents=report.residents,
        staff=report.staff,
        groups=report.groups,
        notes=list(report.small_groups),
    )
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor,
        action="import",
        subject="register",
        after=out.model_dump(),
        note="; ".join(report.small_groups) or None,
    )
    await session.commit()
    return out


@router.get(
    "/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_register(principal: CurrentPrincipal, session: Session) -> Response:
    """The register as CSV in the import's format (full phones: recorded in the audit log)."""
    actor = admin(principal)
    text = await importer.export_csv(session, community_id=principal.community_id)
    audit.record(
        session,
        community_id=principal.community_id,
        actor=actor,
        action="export",
        subject="register",
        note="full phone numbers",
    )
    await session.commit()
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="register.csv"'},
    )


# -- the audit log ---------------------------------------------------------------------------


def _period(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(since, time.min).astimezone() if since else None
    end = datetime.combine(until + timedelta(days=1), time.min).astimezone() if until else None
    return start, end


AuditSince = Annotated[date | None, Query(description="From this day (inclusive).")]
AuditUntil = Annotated[date | None, Query(description="To this day (inclusive).")]
AuditSubject = Annotated[str | None, Query(max_length=100, description="Part of the subject.")]


@router.get("/audit", response_model=AuditPage)
async def read_audit(
    principal: CurrentPrincipal,
    session: Session,
    since: AuditSince = None,
    until: AuditUntil = None,
    subject: AuditSubject = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """The audit log of the register, newest first."""
    admin(principal)
    if since and until and until < since:
        raise Invalid("until is before since")
    start, end = _period(since, until)
    page = await audit.search(
        session,
        community_id=principal.community_id,
        since=start,
        until=end,
        subject=subject,
        limit=limit,
        offset=offset,
    )
    return AuditPage(
        entries=[
            AuditOut(
                id=e.id,
                at=e.at,
                actor=e.actor,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                action=e.action,
                subject=e.subject,
                before=e.before,
                after=e.after,
                note=e.note,
            )
            for e in page.entries
        ],
        total=page.total,
    )


@router.get(
    "/audit.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_audit(
    principal: CurrentPrincipal,
    session: Session,
    since: AuditSince = None,
    until: AuditUntil = None,
    subject: AuditSubject = None,
) -> Response:
    """The audit log as CSV (the same filters, every matching entry up to 100,000)."""
    admin(principal)
    if since and until and until < since:
        raise Invalid("until is before since")
    start, end = _period(since, until)
    page = await audit.search(
        session,
        community_id=principal.community_id,
        since=start,
        until=end,
        subject=subject,
        limit=100_000,
    )
    return Response(
        "\ufeff" + audit.to_csv(page.entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
