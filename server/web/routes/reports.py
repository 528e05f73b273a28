"""The monthly report (每月治安形势分析): its figures as JSON, its charts as SVG, the CSV export
and the PDF, and the page (/report) that shows and prints them.

Read by the admin, the police office and the patrol leader for the community or any of its
grids; by a grid manager for their own grid only (another grid is 404)."""

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from groups.models import Resident, Staff
from server import roles
from server.accounts import Principal
from server.alarms import reports
from server.errors import NotFound
from server.reports import charts, export, pdf
from server.reports.words import Say, language
from server.web.deps import CurrentPrincipal, Now, Reads
from server.web.routes.pages import STATIC

router = APIRouter(tags=["reports"])

MonthQuery = Annotated[
    str | None,
    Query(
        max_length=7,
        description="The month, YYYY-MM, in the community's time zone (this month if absent).",
    ),
]
GridQuery = Annotated[
    int | None,
    Query(ge=1, le=2**31, description="One grid's report (a grid manager's is always their own)."),
]
LangQuery = Annotated[
    Literal["zh", "en"] | None,
    Query(description="The labels' language (the reader's own if absent)."),
]
ChartQuery = Annotated[charts.Chart, Query(description="Which chart.")]

WHOLE = frozenset({roles.Role.ADMIN, roles.Role.POLICE_OFFICE, roles.Role.PATROL_LEADER})
"""The roles that read the whole community's report; a grid manager reads their grid's."""

_drawing = threading.Lock()
"""One chart or PDF at a time: matplotlib's settings are global to the process."""
_drawn: OrderedDict[str, bytes] = OrderedDict()
"""The last charts and PDFs drawn, by what they show: the page's six charts and a reload draw
nothing twice (a report shows its generation time to the minute, so it is the same within it)."""
KEEP = 32


def _grid(principal: Principal, grid: int | None) -> int | None:
    """The grid the report is of: the one asked for, or a grid manager's own (NotFound for
    another)."""
    if roles.roles_of(principal) & WHOLE:
        return grid
    own = principal.grid_scope if principal.kind == "staff" else principal.grid_id
    if own is None:
        return grid
    if grid is not None and grid != own:
        raise NotFound("no grid {grid} in your scope", grid=grid)
    return own


async def _say(session: Reads, principal: Principal, lang: str | None) -> Say:
    if lang is not None:
        return Say(language(lang))
    if principal.kind == "staff":
        staff = await session.get(Staff, principal.staff_id or 0)
        return Say(language(staff.language if staff else None))
    resident = await session.get(Resident, principal.resident_id or 0)
    if resident is None:
        return Say("zh")
    await session.refresh(resident, ["household"])
    return Say(language(resident.household.language))


async def _report(
    session: Reads, principal: Principal, *, month: str | None, grid: int | None, now: Any
) -> dict[str, Any]:
    return await reports.monthly(
        session,
        community_id=principal.community_id,
        month=month,
        grid_id=_grid(principal, grid),
        now=now,
    )


async def _draw(what: str, report: dict[str, Any], say: Say, work: Callable[[], bytes]) -> bytes:
    """Draw off the event loop (a chart takes a while; alarms must not wait for it), or give
    back the same drawing made a moment ago."""
    shown = {**report, "generated_at": report["generated_at"].strftime("%Y-%m-%d %H:%M")}
    key = json.dumps([what, say.lang, shown], sort_keys=True, default=str)

    def locked() -> bytes:
        with _drawing:
            if key in _drawn:
                _drawn.move_to_end(key)
                return _drawn[key]
            drawn = _drawn[key] = work()
            while len(_drawn) > KEEP:
                _drawn.popitem(last=False)
            return drawn

    return await asyncio.to_thread(locked)


def _filename(report: dict[str, Any], suffix: str) -> str:
    grid = f"-grid{report['grid']['id']}" if report["grid"] else ""
    return f"tenwatch-report-{report['month']}{grid}.{suffix}"


@router.get("/api/reports/monthly")
async def monthly(
    principal: CurrentPrincipal,
    session: Reads,
    now: Now,
    month: MonthQuery = None,
    grid: GridQuery = None,
    lang: LangQuery = None,
) -> dict[str, Any]:
    """The monthly meeting's figures: alarms by type, group, grid and hour; false alarms and
    duress; response times (median, p90); escalations; delivery by channel; households out of
    reach; drills apart (docs/report.md says how each is counted)."""
    report = await _report(session, principal, month=month, grid=grid, now=now)
    say = await _say(session, principal, lang)
    if not roles.roles_of(principal) & WHOLE:  # a grid manager chooses among their own
        report["grids"] = [g for g in report["grids"] if report["grid"] and g == report["grid"]]
    return {
        **report,
        "whole": bool(roles.roles_of(principal) & WHOLE),
        "language": say.lang,
        "charts": list(charts.CHARTS),
    }


@router.get("/api/reports/monthly.csv", response_class=Response)
async def monthly_csv(
    principal: CurrentPrincipal,
    session: Reads,
    now: Now,
    month: MonthQuery = None,
    grid: GridQuery = None,
    lang: LangQuery = None,
) -> Response:
    """The monthly report as CSV (UTF-8 with a BOM, for Excel): section, item, alarms, drills."""
    report = await _report(session, principal, month=month, grid=grid, now=now)
    say = await _say(session, principal, lang)
    return Response(
        export.to_csv(report, say),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(report, "csv")}"'},
    )


@router.get("/api/reports/monthly.pdf", response_class=Response)
async def monthly_pdf(
    principal: CurrentPrincipal,
    session: Reads,
    now: Now,
    month: MonthQuery = None,
    grid: GridQuery = None,
    lang: LangQuery = None,
) -> Response:
    """The monthly report as a PDF of A4 pages: tables, the charts, the drills apart."""
    report = await _report(session, principal, month=month, grid=grid, now=now)
    say = await _say(session, principal, lang)
    body = await _draw("pdf", report, say, lambda: pdf.render(report, say))
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_filename(report, "pdf")}"'},
    )


@router.get("/api/reports/monthly.svg", response_class=Response)
async def monthly_chart(
    principal: CurrentPrincipal,
    session: Reads,
    now: Now,
    chart: ChartQuery,
    month: MonthQuery = None,
    grid: GridQuery = None,
    lang: LangQuery = None,
) -> Response:
    """One chart of the monthly report as SVG, for the page (the PDF draws the same)."""
    report = await _report(session, principal, month=month, grid=grid, now=now)
    say = await _say(session, principal, lang)
    body = await _draw(chart.value, report, say, lambda: charts.svg(chart.value, report, say))
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


@router.get("/report", include_in_schema=False)
async def report_page() -> FileResponse:
    """The monthly report page (staff, signed in by the session cookie)."""
    return FileResponse(STATIC / "report.html", headers={"Cache-Control": "no-cache"})
